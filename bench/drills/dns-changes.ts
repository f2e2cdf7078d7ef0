// Drill: DNS changes under load (DRILL_DNS_CHANGES, 20). A real dnsmasq on loopback answers for
// a headless-service-like name; six upstreams listen on 127.0.0.11–16. Each change brings one
// address into DNS, waits until HAProxy sends it traffic, takes another out, waits until it
// drains, and only then stops that upstream (the order Kubernetes endpoints follow). Midway DNS
// goes down for DRILL_DNS_DOWN_S (5) seconds. Counts: requests, failures, reloads.
import { createServer, type Server } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts, HAPROXY_BIN, tempDir } from '../lib.js';
import { startDnsmasq } from '../../test/harness/dnsmasq.js';
import { LoadGenerator } from '../../test/harness/load.js';
import { freePort } from '../../test/harness/ports.js';
import { sleep, waitFor } from '../../test/harness/tmp.js';
import { agentStatus, finish, envInt, masterInfo, reasons, say, startAgentProcess, type AgentProc, type DrillReport } from './lib.js';

const IPS = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15', '127.0.0.16'];

export async function dnsChangesDrill(opts: { changes?: number; downSeconds?: number } = {}): Promise<DrillReport> {
  const n = opts.changes ?? envInt('DRILL_DNS_CHANGES', 20);
  const downS = opts.downSeconds ?? envInt('DRILL_DNS_DOWN_S', 5);
  const dir = await tempDir('weir-drill-dns-');
  const gwDir = join(dir.path, 'store', 'default', 'default', 'gateways');
  await mkdir(gwDir, { recursive: true });
  let upPort = 0;
  for (;;) {
    const p = await freePort(IPS[0]);
    const free = await Promise.all(IPS.map((ip) => new Promise<boolean>((r) => { const s = createServer(); s.once('error', () => r(false)); s.listen(p, ip, () => s.close(() => r(true))); })));
    if (free.every(Boolean)) { upPort = p; break; }
  }
  const servers = new Map<string, Server>();
  const start = async (ip: string): Promise<void> => {
    const s = createServer((req, res) => { req.resume(); res.end(ip); });
    s.keepAliveTimeout = 1000;
    await new Promise<void>((r) => s.listen(upPort, ip, r));
    servers.set(ip, s);
  };
  const stop = async (ip: string): Promise<void> => {
    const s = servers.get(ip);
    servers.delete(ip);
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  };
  let inDns = IPS.slice(0, 3);
  for (const ip of inDns) await start(ip);
  const dns = await startDnsmasq('svc.test', { hosts: { 'shop.svc.test': inDns } });
  const [port = 0, httpPort = 0] = await freePorts(2);
  await writeFile(join(gwDir, 'shop.yaml'), `name: shop\nport: ${port}\nroutes:\n  v1:\n    targets: [{dns: shop.svc.test, port: ${upPort}, slots: 8}]\n`);
  const stateDir = join(dir.path, 'state');
  let agent: AgentProc | null = null;
  let load: LoadGenerator | null = null;
  try {
    agent = await startAgentProcess({ WEIR_STORE: `file://${join(dir.path, 'store')}`, WEIR_STATE_DIR: stateDir, WEIR_BIND_ADDRESS: '127.0.0.1', WEIR_HAPROXY_BIN: HAPROXY_BIN, WEIR_VHOST_PORT: '0', WEIR_MONITOR_PORT: '0', WEIR_TELEMETRY: 'off', WEIR_DNS_RESOLVERS: `127.0.0.1:${dns.port}`, WEIR_LOG_LEVEL: 'warn' }, httpPort);
    await waitFor(async () => (await agentStatus(httpPort)).applied.length === 1, { what: 'applied' });
    load = new LoadGenerator(`http://127.0.0.1:${port}/`, { concurrency: 8, newConnection: true });
    await waitFor(async () => Object.keys((await load?.stats())?.bodies ?? {}).length === 3, { what: 'traffic on the three addresses', timeoutMs: 20_000 });
    const socket = join(stateDir, 'master.sock');
    const first = await masterInfo(socket);
    const lagIn: number[] = [];
    const lagOut: number[] = [];
    for (let i = 1; i <= n; i++) {
      const incoming = IPS.find((ip) => !inDns.includes(ip)) as string;
      const outgoing = inDns[0] as string;
      await start(incoming);
      inDns = [...inDns, incoming];
      let t0 = Date.now();
      await dns.setHosts({ 'shop.svc.test': inDns });
      const seenIn = (await load.stats()).bodies[incoming] ?? 0;
      await waitFor(async () => ((await load?.stats())?.bodies[incoming] ?? 0) > seenIn, { what: `${incoming} taking traffic`, timeoutMs: 20_000, intervalMs: 20 });
      lagIn.push(Date.now() - t0);
      inDns = inDns.filter((ip) => ip !== outgoing);
      t0 = Date.now();
      await dns.setHosts({ 'shop.svc.test': inDns });
      let last = -1;
      await waitFor(async () => {
        const c = (await load?.stats())?.bodies[outgoing] ?? 0;
        const still = c !== last;
        last = c;
        if (still) await sleep(250);
        return !still;
      }, { what: `${outgoing} drained`, timeoutMs: 20_000 });
      lagOut.push(Date.now() - t0);
      await stop(outgoing);
      if (i === Math.ceil(n / 2) && downS > 0) {
        say(`DNS down for ${downS} s`);
        await dns.stop();
        await sleep(downS * 1000);
        await dns.start();
      }
      if (i % 5 === 0) say(`${i}/${n} DNS changes`);
    }
    await sleep(500);
    const s = await load.stop();
    load = null;
    const lastInfo = await masterInfo(socket);
    const failures: string[] = [];
    if (s.failed > 0) failures.push(`${s.failed} failed requests (${reasons(s)})`);
    if (lastInfo.reloads !== first.reloads) failures.push(`${lastInfo.reloads - first.reloads} reloads`);
    const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? 0;
    return finish('dns-changes', [
        `served {dns: shop.svc.test, slots: 8} from a real dnsmasq; ${n} times: one address into DNS (waited for its first answer), one out (waited until it got no more), then stopped that upstream`,
        `after change ${Math.ceil(n / 2)}, stopped dnsmasq for ${downS} s (HAProxy keeps the last addresses: WEIR_DNS_HOLD)`,
      ], {
        'DNS changes': n,
        requests: s.sent,
        ok: s.ok,
        'failed requests': s.failed,
        'failure reasons': reasons(s),
        'address in DNS → first answer, median ms': med(lagIn),
        'address out of DNS → no more traffic, median ms': med(lagOut),
        reloads: lastInfo.reloads - first.reloads,
        'addresses that served': Object.keys(s.bodies).length,
      }, failures);
  } finally {
    await load?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await dns.dispose();
    for (const ip of [...servers.keys()]) await stop(ip);
    await dir.remove();
  }
}
