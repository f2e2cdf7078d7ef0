// `weir import vamp`: files and directories in, one Weir gateway file per gateway out; what was
// not converted is listed per gateway and makes the exit code 1.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { runImportCommand } from '../../cli/import-command.js';
import { parseGateway } from '../../model/index.js';
import { convertVampExports, weirGatewayName } from '../../model/vamp-import.js';
import { tempDir } from '../harness/tmp.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runImportCommand(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const SAVA = {
  name: 'sava/9050', kind: 'gateways', lookup_name: 'x', internal: false, deployed: true, service: { host: '192.168.99.100', port: '12345/http' },
  port: '9050/http', sticky: 'route', virtual_hosts: ['9050.sava.vamp'], selector: null, metadata: { 'release.vamp.io/policy': 'canary' },
  routes: {
    'sava/sava/sava:1.0.0/webport': { weight: '90%', balance: 'default', condition: null, condition_strength: '0%', rewrites: [], targets: [{ name: 'i1', host: '10.0.0.1', port: 31463 }, { name: 'i2', host: '10.0.0.2', port: 31292 }] },
    'sava/sava/sava:1.1.0/webport': { weight: '10%', balance: 'leastconn', condition: { condition: 'User-Agent is Safari' }, condition_strength: '50%', rewrites: [{ path: '/v2/%[path] if { path_beg /api }' }], targets: [{ name: 'i3', host: '10.0.0.3', port: 31634 }] },
    other: { weight: '0%', targets: [{ name: 'other', port: 40001 }] },
  },
};

const t = suite('weir import vamp');
t('a list export: deployment routes named by what tells them apart, targets from the export, Vamp names in metadata', () => {
  const { conversions, problems } = convertVampExports([{ origin: 'g.json', data: [SAVA] }]);
  assert.equal(problems, []);
  const c = conversions[0]!;
  assert.equal(c.problems, []);
  assert.is(c.name, 'sava-9050');
  const r = parseGateway(c.yaml!, { source: 'x', format: 'yaml', expectedName: 'sava-9050' });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.gateway.routes.map((x) => [x.name, x.weight, x.conditionStrength, x.balance, x.targets.map((tg) => `${tg.host}:${tg.port}`)]), [
    ['sava-1.0.0', 90, 0, 'roundrobin', ['10.0.0.1:31463', '10.0.0.2:31292']],
    ['sava-1.1.0', 10, 50, 'leastconn', ['10.0.0.3:31634']],
    ['other', 0, 0, 'roundrobin', ['127.0.0.1:40001']],
  ]);
  assert.equal(r.gateway.metadata, { 'release.vamp.io/policy': 'canary', 'vamp.io/gateway': 'sava/9050', 'vamp.io/routes': { 'sava-1.0.0': 'sava/sava/sava:1.0.0/webport', 'sava-1.1.0': 'sava/sava/sava:1.1.0/webport' } });
  assert.equal(r.gateway.sticky, 'route');
  assert.equal(r.gateway.virtualHosts, ['9050.sava.vamp']);
  assert.ok(c.notes.some((n) => n.includes('127.0.0.1:<port>')), c.notes.join('\n'));
  assert.is(weirGatewayName('vamp/Sava_Cluster/port'), 'vamp-sava-cluster-port');
});

t('what cannot be converted is listed per gateway; conflicts between gateways too', () => {
  const { conversions } = convertVampExports([
    { origin: 'a.yaml', data: { gateways: [{ name: 'x', port: 0, selector: 'label(v)((.*))', routes: {} }, { name: 'y', port: 9000, routes: { r: 'stored-route', s: { condition: { reference: 'c1' } } } }, { name: 'z', port: 9000, routes: {} }] } },
  ]);
  const by = Object.fromEntries(conversions.map((c) => [c.vampName, c]));
  assert.ok(by.x!.problems.some((p) => p.startsWith('port 0: Vamp had not assigned a port')), by.x!.problems.join('\n'));
  assert.ok(by.x!.problems.some((p) => p.startsWith('selector "label(v)((.*))": Weir has no service discovery')), by.x!.problems.join('\n'));
  assert.ok(by.y!.problems.some((p) => p.includes('a reference to the stored route "stored-route"')));
  assert.ok(by.y!.problems.some((p) => p.includes('a reference to a stored condition')));
  assert.ok(by.z!.problems.some((p) => p === 'port: port 9000 is already used by gateway "y"') || by.y!.yaml === null, by.z!.problems.join('\n'));
  assert.is(by.x!.yaml, null);
});

t('CLI: a directory of JSON and YAML (several documents), --out writes files, exit 1 when anything was not converted', async () => {
  const dir = await tempDir('weir-import-');
  try {
    const input = join(dir.path, 'in');
    mkdirSync(input);
    writeFileSync(join(input, 'gateways.json'), JSON.stringify([SAVA]));
    writeFileSync(join(input, 'more.yaml'), `name: edge\nport: 8080\nroutes:\n  "[10.0.0.9:80]": {weight: 100%}\n---\nname: broken\nport: 8081\nroutes:\n  a: {condition: "has biscuit"}\n`);
    writeFileSync(join(input, 'notes.txt'), 'ignored');
    const out = join(dir.path, 'out');
    const r = await run(['vamp', input, '--out', out]);
    assert.is(r.code, 1, r.err);
    assert.equal(readdirSync(out).sort(), ['edge.yaml', 'sava-9050.yaml']);
    assert.match(r.out, `converted: Vamp gateway "sava/9050" (${join(input, 'gateways.json')}[0]) -> ${join(out, 'sava-9050.yaml')}`);
    assert.match(r.err, `not converted: Vamp gateway "broken" (${join(input, 'more.yaml')}#2)`);
    assert.match(r.err, 'problem: broken.yaml:');
    assert.match(r.err, 'routes.a.condition: unexpected "biscuit"');
    assert.match(r.err, '2 gateway(s) converted, 1 not converted');
    assert.match(readFileSync(join(out, 'edge.yaml'), 'utf8'), /^# Converted by weir import vamp from Vamp gateway "edge"/);
    // Only convertible input: exit 0. --dry-run writes nothing and prints valid multi-document YAML.
    const ok = await run(['vamp', join(input, 'gateways.json'), '--dry-run']);
    assert.is(ok.code, 0, ok.err);
    assert.match(ok.out, /^--- # sava-9050\.yaml\n# Converted by/);
    assert.match(ok.out, '# 1 gateway(s) converted, 0 not converted (dry run: nothing written)');
    assert.is((await run(['vamp', input])).code, 2, '--out or --dry-run is required');
    assert.is((await run(['other'])).code, 2);
  } finally {
    await dir.remove();
  }
});
t.run();
