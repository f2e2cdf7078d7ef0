import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { readLastGood, writeLastGood } from '../../agent/state/last-good.js';
import { resolveSettings } from '../../agent/settings.js';
import { GatewayBook } from '../../agent/sync/gateway-book.js';
import type { StoreEntry } from '../../store/store.js';
import { tempDir } from '../harness/tmp.js';

const cache = suite('last-good cache');

cache('round-trips, and refuses corruption, truncation and another namespace', async () => {
  const dir = await tempDir();
  const path = join(dir.path, 'last-good.json');
  try {
    assert.is(await readLastGood(path, 'o/e'), null);
    await writeLastGood(path, { namespace: 'o/e', entries: [], config: 'global\n', maps: { '/m/a.map': '0 a:b\n' }, configChecksum: 'abc' });
    const lg = await readLastGood(path, 'o/e');
    assert.is(lg?.config, 'global\n');
    assert.equal(lg?.maps, { '/m/a.map': '0 a:b\n' });
    await readLastGood(path, 'x/y').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /belongs to namespace o\/e, not x\/y/));
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('global', 'globaL'));
    await readLastGood(path, 'o/e').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /checksum mismatch/));
    await writeFile(path, text.slice(0, text.length / 2));
    await readLastGood(path, 'o/e').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /not valid JSON/));
  } finally {
    await dir.remove();
  }
});

cache.run();

const settings = suite('settings');

settings('defaults work on one machine; flags beat env; bad values name their setting', () => {
  const s = resolveSettings({}, {}, 'host-1');
  assert.equal(s.namespace, { org: 'default', env: 'default' });
  assert.is(s.agentId, 'host-1');
  assert.equal(s.httpAddr, { host: '127.0.0.1', port: 9101 });
  assert.is(s.maxconn, null);
  assert.is(resolveSettings({ namespace: 'a/b' }, { WEIR_NAMESPACE: 'c/d' }).namespace.org, 'a');
  assert.throws(() => resolveSettings({}, { WEIR_NAMESPACE: 'Acme/prod' }), /WEIR_NAMESPACE: "Acme\/prod" must be <org>\/<env>/);
  assert.throws(() => resolveSettings({}, { WEIR_VHOST_PORT: '70000' }), /WEIR_VHOST_PORT: 70000 is outside 0..65535/);
  assert.throws(() => resolveSettings({ 'bind-address': 'localhost' }), /--bind-address: "localhost" is not an IP address/);
  assert.throws(() => resolveSettings({}, { WEIR_HAPROXY_ON_EXIT: 'later' }), /must be stop or keep/);
  assert.throws(() => resolveSettings({}, { WEIR_HTTP_ADDR: 'nope' }), /WEIR_HTTP_ADDR: "nope" is not host:port/);
});

settings.run();

const book = suite('gateway book');
const entry = (name: string, body: string, version: string): StoreEntry => ({ name, source: `${name}.yaml`, format: 'yaml', body, version });
const ok = (name: string, port: number): string => `name: ${name}\nport: ${port}\nroutes:\n  a: {targets: [10.0.0.1:80]}\n`;

book('an invalid new version falls back to the applied one; a deleted entry disappears', () => {
  const b = new GatewayBook();
  const first = b.resolve({ entries: [entry('a', ok('a', 80), '1'), entry('b', ok('b', 81), '1')], problems: [] });
  assert.is(first.desired.length, 2);
  b.commit(first.desired);
  const second = b.resolve({ entries: [entry('a', 'name: a\nport: 80\nroutes: {v1: {weight: 50%}}\n', '2'), entry('b', ok('b', 81), '1')], problems: [] });
  assert.equal(second.desired.map((d) => `${d.gateway.name}@${d.entry.version}`).sort(), ['a@1', 'b@1']);
  assert.is(second.problems[0]?.servingVersion, '1');
  assert.match(second.problems[0]!.errors.join(), /^a\.yaml:3:23: routes\.v1\.weight: /);
  const third = b.resolve({ entries: [entry('b', ok('b', 81), '1')], problems: [] });
  assert.equal(third.desired.map((d) => d.gateway.name), ['b']);
});

book('a port taken by a serving gateway is refused to the newcomer, which keeps its own last version', () => {
  const b = new GatewayBook();
  b.commit(b.resolve({ entries: [entry('a', ok('a', 80), '1'), entry('b', ok('b', 81), '1')], problems: [] }).desired);
  const r = b.resolve({ entries: [entry('a', ok('a', 80), '1'), entry('b', ok('b', 80), '2')], problems: [] });
  assert.equal(r.desired.map((d) => `${d.gateway.name}@${d.entry.version}:${d.gateway.port}`).sort(), ['a@1:80', 'b@1:81']);
  assert.match(r.problems.map((p) => p.errors.join()).join(), /b\.yaml: port: .*80.*"a"/);
});

book('an unreadable file keeps serving its applied version', () => {
  const b = new GatewayBook();
  b.commit(b.resolve({ entries: [entry('a', ok('a', 80), '1')], problems: [] }).desired);
  const r = b.resolve({ entries: [], problems: [{ source: 'a.yaml', message: 'permission denied' }] });
  assert.equal(r.desired.map((d) => d.gateway.name), ['a']);
  assert.match(r.problems[0]!.errors.join(), /a\.yaml: permission denied/);
});

book.run();
