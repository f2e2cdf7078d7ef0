// Drill: 50 reloads under load (DRILL_RELOADS). One `weir agent` process with HAProxy; the
// gateway's balance algorithm flips between roundrobin and leastconn in the store, a change only
// a reload applies; each flip waits for the master's reload count to move. A load generator opens
// a new connection per request all along. Counts: reloads, requests, failures.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts, HAPROXY_BIN, tempDir } from '../lib.js';
import { LoadGenerator } from '../../test/harness/load.js';
import { httpUpstream } from '../../test/harness/upstream.js';
import { sleep, waitFor } from '../../test/harness/tmp.js';
import { agentStatus, finish, envInt, masterInfo, reasons, say, startAgentProcess, type AgentProc, type DrillReport } from './lib.js';

export async function reloadsDrill(opts: { reloads?: number } = {}): Promise<DrillReport> {
  const n = opts.reloads ?? envInt('DRILL_RELOADS', 50);
  const dir = await tempDir('weir-drill-reloads-');
  const gwDir = join(dir.path, 'store', 'default', 'default', 'gateways');
  await mkdir(gwDir, { recursive: true });
  const v1 = await httpUpstream('v1');
  const v2 = await httpUpstream('v2');
  const [port = 0, httpPort = 0] = await freePorts(2);
  const write = async (balance: string): Promise<void> => {
    await writeFile(join(gwDir, '.shop.tmp'), `name: shop\nport: ${port}\nbalance: ${balance}\nroutes:\n  v1:\n    weight: 50%\n    targets: ["127.0.0.1:${v1.port}"]\n  v2:\n    weight: 50%\n    targets: ["127.0.0.1:${v2.port}"]\n`);
    await rename(join(gwDir, '.shop.tmp'), join(gwDir, 'shop.yaml'));
  };
  await write('roundrobin');
  const stateDir = join(dir.path, 'state');
  let agent: AgentProc | null = null;
  let load: LoadGenerator | null = null;
  try {
    agent = await startAgentProcess({ WEIR_STORE: `file://${join(dir.path, 'store')}`, WEIR_STATE_DIR: stateDir, WEIR_BIND_ADDRESS: '127.0.0.1', WEIR_HAPROXY_BIN: HAPROXY_BIN, WEIR_VHOST_PORT: '0', WEIR_MONITOR_PORT: '0', WEIR_TELEMETRY: 'off', WEIR_RELOAD_MIN_INTERVAL_MS: '100', WEIR_HARD_STOP_AFTER: '5s', WEIR_LOG_LEVEL: 'warn' }, httpPort);
    await waitFor(async () => (await agentStatus(httpPort)).applied.length === 1, { what: 'applied' });
    const socket = join(stateDir, 'master.sock');
    const first = await masterInfo(socket);
    load = new LoadGenerator(`http://127.0.0.1:${port}/`, { concurrency: 8, newConnection: true });
    await sleep(500);
    for (let i = 1; i <= n; i++) {
      const before = (await masterInfo(socket)).reloads;
      await write(i % 2 === 1 ? 'leastconn' : 'roundrobin');
      await waitFor(async () => (await masterInfo(socket)).reloads > before, { what: `reload ${i}`, timeoutMs: 30_000, intervalMs: 20 });
      if (i % 10 === 0) say(`${i}/${n} reloads`);
    }
    await sleep(1000);
    const s = await load.stop();
    load = null;
    const last = await masterInfo(socket);
    const failures: string[] = [];
    if (s.failed > 0) failures.push(`${s.failed} failed requests (${reasons(s)})`);
    if (last.pid !== first.pid) failures.push('the master changed');
    return finish('reloads', [`changed the gateway's balance algorithm ${n} times (a reload each, WEIR_RELOAD_MIN_INTERVAL_MS=100), a new connection per request meanwhile`], { 'reloads (master count)': last.reloads - first.reloads, requests: s.sent, 'ok (2xx–4xx)': s.ok, 'failed requests': s.failed, 'failure reasons': reasons(s), 'answers v1 / v2': `${s.bodies.v1 ?? 0} / ${s.bodies.v2 ?? 0}` }, failures);
  } finally {
    await load?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await v1.close();
    await v2.close();
    await dir.remove();
  }
}
