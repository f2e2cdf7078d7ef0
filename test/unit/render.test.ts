import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { buildHaproxyModel } from '../../agent/plan/haproxy-model.js';
import { ConfigRenderer, DEFAULT_TEMPLATE_DIR, gatewayAtLine, type RenderSettings } from '../../agent/render/renderer.js';
import { parseGateway } from '../../model/parse.js';
import type { Gateway } from '../../model/gateway.js';
import { tempDir } from '../harness/tmp.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { SampleFiles } from '../../agent/telemetry/sample-files.js';
import { KEEP_ALL, sampleAclPath } from '../../agent/telemetry/sample-acl.js';

const t = suite('rendering');
const gw = (yaml: string): Gateway => {
  const r = parseGateway(yaml, { source: 't.yaml', format: 'yaml' });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.gateway;
};
const settings = (dir: string, logTarget: string | null = '127.0.0.1:5140'): RenderSettings => ({
  adminSocket: join(dir, 'admin.sock'),
  serverStateFile: join(dir, 'state'),
  hardStopAfter: '30s',
  maxReloads: 50,
  maxconn: null,
  logTarget,
  monitorPort: 1988,
});
const GATEWAYS = [
  'name: shop\nport: 8080\nsticky: route\nvirtual_hosts: [shop.example.com]\nroutes:\n  v1:\n    weight: 90%\n    targets: [10.0.0.1:80, "[::1]:81"]\n    rewrites:\n      - path: "/v2%%x if < path_beg /old >"\n  v2:\n    weight: 10%\n    condition: user-agent = Firefox and not has cookie opt-out\n    condition_strength: 50%\n    targets: [backend.internal:8080]\n',
  'name: db\nport: 5432/tcp\nroutes:\n  primary: {weight: 100, targets: [10.0.0.5:5432]}\n',
];

t('the rendered config passes the real haproxy -c, with and without a log target', async () => {
  const dir = await tempDir();
  try {
    for (const logTarget of ['127.0.0.1:5140', null]) {
      const model = buildHaproxyModel(GATEWAYS.map(gw), { bindAddress: '127.0.0.1', mapsDir: join(dir.path, 'maps'), minSlots: 4, vhostPort: 18080 });
      const r = await new ConfigRenderer().render(model, settings(dir.path, logTarget));
      mkdirSync(join(dir.path, 'maps'), { recursive: true });
      for (const [p, c] of Object.entries(r.maps)) writeFileSync(p, c);
      writeFileSync(join(dir.path, 'state'), '1\n');
      writeFileSync(join(dir.path, 'haproxy.cfg'), r.config);
      const out = execFileSync(haproxyBin(), ['-c', '-f', join(dir.path, 'haproxy.cfg')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.match(out, /Configuration file is valid/);
    }
  } finally {
    await dir.remove();
  }
});

t('log sampling: one rule per route backend, its ACL patterns from the route\'s own file; the config checks once the files exist', async () => {
  const dir = await tempDir();
  try {
    // Route names a definition may choose that are not file-name material as they are (case, "_", ".").
    const gws = [...GATEWAYS, 'name: odd\nport: 9090\nroutes:\n  Blue_v1.2: {weight: 50, targets: [10.0.0.7:80]}\n  blue_v1.2x: {weight: 50, targets: [10.0.0.8:80]}\n'];
    const sampleDir = join(dir.path, 'log-sample');
    const model = buildHaproxyModel(gws.map(gw), { bindAddress: '127.0.0.1', mapsDir: join(dir.path, 'maps'), minSlots: 4, vhostPort: 18080 });
    const r = await new ConfigRenderer().render(model, { ...settings(dir.path), logSampleDir: sampleDir });
    const backends = model.gateways.flatMap((g) => g.routes.map((x) => ({ backend: x.backend, mode: g.mode })));
    for (const { backend, mode } of backends) {
      const rule = `${mode === 'tcp' ? 'tcp-request content' : 'http-request'} set-log-level silent if { rand(1000000) -m int -f ${sampleAclPath(sampleDir, backend)} }`;
      const section = r.config.slice(r.config.indexOf(`backend ${backend}\n`)).split('\n\n')[0]!;
      assert.ok(section.split('\n').includes(`  ${rule}`), `${backend}: ${section}`);
    }
    assert.not.match(r.config, /weir_lk|map_str_int\([^)]*log-sample/, 'no per-request variable or map lookup');
    assert.is(r.config.split('set-log-level silent').length - 1, backends.length, 'one rule per route backend');
    mkdirSync(join(dir.path, 'maps'), { recursive: true });
    for (const [p, c] of Object.entries(r.maps)) writeFileSync(p, c);
    writeFileSync(join(dir.path, 'state'), '1\n');
    writeFileSync(join(dir.path, 'haproxy.cfg'), r.config);
    const check = (): { ok: boolean; out: string } => {
      try {
        return { ok: true, out: execFileSync(haproxyBin(), ['-c', '-f', join(dir.path, 'haproxy.cfg')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
      } catch (err) {
        return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
      }
    };
    assert.is(check().ok, false, 'HAProxy refuses a config naming a missing pattern file');
    const files = new SampleFiles({ dir: sampleDir, newFileThreshold: KEEP_ALL });
    await files.ensure(r.config);
    assert.is(files.thresholds().size, backends.length);
    const res = check();
    assert.ok(res.ok, res.out);
  } finally {
    await dir.remove();
  }
});

t('a template directory copied before the per-route files (settings.logSampleMap) still renders, without sampling', async () => {
  const dir = await tempDir();
  try {
    cpSync(DEFAULT_TEMPLATE_DIR, dir.path, { recursive: true });
    const http = join(dir.path, 'gateway-http.liquid');
    const old = '{%- if settings.logSampleMap %}\n  http-request set-var(txn.weir_lk) be_name,map_str_int({{ settings.logSampleMap }},1000000)\n{%- endif %}\n';
    writeFileSync(http, readFileSync(http, 'utf8').replace('  option forwardfor\n', `  option forwardfor\n${old}`));
    const model = buildHaproxyModel(GATEWAYS.map(gw), { bindAddress: '0.0.0.0', mapsDir: '/st/maps', minSlots: 4, vhostPort: 0 });
    const { config } = await new ConfigRenderer(dir.path).render(model, { ...settings('/st'), logSampleDir: '/st/log-sample' });
    assert.not.match(config, /weir_lk/);
  } finally {
    await dir.remove();
  }
});

t('without a sampling directory (sampling off) the backends have no sampling rule', async () => {
  const model = buildHaproxyModel(GATEWAYS.map(gw), { bindAddress: '0.0.0.0', mapsDir: '/st/maps', minSlots: 4, vhostPort: 0 });
  const { config } = await new ConfigRenderer().render(model, settings('/st'));
  assert.not.match(config, /set-log-level|rand\(1000000\)/);
});

t('single hop: one frontend per gateway choosing a backend per request from the weights map', async () => {
  const model = buildHaproxyModel(GATEWAYS.map(gw), { bindAddress: '0.0.0.0', mapsDir: '/st/maps', minSlots: 4, vhostPort: 0 });
  const { config, maps } = await new ConfigRenderer().render(model, settings('/st'));
  assert.match(config, /^frontend shop\n  bind 0\.0\.0\.0:8080\n  mode http$/m);
  assert.match(config, /^  use_backend %\[rand\(100\),map_int\(\/st\/maps\/shop\.weights\.map,weir_http_503\)\]$/m);
  assert.match(config, /^  use_backend shop:v2 if shop_c1_0 !shop_c1_1 shop_s1$/m);
  assert.match(config, /^  server s1 ipv6@::1:81$/m);
  assert.match(config, /^  server s0 backend\.internal:8080$/m);
  assert.match(config, /^  server s2 127\.0\.0\.1:1 disabled$/m);
  assert.match(config, /^  http-request set-path '\/v2%%x' if r0_rw0_0$/m);
  assert.not.match(config, /unix@|accept-proxy|send-proxy/, 'no second hop');
  assert.not.match(config, /weir_vhosts/, 'virtual-host frontend off when its port is 0');
  assert.is(maps['/st/maps/shop.weights.map']!.split('\n').filter(Boolean).length, 100);
});

t('gateway sections are marked so a config error can be traced to its gateway', async () => {
  const model = buildHaproxyModel(GATEWAYS.map(gw), { bindAddress: '0.0.0.0', mapsDir: '/st/maps', minSlots: 4, vhostPort: 8000 });
  const r = await new ConfigRenderer().render(model, settings('/st'));
  const lines = r.config.split('\n');
  const shopLine = lines.findIndex((l) => l.startsWith('backend shop:v2')) + 1;
  const dbLine = lines.findIndex((l) => l.startsWith('frontend db')) + 1;
  const vhostRule = lines.findIndex((l) => l.includes('acl vh_shop')) + 1;
  assert.is(gatewayAtLine(r.spans(), shopLine), 'shop');
  assert.is(gatewayAtLine(r.spans(), dbLine), 'db');
  assert.is(gatewayAtLine(r.spans(), vhostRule), 'shop');
  assert.is(gatewayAtLine(r.spans(), 3), null);
});

t('an operator template directory is used, and its errors are reported as such', async () => {
  const dir = await tempDir();
  try {
    // An operator copies the bundled directory and edits it.
    cpSync(DEFAULT_TEMPLATE_DIR, dir.path, { recursive: true });
    writeFileSync(join(dir.path, 'haproxy.cfg.liquid'), '# custom {{ model.gateways.size }} gateways\n');
    const model = buildHaproxyModel(GATEWAYS.map(gw), { bindAddress: '0.0.0.0', mapsDir: '/st/maps', minSlots: 4, vhostPort: 0 });
    assert.is((await new ConfigRenderer(dir.path).render(model, settings('/st'))).config, '# custom 2 gateways\n');
    writeFileSync(join(dir.path, 'haproxy.cfg.liquid'), '{{ model.nope.x }}');
    let message = '';
    await new ConfigRenderer(dir.path).render(model, settings('/st')).catch((e: Error) => (message = e.message));
    assert.match(message, /cannot render HAProxy templates in .*: .*undefined variable/i);
  } finally {
    await dir.remove();
  }
});

t.run();
