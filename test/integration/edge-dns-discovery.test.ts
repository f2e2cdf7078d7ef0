// DNS service discovery with a real DNS server (dnsmasq on loopback) and real HAProxy: {dns,
// port} and {srv} targets become server-template slots HAProxy fills itself. Records added and
// removed under load: no failed request, no reload. DNS down: the last addresses keep serving.
// More records than slots: a metric and a status warning. A reload keeps the resolved servers.
import { createServer, type Server } from 'node:http';
import { startAgent, type AgentFixture } from '../harness/agent-fixture.js';
import { startDnsmasq, type Dnsmasq } from '../harness/dnsmasq.js';
import { LoadGenerator } from '../harness/load.js';
import { tally } from '../harness/http.js';
import { freePort, freePorts } from '../harness/ports.js';
import { sleep, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('edge: DNS service discovery against dnsmasq and real HAProxy');
const ZONE = 'svc.test';
const IPS = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15', '127.0.0.16'];
let dns: Dnsmasq;
let fx: AgentFixture;
let port = 0; // the upstreams' shared port (A records carry no port)
let gwPort = 0;
let srvPort = 0;
const servers = new Map<string, Server>();

/** An upstream on `ip:port` answering with its last address byte ("u11", "u12", …). */
async function upstream(ip: string, p = port): Promise<void> {
  const s = createServer((req, res) => {
    req.resume();
    res.end(`u${ip.split('.').pop()}`);
  });
  s.keepAliveTimeout = 1000;
  await new Promise<void>((r) => s.listen(p, ip, r));
  servers.set(`${ip}:${p}`, s);
}
async function closeUpstream(ip: string, p = port): Promise<void> {
  const s = servers.get(`${ip}:${p}`);
  servers.delete(`${ip}:${p}`);
  if (!s) return;
  s.closeAllConnections();
  await new Promise<void>((r) => s.close(() => r()));
}

/** A port free on every test address. */
async function sharedPort(): Promise<number> {
  for (;;) {
    const p = await freePort(IPS[0]);
    const ok = await Promise.all(IPS.map((ip) => new Promise<boolean>((r) => {
      const s = createServer();
      s.once('error', () => r(false));
      s.listen(p, ip, () => s.close(() => r(true)));
    })));
    if (ok.every(Boolean)) return p;
  }
}

const gateway = (slots: number): string => `name: shop\nport: ${gwPort}\nroutes:\n  v1:\n    targets: [{dns: shop.${ZONE}, port: ${port}, slots: ${slots}}]\n`;
const reloads = async (): Promise<number> => Number(/^weir_haproxy_reloads_total (\d+)/m.exec(await fx.agent.metrics.registry.metrics())?.[1] ?? 0);
const bodies = async (n = 40): Promise<string[]> => Object.keys((await tally(`http://127.0.0.1:${gwPort}/`, n)).counts).sort();

t.before(async () => {
  port = await sharedPort();
  [gwPort = 0, srvPort = 0] = await freePorts(2);
  for (const ip of IPS.slice(0, 2)) await upstream(ip);
  dns = await startDnsmasq(ZONE, { hosts: { [`shop.${ZONE}`]: IPS.slice(0, 2) } });
  fx = await startAgent({
    files: { 'shop.yaml': gateway(4) },
    env: { WEIR_DNS_RESOLVERS: `127.0.0.1:${dns.port}`, WEIR_DNS_CHECK_INTERVAL_MS: '200', WEIR_RELOAD_MIN_INTERVAL_MS: '100' },
  });
  await fx.waitStatus((s) => s.applied.length === 1 && s.ready, 'shop applied');
});

t.after(async () => {
  await fx?.cleanup();
  await dns?.dispose();
  for (const k of [...servers.keys()]) {
    const [ip = '', p = ''] = k.split(/:(?=\d+$)/);
    await closeUpstream(ip, Number(p));
  }
});

t('every A record becomes a server, resolved by HAProxy itself', async () => {
  await waitFor(async () => (await bodies()).join() === 'u11,u12', { what: 'traffic on both addresses', timeoutMs: 15_000 });
  assert.match(await fx.agent.metrics.registry.metrics(), new RegExp(`weir_dns_records\\{gateway="shop",route="v1",target="shop.${ZONE}:${port}"\\} 2`));
});

t('addresses added and removed by DNS under load: no failed request, no reload', async () => {
  const before = await reloads();
  const load = new LoadGenerator(`http://127.0.0.1:${gwPort}/`, { concurrency: 4, newConnection: true });
  await upstream(IPS[2] ?? '');
  // Kubernetes order: the pod leaves the endpoints (DNS) first, stops after it is drained.
  await dns.setHosts({ [`shop.${ZONE}`]: IPS.slice(1, 3) });
  await waitFor(async () => {
    const s = await load.stats();
    return (s.bodies.u13 ?? 0) > 0;
  }, { what: 'the new address taking traffic', timeoutMs: 15_000 });
  const at = (await load.stats()).bodies.u11 ?? 0;
  await waitFor(async () => {
    await sleep(300);
    return ((await load.stats()).bodies.u11 ?? 0) === at;
  }, { what: 'the removed address drained', timeoutMs: 15_000 });
  await closeUpstream(IPS[0] ?? '');
  await sleep(500);
  const s = await load.stop();
  assert.equal(s.reasons, {}, `failures: ${JSON.stringify(s.reasons)}`);
  assert.ok(s.ok > 100, `${s.ok} requests`);
  assert.ok((s.bodies.u12 ?? 0) > 0 && (s.bodies.u13 ?? 0) > 0);
  assert.is(await reloads(), before, 'no reload');
});

t('DNS down: the last addresses keep serving', async () => {
  await dns.stop();
  const load = new LoadGenerator(`http://127.0.0.1:${gwPort}/`, { concurrency: 4, newConnection: true });
  await sleep(4500); // longer than HAProxy's timeout resolve × resolve_retries
  const s = await load.stop();
  assert.equal(s.reasons, {}, `failures: ${JSON.stringify(s.reasons)}`);
  assert.equal(Object.keys(s.bodies).sort(), ['u12', 'u13']);
  await dns.start();
});

t('a reload (another gateway added) keeps the resolved servers: no failed request', async () => {
  const before = await reloads();
  const load = new LoadGenerator(`http://127.0.0.1:${gwPort}/`, { concurrency: 4, newConnection: true });
  await fx.write('other', `name: other\nport: ${srvPort}\nroutes:\n  v1:\n    targets: ["127.0.0.1:1"]\n`);
  await fx.waitStatus((s) => s.applied.length === 2 && !s.pendingReload, 'other applied');
  await waitFor(async () => (await reloads()) > before, { what: 'a reload' });
  await sleep(500);
  const s = await load.stop();
  assert.equal(s.reasons, {}, `failures: ${JSON.stringify(s.reasons)}`);
  await fx.remove('other');
  await fx.waitStatus((x) => x.applied.length === 1, 'other removed');
});

t('more records than slots: HAProxy uses the slots, the agent counts the rest and warns', async () => {
  for (const ip of IPS.slice(3)) await upstream(ip);
  await upstream(IPS[0] ?? '');
  await dns.setHosts({ [`shop.${ZONE}`]: IPS });
  const s = await fx.waitStatus((x) => x.warnings.length > 0, 'a slot warning');
  assert.equal(s.warnings, [{ source: `shop/v1 target shop.${ZONE}:${port}`, message: '6 records, 4 slots: 2 servers get no traffic; raise `slots` of this target (a reload)' }]);
  const m = await fx.agent.metrics.registry.metrics();
  assert.match(m, new RegExp(`weir_dns_records_over_slots\\{gateway="shop",route="v1",target="shop.${ZONE}:${port}"\\} 2`));
  assert.match(m, new RegExp(`weir_dns_slots\\{gateway="shop",route="v1",target="shop.${ZONE}:${port}"\\} 4`));
  await waitFor(async () => (await bodies(80)).length === 4, { what: 'traffic on exactly 4 addresses', timeoutMs: 15_000 });
  // Raising the slots is a reload; then all six serve and the warning goes.
  await fx.write('shop', gateway(8));
  await fx.waitStatus((x) => x.warnings.length === 0, 'warning gone');
  await waitFor(async () => (await bodies(120)).length === 6, { what: 'traffic on all 6 addresses', timeoutMs: 15_000 });
});

t('SRV records: host and port per record; records changed (dnsmasq restarted) are followed', async () => {
  const [p1 = 0, p2 = 0] = await freePorts(2);
  await upstream('127.0.0.21', p1);
  await upstream('127.0.0.22', p2);
  await dns.setHosts({ [`shop.${ZONE}`]: IPS, [`a.${ZONE}`]: ['127.0.0.21'], [`b.${ZONE}`]: ['127.0.0.22'] });
  await dns.setSrv([{ name: `_http._tcp.shop.${ZONE}`, target: `a.${ZONE}`, port: p1 }]);
  await fx.write('shop', `name: shop\nport: ${gwPort}\nroutes:\n  v1:\n    targets: [{srv: _http._tcp.shop.${ZONE}, slots: 4}]\n`);
  await waitFor(async () => (await bodies()).join() === 'u21', { what: 'the SRV target serving', timeoutMs: 15_000 });
  await dns.setSrv([{ name: `_http._tcp.shop.${ZONE}`, target: `a.${ZONE}`, port: p1 }, { name: `_http._tcp.shop.${ZONE}`, target: `b.${ZONE}`, port: p2 }]);
  await waitFor(async () => (await bodies()).join() === 'u21,u22', { what: 'both SRV records serving', timeoutMs: 15_000 });
  assert.match(await fx.agent.metrics.registry.metrics(), new RegExp(`weir_dns_records\\{gateway="shop",route="v1",target="_http._tcp.shop.${ZONE}"\\} 2`));
});

t.run();
