// Drill: agent upgrades with no dropped request (issue 11 §3). HAProxy runs as the
// weir-haproxy container of deploy/kubernetes runs it (its script, its master socket in the
// node's state directory); `weir agent` processes with the weir-agent DaemonSet's settings
// (WEIR_HAPROXY_MASTER_SOCKET, WEIR_HAPROXY_ON_EXIT=keep, the shared state dir) are stopped with
// SIGTERM and replaced, DRILL_RESTARTS times (20), while a load generator opens a new connection
// per request. Between two agents the gateway is edited in the store, so every new agent has
// a change to apply. Counts: requests, failures, master PIDs, reloads.
// DRILL_MODE=spawned runs the other supported layout: no HAProxy container, the first agent
// spawns HAProxy detached and each next one adopts it (WEIR_HAPROXY_ON_EXIT=keep only).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts, tempDir } from '../lib.js';
import { LoadGenerator } from '../../test/harness/load.js';
import { httpUpstream } from '../../test/harness/upstream.js';
import { sleep, waitFor } from '../../test/harness/tmp.js';
import { agentStatus, finish, envInt, killPidFile, masterInfo, reasons, say, startAgentProcess, startHaproxyContainer, type AgentProc, type DrillReport, type HaproxyContainer } from './lib.js';
import { HAPROXY_BIN } from '../lib.js';

export async function agentUpgradeDrill(opts: { restarts?: number; mode?: 'kubernetes' | 'spawned'; concurrency?: number } = {}): Promise<DrillReport> {
  const restarts = opts.restarts ?? envInt('DRILL_RESTARTS', 20);
  const mode = opts.mode ?? (process.env.DRILL_MODE === 'spawned' ? 'spawned' : 'kubernetes');
  const dir = await tempDir('weir-drill-upgrade-');
  const storeRoot = join(dir.path, 'store');
  const gwDir = join(storeRoot, 'default', 'default', 'gateways');
  const stateDir = join(dir.path, 'state');
  await mkdir(gwDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const v1 = await httpUpstream('v1');
  const v2 = await httpUpstream('v2');
  const [port = 0, httpPort = 0, monitorPort = 0] = await freePorts(3);
  const writeGateway = async (w1: number): Promise<void> => {
    const body = `name: shop\nport: ${port}\nroutes:\n  v1:\n    weight: ${w1}%\n    targets: ["127.0.0.1:${v1.port}"]\n  v2:\n    weight: ${100 - w1}%\n    targets: ["127.0.0.1:${v2.port}"]\n`;
    await writeFile(join(gwDir, '.shop.tmp'), body);
    await rename(join(gwDir, '.shop.tmp'), join(gwDir, 'shop.yaml'));
  };
  await writeGateway(90);
  const env: Record<string, string> = {
    WEIR_STORE: `file://${storeRoot}`,
    WEIR_STATE_DIR: stateDir,
    WEIR_BIND_ADDRESS: '127.0.0.1',
    WEIR_HAPROXY_BIN: HAPROXY_BIN,
    WEIR_HAPROXY_ON_EXIT: 'keep',
    WEIR_VHOST_PORT: '0',
    WEIR_MONITOR_PORT: String(monitorPort),
    WEIR_AGENT_ID: 'node-1',
    WEIR_TELEMETRY: 'off',
    WEIR_HARD_STOP_AFTER: '5s',
    WEIR_RELOAD_MIN_INTERVAL_MS: '200',
    WEIR_LOG_LEVEL: 'warn',
    ...(mode === 'kubernetes' ? { WEIR_HAPROXY_MASTER_SOCKET: join(stateDir, 'master.sock') } : {}),
  };
  const did: string[] = [];
  const failures: string[] = [];
  let haproxy: HaproxyContainer | null = null;
  let agent: AgentProc | null = null;
  let load: LoadGenerator | null = null;
  const restartMs: number[] = [];
  try {
    if (mode === 'kubernetes') {
      haproxy = startHaproxyContainer(stateDir);
      did.push('started HAProxy with the weir-haproxy container script from deploy/kubernetes/haproxy-daemonset.yaml (state dir in place of /var/lib/weir)');
    }
    agent = await startAgentProcess(env, httpPort);
    await waitFor(async () => (await agentStatus(httpPort)).applied.length === 1, { what: 'gateway applied' });
    const socket = join(stateDir, 'master.sock');
    const first = await masterInfo(socket);
    did.push(`started \`weir agent\` with the weir-agent settings (${mode === 'kubernetes' ? 'WEIR_HAPROXY_MASTER_SOCKET, ' : ''}WEIR_HAPROXY_ON_EXIT=keep); HAProxy master PID ${first.pid}`);
    load = new LoadGenerator(`http://127.0.0.1:${port}/`, { concurrency: opts.concurrency ?? 8, newConnection: true });
    await sleep(1000);
    const pids = new Set<number>([first.pid]);
    for (let i = 1; i <= restarts; i++) {
      const t0 = Date.now();
      await agent.stop();
      // The change a new agent finds waiting: the store moved while no agent ran.
      await writeGateway(i % 2 === 0 ? 90 : 10);
      agent = await startAgentProcess(env, httpPort);
      await waitFor(async () => {
        const s = await agentStatus(httpPort);
        return s.ready && !s.pendingReload && s.applied.length === 1;
      }, { what: `restart ${i}: applied`, timeoutMs: 30_000 });
      restartMs.push(Date.now() - t0);
      pids.add((await masterInfo(socket)).pid);
      if (i % 5 === 0) say(`${i}/${restarts} restarts, ${reasons(await load.stats())} failed so far`);
    }
    await sleep(1000);
    const s = await load.stop();
    load = null;
    const last = await masterInfo(socket);
    did.push(`restarted the agent ${restarts} times (SIGTERM, store edited while it was down, new process, waited until it applied), a new connection per request meanwhile`);
    const counts: Record<string, number | string> = {
      restarts,
      requests: s.sent,
      'ok (2xx–4xx)': s.ok,
      'failed requests': s.failed,
      'failure reasons': reasons(s),
      'HAProxy master PIDs seen': [...pids].join(', '),
      'master reloads during the drill': last.reloads - first.reloads,
      'restart → applied, median ms': restartMs.sort((a, b) => a - b)[Math.floor(restartMs.length / 2)] ?? 0,
      'restart → applied, max ms': Math.max(...restartMs),
      mode,
    };
    if (s.failed > 0) failures.push(`${s.failed} failed requests (${reasons(s)})`);
    if (pids.size !== 1) failures.push(`the HAProxy master changed: PIDs ${[...pids].join(', ')}`);
    if (s.ok < restarts * 10) failures.push(`only ${s.ok} requests answered: the load did not run`);
    return finish('agent-upgrade', did, counts, failures);
  } finally {
    await load?.stop().catch(() => undefined);
    // The last agent keeps HAProxy (keep); stop it like an operator removing the node would.
    await agent?.stop().catch(() => undefined);
    if (haproxy) await haproxy.stop();
    else killPidFile(join(stateDir, 'haproxy.pid'));
    await sleep(200);
    await v1.close();
    await v2.close();
    await dir.remove();
  }
}
