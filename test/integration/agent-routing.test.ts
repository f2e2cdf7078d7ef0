// The spec for routing: a real agent renders gateways into a real HAProxy and real requests
// go through it to small upstreams that answer with their own name.
import { suite, assert } from '../harness/uvu.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { httpUpstream, tcpUpstream, type Upstream } from '../harness/upstream.js';
import { freePorts } from '../harness/ports.js';
import { get, tally, tcpRead } from '../harness/http.js';

const t = suite('agent routing with real HAProxy');
let fx: AgentFixture;
let ups: Record<string, Upstream> = {};
let ports: number[] = [];

const url = (port: number, path = '/'): string => `http://127.0.0.1:${port}${path}`;

t.before(async () => {
  for (const n of ['a', 'b', 'c', 'd']) ups[n] = await httpUpstream(n);
  ups.t1 = await tcpUpstream('tcp-one');
  ups.t2 = await tcpUpstream('tcp-two');
  ports = await freePorts(8);
  const [pWeights, pCond, pSticky, pInstance, pVhost, pRewrite, pTcp, pStrength] = ports as [number, number, number, number, number, number, number, number];
  fx = await startAgent({
    files: {
      'weights.yaml': gatewayYaml('weights', pWeights, { v1: { weight: 80, targets: [ups.a!.port] }, v2: { weight: 20, targets: [ups.b!.port] } }),
      'cond.yaml': gatewayYaml('cond', pCond, {
        v1: { weight: 100, targets: [ups.a!.port] },
        v2: { weight: 0, targets: [ups.b!.port], extra: 'condition: user-agent = Firefox and not has cookie beta-off' },
        v3: { weight: 0, targets: [ups.c!.port], extra: "condition: header x-tier has gold or cookie plan has premium" },
      }),
      'strength.yaml': gatewayYaml('strength', pStrength, {
        v1: { weight: 100, targets: [ups.a!.port] },
        v2: { weight: 0, targets: [ups.b!.port], extra: 'condition: has header x-canary\ncondition_strength: 50%' },
      }),
      'sticky.yaml': gatewayYaml('sticky', pSticky, { v1: { weight: 50, targets: [ups.a!.port] }, v2: { weight: 50, targets: [ups.b!.port] } }, 'sticky: route'),
      'instance.yaml': gatewayYaml('instance', pInstance, { only: { weight: 100, targets: [ups.c!.port, ups.d!.port] } }, 'sticky: instance'),
      'vhost.yaml': gatewayYaml('vhost', pVhost, { v1: { weight: 100, targets: [ups.d!.port] } }, 'virtual_hosts: [shop.example.com, www.shop.example.com]'),
      'rewrite.yaml': gatewayYaml('rewrite', pRewrite, {
        api: { weight: 100, targets: [ups.a!.port], extra: 'rewrites:\n  - path: "/v2/ping if < path_beg /ping >"\n  - match: "^/api/(.*)"\n    replace: "/\\\\1"' },
      }),
      'tcp.yaml': gatewayYaml('tcp', pTcp, { one: { weight: 50, targets: [ups.t1!.port] }, two: { weight: 50, targets: [ups.t2!.port] } }).replace(`port: ${pTcp}`, `port: ${pTcp}/tcp`),
    },
  });
  await fx.waitStatus((s) => s.applied.length === 8, 'all 8 gateways applied');
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of Object.values(ups)) await u.close();
});

t('every gateway is applied and none is refused', () => {
  const s = fx.status();
  assert.equal(s.problems, []);
  assert.ok(s.ready);
});

t('weights split traffic 80/20 within tolerance', async () => {
  const { counts, failures } = await tally(url(ports[0]!), 600, { concurrency: 8 });
  assert.equal(failures, []);
  const a = counts.a ?? 0;
  // 600 draws at p=0.8: sd ≈ 9.8, so ±45 is over 4.5 sd.
  assert.ok(Math.abs(a - 480) < 45, `v1 got ${a} of 600`);
  assert.is((counts.a ?? 0) + (counts.b ?? 0), 600);
});

t('conditions route matching requests (100% strength) and leave the rest to the weights', async () => {
  const ff = await tally(url(ports[1]!), 40, { headers: { 'user-agent': 'Mozilla/5.0 Firefox/120.0' } });
  assert.equal(ff.counts, { b: 40 });
  const ffOptOut = await tally(url(ports[1]!), 20, { headers: { 'user-agent': 'Firefox', cookie: 'beta-off=1' } });
  assert.equal(ffOptOut.counts, { a: 20 });
  const gold = await tally(url(ports[1]!), 20, { headers: { 'x-tier': 'silver-gold' } });
  assert.equal(gold.counts, { c: 20 });
  const premium = await tally(url(ports[1]!), 20, { headers: { cookie: 'plan=premium-2' } });
  assert.equal(premium.counts, { c: 20 });
  const other = await tally(url(ports[1]!), 40, { headers: { 'user-agent': 'curl/8' } });
  assert.equal(other.counts, { a: 40 });
});

t('condition strength sends that share of matching requests to the route', async () => {
  const m = await tally(url(ports[7]!), 400, { headers: { 'x-canary': '1' } });
  assert.equal(m.failures, []);
  const b = m.counts.b ?? 0;
  assert.ok(Math.abs(b - 200) < 45, `canary got ${b} of 400 matching requests at 50%`);
  const n = await tally(url(ports[7]!), 50);
  assert.equal(n.counts, { a: 50 });
});

t('sticky route: the cookie pins a client to its route', async () => {
  const first = await get(url(ports[2]!));
  const setCookie = String(first.headers['set-cookie'] ?? '');
  const m = /weir_sticky=([^;]+)/.exec(setCookie);
  assert.ok(m, `Set-Cookie missing: ${setCookie}`);
  const route = m![1];
  const expected = route === 'v1' ? 'a' : 'b';
  assert.is(first.body, expected);
  const again = await tally(url(ports[2]!), 40, { headers: { cookie: `weir_sticky=${route}` } });
  assert.equal(again.counts, { [expected]: 40 });
  // A forged cookie naming no route is ignored and the weights decide.
  const forged = await tally(url(ports[2]!), 40, { headers: { cookie: 'weir_sticky=nope' } });
  assert.ok((forged.counts.a ?? 0) > 0 && (forged.counts.b ?? 0) > 0, JSON.stringify(forged.counts));
});

t('sticky instance: the cookie pins a client to one target of the route', async () => {
  const first = await get(url(ports[3]!));
  const setCookie = ([] as string[]).concat(first.headers['set-cookie'] ?? []).join('; ');
  const m = /weir_instance_only=([^;]+)/.exec(setCookie);
  assert.ok(m, `instance cookie missing: ${setCookie}`);
  const again = await tally(url(ports[3]!), 30, { headers: { cookie: `weir_instance_only=${m![1]}` } });
  assert.equal(again.counts, { [first.body]: 30 });
  const spread = await tally(url(ports[3]!), 30);
  assert.ok((spread.counts.c ?? 0) > 0 && (spread.counts.d ?? 0) > 0, `no cookie spreads: ${JSON.stringify(spread.counts)}`);
});

t('virtual hosts route by Host on the shared frontend; unknown hosts get 404', async () => {
  const r = await get(url(fx.vhostPort), { host: 'WWW.Shop.Example.com:8080' });
  assert.is(r.status, 200);
  assert.is(r.body, 'd');
  const miss = await get(url(fx.vhostPort), { host: 'other.example.com' });
  assert.is(miss.status, 404);
  // The gateway's own port serves whatever the Host.
  assert.is((await get(url(ports[4]!), { host: 'anything' })).body, 'd');
});

t('rewrites change the path the upstream sees', async () => {
  const before = ups.a!.seen.length;
  await get(url(ports[5]!, '/ping'));
  await get(url(ports[5]!, '/api/orders/7?x=1'));
  await get(url(ports[5]!, '/other'));
  const seen = ups.a!.seen.slice(before).map((s) => s.url);
  assert.equal(seen, ['/v2/ping', '/orders/7?x=1', '/other']);
});

t('tcp gateways split connections by weight', async () => {
  const got: Record<string, number> = {};
  for (let i = 0; i < 60; i++) {
    const text = await tcpRead(ports[6]!);
    got[text] = (got[text] ?? 0) + 1;
  }
  assert.ok((got['tcp-one'] ?? 0) > 10 && (got['tcp-two'] ?? 0) > 10, JSON.stringify(got));
  assert.is((got['tcp-one'] ?? 0) + (got['tcp-two'] ?? 0), 60);
});

t('HAProxy monitor answers on /health', async () => {
  const r = await get(url(fx.monitorPort, '/health'));
  assert.is(r.status, 200);
});

t.run();
