// One `weir agent` as its own process for the telemetry benchmarks: a file store with the given gateways,
// its own state dir and HTTP port, defaults unless `env` says otherwise. CPU and memory are read from /proc
// for the agent and, separately, its HAProxy (master and workers).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePorts, HAPROXY_BIN, rssKiB, sleep } from './lib.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** `weir agent` from source with tsx, or the compiled CLI next to this file. */
function agentCommand(): { cmd: string; args: string[]; cwd: string } {
  // BENCH_AGENT_NODE_ARGS: extra node flags for the agent (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it).
  const extra = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
  if (import.meta.url.endsWith('.ts')) {
    const root = resolve(HERE, '..');
    return { cmd: process.execPath, args: [...extra, '--import', 'tsx', join(root, 'cli', 'main.ts'), 'agent'], cwd: root };
  }
  return { cmd: process.execPath, args: [...extra, resolve(HERE, '..', 'cli', 'main.js'), 'agent'], cwd: resolve(HERE, '..', '..') };
}

export interface AgentProc {
  pid: number;
  httpPort: number;
  stateDir: string;
  child: ChildProcess;
  stderr: () => string;
  /** The agent's HAProxy master pid (from its /status). */
  haproxyPid: () => Promise<number>;
  /** CPU seconds of the agent process alone. */
  agentCpu: () => number;
  /** CPU seconds of its HAProxy master and workers alive now. */
  haproxyCpu: (master: number) => number;
  metrics: () => Promise<string>;
  rssKiB: () => number;
  stop: () => Promise<void>;
}

/** Starts an agent on `dir` serving `gateways` (name → YAML); resolves once /readyz answers 200. */
export async function startAgentProcess(dir: string, gateways: Record<string, string>, env: Record<string, string> = {}): Promise<AgentProc> {
  const store = join(dir, 'store');
  const gwDir = join(store, 'default', 'default', 'gateways');
  const stateDir = join(dir, 'state');
  await mkdir(gwDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  for (const [name, yaml] of Object.entries(gateways)) await writeFile(join(gwDir, `${name}.yaml`), yaml);
  const [httpPort = 0] = await freePorts(1);
  const { cmd, args, cwd } = agentCommand();
  const child = spawn(cmd, args, {
    cwd,
    env: {
      ...process.env,
      WEIR_STORE: `file://${store}`,
      WEIR_STATE_DIR: stateDir,
      WEIR_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      WEIR_BIND_ADDRESS: '127.0.0.1',
      WEIR_HAPROXY_BIN: HAPROXY_BIN,
      WEIR_VHOST_PORT: '0',
      WEIR_MONITOR_PORT: '0',
      WEIR_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const killOnExit = (): void => {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}: ${err}`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`agent not ready within 60 s: ${err}`);
    await sleep(100);
  }
  const pid = child.pid!;
  return {
    pid,
    httpPort,
    stateDir,
    child,
    stderr: () => err,
    haproxyPid: async () => ((await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as { haproxy: { pid: number } }).haproxy.pid,
    agentCpu: () => processCpuSeconds(pid),
    // cpuSeconds(master) counts the master and its direct children, the workers.
    haproxyCpu: (master: number) => cpuSeconds(master),
    metrics: async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
    rssKiB: () => rssKiB(pid),
    stop: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(t);
      }
      // A killed agent leaves its HAProxy: stop it by its pid file.
      const master = Number((await readFile(join(stateDir, 'haproxy.pid'), 'utf8').catch(() => '')).trim());
      if (master > 0) {
        try {
          process.kill(master, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    },
  };
}

/** CPU time (user + system, all threads) of one process, without its children, in seconds. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Prometheus text → sum of a metric's samples whose labels include all of `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have = (m[1] ?? '').split(/,(?=[a-z_]+=")/);
    if (want.every((w) => have.includes(w))) sum += Number(m[2]);
  }
  return sum;
}
