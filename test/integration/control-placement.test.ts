// What the control API fills in, as Vamp did: ports from WEIR_PORT_RANGE for gateways written
// without one, and <gateway>.<env>.<org>.<domain> virtual hosts when WEIR_VHOST_DOMAIN is set.
import { FileStore } from '../../store/file-store.js';
import { parsePortRanges, rangeFor } from '../../control/gateway-placement.js';
import { resolveControlSettings } from '../../control/settings.js';
import { SettingsError } from '../../runtime/settings-parse.js';
import { A, B, code, message, nsPath, startControl, type ControlFixture } from '../harness/control.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite<{ fx: ControlFixture; dir: { path: string; remove: () => Promise<void> } }>('control API placement (file store)');
t.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-placement-');
  ctx.fx = await startControl(new FileStore(ctx.dir.path), { portRanges: parsePortRanges('WEIR_PORT_RANGE', 'acme/prod=41000-41002,*=42000-42999'), vhostDomain: 'weir.test' });
});
t.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.dir.remove();
});

const put = (fx: ControlFixture, ns = A, name: string, body: string, type = 'application/yaml') => fx.api('PUT', nsPath(ns, `/gateways/${name}`), { body, contentType: type });
const stored = async (fx: ControlFixture, ns = A, name: string): Promise<string> => (await fx.api('GET', nsPath(ns, `/gateways/${name}`), { headers: { accept: 'application/yaml' } })).text;

t('a gateway without a port gets the lowest free one of its namespace range; the response and the stored text say which', async ({ fx }) => {
  const first = await put(fx, A, 'one', '# the shop\nroutes:\n  v1: {targets: ["10.0.0.1:80"]}  # keep me\n');
  assert.is(first.status, 201, first.text);
  assert.equal((first.json as { assigned: unknown }).assigned, { port: 41000, virtual_host: 'one.prod.acme.weir.test' });
  const text = await stored(fx, A, 'one');
  assert.match(text, /^# the shop$/m);
  assert.match(text, /# keep me/);
  assert.match(text, /^port: 41000$/m);
  assert.match(text, /- one\.prod\.acme\.weir\.test/);
  // Vamp's "unassigned" spellings, tcp kept; ports held by other gateways are skipped.
  assert.is((await put(fx, A, 'taken', 'port: 41001\nroutes: {}\n')).status, 201);
  const tcp = await put(fx, A, 'db', JSON.stringify({ port: '0/tcp', routes: { primary: { targets: ['10.0.0.5:5432'] } } }), 'application/json');
  assert.is(tcp.status, 201, tcp.text);
  assert.equal((tcp.json as { assigned: unknown }).assigned, { port: 41002 }, 'tcp: no virtual host');
  const dbText = await stored(fx, A, "db");
  assert.match(dbText, /"port": ?"41002\/tcp"/, dbText);
  // Replacing a gateway without a port keeps the port it has.
  const again = await put(fx, A, 'one', 'routes:\n  v1: {targets: ["10.0.0.2:80"]}\n');
  assert.is(again.status, 200);
  assert.is((again.json as { assigned: { port: number } }).assigned.port, 41000);
  // The range is exhausted: 409 naming the range; other namespaces use their own rule.
  const full = await put(fx, A, 'four', 'routes: {}\n');
  assert.is(full.status, 409);
  assert.is(code(full), 'port_range_exhausted');
  assert.match(message(full), 'no free port left in 41000-41002 for namespace acme/prod');
  const other = await put(fx, B, 'one', 'port: null\nroutes: {}\n');
  assert.equal((other.json as { assigned: unknown }).assigned, { port: 42000, virtual_host: 'one.prod.globex.weir.test' });
});

t('a given port and virtual hosts are kept; the automatic host is added once', async ({ fx }) => {
  const r = await put(fx, A, 'web', 'port: 8080\nvirtual_hosts: shop.example.com\nroutes: {}\n');
  assert.is(r.status, 201);
  assert.equal((r.json as { assigned: unknown }).assigned, { virtual_host: 'web.prod.acme.weir.test' });
  const again = await put(fx, A, 'web', await stored(fx, A, 'web'));
  assert.is(again.status, 200);
  assert.is((again.json as { assigned?: unknown }).assigned, undefined, 'nothing to fill in');
  assert.equal((again.json as { gateway: { virtual_hosts: string[] } }).gateway.virtual_hosts, ['shop.example.com', 'web.prod.acme.weir.test']);
});

t('errors in a definition without a port are reported before a port is taken', async ({ fx }) => {
  const r = await put(fx, A, 'bad', 'routes:\n  v1: {weight: 150}\n');
  assert.is(r.status, 400);
  assert.match(message(r), /^bad:2:17: routes\.v1\.weight: weight must be between 0% and 100%$/);
});

t('without a range for the namespace a port is required', async () => {
  const dir = await tempDir('weir-placement-');
  const fx = await startControl(new FileStore(dir.path), { portRanges: [] });
  try {
    const r = await put(fx, A, 'x', 'routes: {}\n');
    assert.is(r.status, 400);
    assert.match(message(r), 'no port given, and WEIR_PORT_RANGE gives namespace acme/prod no range to assign one from');
  } finally {
    await fx.close();
    await dir.remove();
  }
});
t.run();

const s = suite('WEIR_PORT_RANGE and WEIR_VHOST_DOMAIN');
s('forms, scopes, defaults and errors', () => {
  const rules = parsePortRanges('WEIR_PORT_RANGE', 'acme/prod=41000-41999, acme/*=43000-43999,*=40000-45000');
  assert.equal(rangeFor(rules, { org: 'acme', env: 'prod' }), { lo: 41000, hi: 41999 });
  assert.equal(rangeFor(rules, { org: 'acme', env: 'dev' }), { lo: 43000, hi: 43999 });
  assert.equal(rangeFor(rules, { org: 'other', env: 'x' }), { lo: 40000, hi: 45000 });
  assert.equal(rangeFor(parsePortRanges('X', 'acme/prod=1-2'), { org: 'b', env: 'c' }), null);
  assert.equal(resolveControlSettings({}).portRanges, [{ scope: '*', range: { lo: 40000, hi: 45000 } }]);
  assert.equal(resolveControlSettings({ WEIR_PORT_RANGE: 'none' }).portRanges, []);
  assert.is(resolveControlSettings({}).vhostDomain, undefined);
  assert.is(resolveControlSettings({ WEIR_VHOST_DOMAIN: 'Vamp.Example.' }).vhostDomain, 'vamp.example');
  for (const bad of ['5-1', '0-10', '1-70000', 'x', 'Acme/prod=1-2', '*=1-2,*=3-4'])
    assert.throws(() => parsePortRanges('WEIR_PORT_RANGE', bad), (e: unknown) => e instanceof SettingsError && e.message.startsWith('WEIR_PORT_RANGE: '), bad);
  assert.throws(() => resolveControlSettings({ WEIR_VHOST_DOMAIN: '*.x' }), /WEIR_VHOST_DOMAIN: wildcard/);
});
s.run();
