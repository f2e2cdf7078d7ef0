// Vamp users move over unchanged: a Vamp API export converted by `weir import vamp`, and gateway
// files written the way Vamp's docs write them, served by a real agent and a real HAProxy,
// route as they did in Vamp.
import { suite, assert } from '../harness/uvu.js';
import { startAgent, type AgentFixture } from '../harness/agent-fixture.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { freePorts } from '../harness/ports.js';
import { get, tally } from '../harness/http.js';
import { convertVampExports } from '../../model/vamp-import.js';

const t = suite('Vamp gateways on a real agent and HAProxy');
let fx: AgentFixture;
const ups: Record<string, Upstream> = {};
let ports: number[] = [];

const url = (port: number, path = '/'): string => `http://127.0.0.1:${port}${path}`;
const SAFARI = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15';
const CHROME = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const ANDROID = 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36';

t.before(async () => {
  for (const n of ['v1', 'v2', 'ext', 'ios']) ups[n] = await httpUpstream(n);
  ports = await freePorts(5);
  const [pSava, pEdge, pBeta, pEmpty, pRewrite] = ports as [number, number, number, number, number];
  // What Vamp's GET /api/v1/gateways returns for a deployment's gateway and an external one.
  const exported = [
    {
      name: 'sava/webport', kind: 'gateways', metadata: {}, lookup_name: 'ebcec0d2', internal: false, deployed: true, service: { host: '10.1.1.1', port: '31234/http' },
      port: `${pSava}/http`, sticky: null, virtual_hosts: [], selector: null,
      routes: {
        'sava/sava/sava:1.0.0/webport': { lookup_name: 'a1', metadata: {}, selector: null, weight: '100%', balance: 'default', condition: null, condition_strength: '0%', rewrites: [], targets: [{ name: 'sava_1', host: '127.0.0.1', port: ups.v1!.port }] },
        'sava/sava/sava:1.1.0/webport': { lookup_name: 'a2', metadata: {}, selector: null, weight: '0%', balance: 'default', condition: { condition: 'User-Agent is Safari' }, condition_strength: '100%', rewrites: [], targets: [{ name: 'sava_2', host: '127.0.0.1', port: ups.v2!.port }] },
      },
    },
    {
      name: 'edge', port: `${pEdge}/http`, sticky: null, virtual_hosts: ['edge.vamp'], selector: null,
      routes: {
        [`[127.0.0.1:${ups.ext!.port}]`]: { weight: '100%', condition: null, condition_strength: '0%', targets: [{ url: `127.0.0.1:${ups.ext!.port}` }] },
        'android': { weight: '0%', condition: { condition: 'hdr_sub(user-agent) Android' }, condition_strength: '100%', targets: [{ url: `127.0.0.1:${ups.ios!.port}` }] },
      },
    },
  ];
  const { conversions, problems } = convertVampExports([{ origin: 'gateways.json', data: exported }]);
  assert.equal(problems, []);
  const files: Record<string, string> = {};
  for (const c of conversions) {
    assert.equal(c.problems, [], c.vampName);
    files[`${c.name}.yaml`] = c.yaml as string;
  }
  // Hand-written the way Vamp's docs write gateways.
  files['beta.yaml'] = `name: beta\nport: ${pBeta}\nvirtual_hosts: beta.example.com\nroutes:\n  ios:\n    weight: 0 %\n    condition: user.agent contains iPhone || HAS COOKIE beta\n    targets: ["127.0.0.1:${ups.ios!.port}"]\n  rest: { weight: 0% }\n`;
  files['empty.yaml'] = `name: empty\nport: ${pEmpty}/http\nselector: null\nroutes: {}\n`;
  files['rewrite.yaml'] = `name: rewrite\nport: ${pRewrite}\nroutes:\n  - api:\n      rewrites:\n        path: "/v2%[path] if { path_beg /api } !{ hdr_cnt(X-Legacy) gt 0 }"\n      targets: ["127.0.0.1:${ups.v1!.port}"]\n`;
  fx = await startAgent({ files });
  await fx.waitStatus((s) => s.applied.length === 5, 'all 5 gateways applied');
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of Object.values(ups)) await u.close();
});

t('every gateway is applied and none is refused', () => {
  assert.equal(fx.status().problems, []);
});

t('a Vamp user-agent name that needs two substrings: Safari, not Chrome (whose agent also says Safari)', async () => {
  assert.equal((await tally(url(ports[0]!), 20, { headers: { 'user-agent': SAFARI } })).counts, { v2: 20 });
  assert.equal((await tally(url(ports[0]!), 20, { headers: { 'user-agent': CHROME } })).counts, { v1: 20 });
  assert.equal((await tally(url(ports[0]!), 10, { headers: { 'user-agent': 'curl/8' } })).counts, { v1: 10 });
});

t('an external [host:port] route and a raw-ACL condition Vamp passed on unparsed', async () => {
  assert.equal((await tally(url(ports[1]!), 20)).counts, { ext: 20 });
  assert.equal((await tally(url(ports[1]!), 20, { headers: { 'user-agent': ANDROID } })).counts, { ios: 20 });
  // The Vamp virtual host kept from the export serves on the shared frontend.
  assert.is((await get(url(fx.vhostPort), { host: 'edge.vamp' })).body, 'ext');
});

t('all weights 0%: conditions route, everything else gets 503 (on the port and the virtual host)', async () => {
  assert.equal((await tally(url(ports[2]!), 10, { headers: { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)' } })).counts, { ios: 10 });
  assert.equal((await tally(url(ports[2]!), 10, { headers: { cookie: 'beta=1' } })).counts, { ios: 10 });
  const other = await get(url(ports[2]!));
  assert.is(other.status, 503);
  assert.match(other.body, 'weir: no route for this request');
  assert.is((await get(url(fx.vhostPort), { host: 'beta.example.com' })).status, 503);
  assert.is((await get(url(fx.vhostPort), { host: 'beta.example.com', 'user-agent': 'iPhone' })).body, 'ios');
});

t('a gateway with no routes binds its port and answers 503', async () => {
  const r = await get(url(ports[3]!));
  assert.is(r.status, 503);
});

t("Vamp's rewrite with raw { } conditions", async () => {
  const before = ups.v1!.seen.length;
  await get(url(ports[4]!, '/api/orders'));
  await get(url(ports[4]!, '/api/orders'), { 'x-legacy': '1' });
  await get(url(ports[4]!, '/other'));
  assert.equal(ups.v1!.seen.slice(before).map((s) => s.url), ['/v2/api/orders', '/api/orders', '/other']);
});

t.run();
