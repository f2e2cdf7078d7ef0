// Property: no accepted field is silently ignored. Every field of a generated valid gateway
// shows up in the rendered HAProxy config or its maps (metadata excepted: it is documented as
// never rendered); a tcp gateway given an http-only field is refused with that field's path.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { suite, assert } from '../harness/uvu.js';
import { buildHaproxyModel } from '../../agent/plan/haproxy-model.js';
import { ConfigRenderer, type RenderSettings } from '../../agent/render/renderer.js';
import { parseGateway, formatModelError } from '../../model/index.js';

const SETTINGS: RenderSettings = { adminSocket: '/st/admin.sock', serverStateFile: '/st/state', hardStopAfter: '30s', maxReloads: 50, maxconn: null, logTarget: null, monitorPort: 1988 };
const renderer = new ConfigRenderer();

const CONDITIONS = ['User-Agent is Safari', 'user.agent != Firefox', 'host not old.example.com', 'contains cookie beta', 'header X-Tier contains gold', '< path_beg /api > or misses header X-A', 'false', 'true'];
const routeName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const ipv4Target = fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `10.0.0.${h}:${p}`);
const route = fc.record(
  {
    condition: fc.constantFrom(...CONDITIONS),
    condition_strength: fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`),
    rewrites: fc.array(fc.oneof(fc.constantFrom({ path: '/v2/%[path] if { path_beg /api }' }, { path: '/x', condition: 'has cookie c' }), fc.constant({ match: '^/old/(.*)', replace: '/new/\\1' })), { maxLength: 2 }),
    balance: fc.constantFrom('roundrobin', 'leastconn', 'source', 'uri', 'default'),
    targets: fc.uniqueArray(ipv4Target, { maxLength: 4, selector: (t) => t.split(':')[0] as string }),
  },
  { requiredKeys: [] },
);
const input = fc.record({
  port: fc.tuple(fc.integer({ min: 1025, max: 60000 }), fc.constantFrom('http', 'tcp')).map(([p, m]) => `${p}/${m}`),
  sticky: fc.option(fc.constantFrom('route', 'instance', 'none'), { nil: undefined }),
  virtual_hosts: fc.option(fc.uniqueArray(fc.constantFrom('a.example.com', 'b.example.com', 'shop.test'), { maxLength: 2 }), { nil: undefined }),
  balance: fc.option(fc.constantFrom('roundrobin', 'leastconn', 'first'), { nil: undefined }),
  routes: fc.uniqueArray(fc.tuple(routeName, route), { maxLength: 4, selector: ([n]) => n }),
  weights: fc.constantFrom('none', 'even', 'zero'),
});

type Input = typeof input extends fc.Arbitrary<infer T> ? T : never;

function document(i: Input): Record<string, unknown> {
  const n = i.routes.length;
  const routes = Object.fromEntries(
    i.routes.map(([name, r], k) => {
      const weight = i.weights === 'zero' ? 0 : i.weights === 'even' ? Math.floor(100 / n) + (k === n - 1 ? 100 % n : 0) : undefined;
      const { condition_strength, ...rest } = r;
      return [name, { ...rest, ...(r.condition !== undefined && condition_strength !== undefined ? { condition_strength } : {}), ...(weight !== undefined ? { weight: `${weight}%` } : {}) }];
    }),
  );
  const out: Record<string, unknown> = { name: 'gw', port: i.port, routes };
  if (i.sticky !== undefined) out.sticky = i.sticky;
  if (i.virtual_hosts !== undefined) out.virtual_hosts = i.virtual_hosts;
  if (i.balance !== undefined) out.balance = i.balance;
  return out;
}

/** The lines of one section (`backend gw:v1`), up to the next section. */
function section(config: string, head: string): string[] {
  const lines = config.split('\n');
  const start = lines.indexOf(head);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && /^(frontend|backend|global|defaults|listen) /.test(l));
  return lines.slice(start, end < 0 ? undefined : end);
}

const t = suite('property: every accepted field shows up in the rendered config');
t('generated gateways: accepted ones render every field; tcp ones with http-only fields are refused with their paths', async () => {
  await fc.assert(
    fc.asyncProperty(input, async (i) => {
      const doc = document(i);
      const tcp = i.port.endsWith('/tcp');
      const r = parseGateway(stringify(doc), { source: 'gw.yaml', format: 'yaml', expectedName: 'gw' });
      const httpOnly: string[] = [];
      if (tcp) {
        if (i.sticky === 'route' || i.sticky === 'instance') httpOnly.push('sticky');
        if ((i.virtual_hosts ?? []).length > 0) httpOnly.push('virtual_hosts');
        for (const [name, rt] of i.routes) {
          if (rt.condition !== undefined) httpOnly.push(`routes.${name}.condition`);
          if ((rt.rewrites ?? []).length > 0) httpOnly.push(`routes.${name}.rewrites`);
          if (rt.balance === 'uri') httpOnly.push(`routes.${name}.balance`);
        }
      }
      if (httpOnly.length > 0) {
        assert.ok(!r.ok, `tcp gateway with ${httpOnly.join(', ')} accepted`);
        if (!r.ok) for (const p of httpOnly) assert.ok(r.errors.some((e) => e.path === p && /needs? an http port/.test(e.message)), `no error at ${p}: ${r.errors.map(formatModelError).join('; ')}`);
        return;
      }
      if (!r.ok) throw new Error(`${stringify(doc)}\n${r.errors.map(formatModelError).join('\n')}`);
      const g = r.gateway;
      const model = buildHaproxyModel([g], { bindAddress: '127.0.0.1', mapsDir: '/st/maps', minSlots: 4, vhostPort: 18080 });
      const { config, maps } = await renderer.render(model, SETTINGS);
      const front = section(config, 'frontend gw');
      assert.ok(front.includes(`  bind 127.0.0.1:${g.port}`) && front.includes(`  mode ${g.mode}`), 'port and mode');
      const buckets = maps['/st/maps/gw.weights.map'] ?? '';
      for (const rt of g.routes) {
        const back = section(config, `backend gw:${rt.name}`);
        assert.ok(back.length > 0, `backend for route ${rt.name}`);
        assert.ok(back.includes(`  balance ${rt.balance}`), `balance of ${rt.name}`);
        for (const tg of rt.targets) assert.ok(back.some((l) => l.includes(` ${tg.host}:${tg.port}`) && !l.includes(' disabled')), `target ${tg.host}:${tg.port}`);
        assert.is(buckets.split('\n').filter((l) => l.endsWith(` gw:${rt.name}`)).length, rt.weight, `weight of ${rt.name}`);
        for (const rw of rt.rewrites) {
          const args = rw.kind === 'set-path' ? `'${rw.path}'` : `'${rw.match}' '${rw.replace}'`;
          assert.ok(back.some((l) => l.startsWith(`  http-request ${rw.kind} ${args}`)), `rewrite ${args}`);
          for (const lit of rw.condition?.clauses.flat() ?? []) assert.ok(back.some((l) => l.startsWith('  acl ') && l.endsWith(` ${lit.acl}`)), `rewrite ACL ${lit.acl}`);
        }
        if (rt.condition && rt.condition.clauses.length > 0 && rt.conditionStrength > 0) {
          for (const lit of rt.condition.clauses.flat()) assert.ok(front.some((l) => l.startsWith('  acl ') && l.endsWith(` ${lit.acl}`)), `condition ACL ${lit.acl}`);
          assert.ok(front.some((l) => l.startsWith(`  use_backend gw:${rt.name} if `)), `condition rule of ${rt.name}`);
          assert.ok((maps['/st/maps/gw.strength.map'] ?? '').split('\n').includes(`${rt.name} ${rt.conditionStrength}`), `strength of ${rt.name}`);
        }
        if (g.sticky === 'instance') assert.ok(back.includes(`  cookie weir_gw_${rt.name} insert indirect nocache`), 'instance stickiness');
      }
      if (g.sticky !== null) assert.ok(front.some((l) => l.includes('req.cook(weir_gw)')), 'route stickiness');
      if (g.virtualHosts.length > 0) assert.ok(section(config, 'frontend weir_vhosts').some((l) => l.startsWith('  acl vh_gw ') && g.virtualHosts.every((h) => l.includes(` ${h}`))), 'virtual hosts');
      if (g.routes.length === 0 || g.routes.every((x) => x.weight === 0)) assert.is(buckets.trim(), '', 'no buckets: the 503 default');
    }),
    { numRuns: 150 },
  );
});
t.run();
