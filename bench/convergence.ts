// Convergence: time from an API write (PUT …/weights, taken when the HTTP request starts) until
// every agent has applied the new version, for N agents; NATS events vs. polling alone.
//
//   npx tsx bench/convergence.ts          (later: make bench B=convergence)
//
// Setup, all on this machine:
//   - store: the Vault KV v2 contract double (test/doubles/vault-kv2.ts) in this process. Vault
//     has no watch, so an agent learns of a change only by a NATS event or by its next poll
//     (a file store would be watched by inotify and hide both).
//   - control API: runControlWithNats in this process (NATS mode) / runControl (poll mode).
//   - nats-server with JetStream (child process).
//   - N real agents, each its own process (`weir agent` from cli/main.ts) with its own real
//     HAProxy, bind address 127.0.1.<i>, state dir and HTTP port; default debounce (10 ms) and
//     poll interval (5 s, Vamp's default).
// "Applied" on an agent:
//   NATS mode: its status event (published at once when its applied set changes) names the new
//     version, timestamped when this process receives it.
//   poll mode: no NATS, so its GET /status (polled every 50 ms) names the new version.
// The sample is the latest agent's time. Knobs: CONV_AGENTS (default "1,5,20"), CONV_WRITES
// (NATS-mode writes per N, default 30), CONV_POLL_WRITES (poll-mode writes per N, default 8),
// CONV_POLL_MS (default 5000).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import type { RunningControl } from '../control/main.js';
import { runControlWithNats } from '../control/nats-main.js';
import { subjects, type AgentStatusEvent } from '../events/contract.js';
import { startNatsServer, type NatsHarness } from '../test/harness/nats.js';
import { VaultKv2Double } from '../test/doubles/vault-kv2.js';
import { fmt, freePorts, HAPROXY_BIN, machine, progress, sleep, summary, table, tempDir, writeResult } from './lib.js';

export interface ConvergenceOptions {
  agents?: number[];
  writes?: number;
  pollWrites?: number;
  pollIntervalMs?: number;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const NS = { org: 'default', env: 'default' };
const GW = 'shop';

/** How to start `weir agent`: from source with tsx, or the compiled CLI next to this file. */
function agentCommand(): { cmd: string; args: string[]; cwd: string } {
  if (import.meta.url.endsWith('.ts')) {
    const root = resolve(HERE, '..');
    return { cmd: process.execPath, args: ['--import', 'tsx', join(root, 'cli', 'main.ts'), 'agent'], cwd: root };
  }
  const main = resolve(HERE, '..', 'cli', 'main.js');
  return { cmd: process.execPath, args: [main, 'agent'], cwd: resolve(HERE, '..', '..') };
}

interface AgentProc {
  id: string;
  httpPort: number;
  stateDir: string;
  child: ChildProcess;
  stderr: () => string;
}

async function startAgents(n: number, o: { dir: string; vaultUrl: string; natsUrl: string | null; pollMs: number; tag: string }): Promise<AgentProc[]> {
  const ports = await freePorts(n);
  const { cmd, args, cwd } = agentCommand();
  const out: AgentProc[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${o.tag}-${i + 1}`;
    const stateDir = join(o.dir, id);
    await mkdir(stateDir, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      WEIR_STORE: 'vault:secret',
      VAULT_ADDR: o.vaultUrl,
      VAULT_TOKEN: 'root',
      WEIR_NAMESPACE: `${NS.org}/${NS.env}`,
      WEIR_STATE_DIR: stateDir,
      WEIR_HTTP_ADDR: `127.0.0.1:${ports[i]}`,
      WEIR_BIND_ADDRESS: `127.0.1.${i + 1}`,
      WEIR_HAPROXY_BIN: HAPROXY_BIN,
      WEIR_VHOST_PORT: '0',
      WEIR_MONITOR_PORT: '0',
      WEIR_POLL_INTERVAL_MS: String(o.pollMs),
      WEIR_HARD_STOP_AFTER: '3s',
      WEIR_AGENT_ID: id,
      WEIR_TELEMETRY: 'off',
      WEIR_LOG_LEVEL: 'warn',
      WEIR_NATS_URL: o.natsUrl ?? '',
    };
    // CONV_AGENT_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", goes to each agent's node.
    const nodeArgs = (process.env.CONV_AGENT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    // CONV_AGENT_NICE, e.g. 10: agents (and their HAProxies) yield the CPU to the control API
    // and the Vault double, which on a fleet run on other hosts.
    const nice = Number(process.env.CONV_AGENT_NICE ?? 0);
    const argv = [...nodeArgs, ...args];
    const child = nice > 0 ? spawn('nice', ['-n', String(nice), cmd, ...argv], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(cmd, argv, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    out.push({ id, httpPort: ports[i] as number, stateDir, child, stderr: () => err });
  }
  // Ready = /healthz answers (the agent, its HTTP server and HAProxy are up).
  for (const a of out) {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (a.child.exitCode !== null) throw new Error(`agent ${a.id} exited with ${a.child.exitCode}: ${a.stderr()}`);
      const ok = await fetch(`http://127.0.0.1:${a.httpPort}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`agent ${a.id} not healthy within 120 s: ${a.stderr()}`);
      await sleep(100);
    }
  }
  return out;
}

async function stopAgents(agents: AgentProc[]): Promise<void> {
  await Promise.all(
    agents.map(async (a) => {
      if (a.child.exitCode === null && a.child.signalCode === null) {
        const gone = new Promise<void>((r) => a.child.once('exit', () => r()));
        a.child.kill('SIGTERM');
        const t = setTimeout(() => a.child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(t);
      }
      // An agent killed hard leaves its HAProxy master: stop it by its pid file.
      const pidFile = join(a.stateDir, 'haproxy.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (pid > 0) {
          try {
            process.kill(pid, 0);
            process.kill(pid, 'SIGTERM');
          } catch {
            /* gone */
          }
        }
      }
    }),
  );
}

/** utime and stime of a process in ms, all threads (Linux /proc; clock ticks assumed 100/s). */
function cpuMs(pid: number | undefined): { user: number; sys: number } {
  if (pid === undefined) return { user: NaN, sys: NaN };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
  } catch {
    return { user: NaN, sys: NaN };
  }
}

/** An agent's HAProxy: its master (pid file) and the master's children (workers). */
function haproxyPids(stateDir: string): number[] {
  const master = Number(readFileSync(join(stateDir, 'haproxy.pid'), 'utf8').trim().split('\n')[0]);
  if (!(master > 0)) return [];
  const pids = [master];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === master) pids.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

/** CPU ms of each pid now, by pid (a pid that is gone is left out). */
function haproxyCpuMs(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const c = cpuMs(pid);
    if (Number.isFinite(c.user + c.sys)) out.set(pid, c.user + c.sys);
  }
  return out;
}

/** CPU spent between two readings by the processes alive at both (old workers of a reload drain and exit). */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? ms);
  return sum;
}

/** Receipt times of status events: version → agentId → ms (performance.now()). */
class StatusWatch {
  readonly seen = new Map<string, Map<string, number>>();
  /** When the control API's gateways.changed event for a version arrived here. */
  readonly announced = new Map<string, number>();
  private waiters: Array<() => void> = [];
  constructor(nc: NatsConnection) {
    nc.subscribe(subjects.gatewaysChanged(NS), {
      callback: (err, msg) => {
        if (err) return;
        const at = performance.now();
        const v = (JSON.parse(new TextDecoder().decode(msg.data)) as { version: string | null }).version;
        if (v && !this.announced.has(v)) this.announced.set(v, at);
      },
    });
    nc.subscribe(subjects.allAgentStatus, {
      callback: (err, msg) => {
        if (err) return;
        const at = performance.now();
        const ev = JSON.parse(new TextDecoder().decode(msg.data)) as AgentStatusEvent;
        const v = ev.applied.find((a) => a.name === GW)?.version;
        if (!v) return;
        let m = this.seen.get(v);
        if (!m) this.seen.set(v, (m = new Map()));
        if (!m.has(ev.agentId)) m.set(ev.agentId, at);
        for (const w of this.waiters.splice(0)) w();
      },
    });
  }
  async all(version: string, ids: string[], timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = this.seen.get(version);
      if (m && ids.every((id) => m.has(id))) return Math.max(...ids.map((id) => m.get(id) as number));
      if (performance.now() > deadline) throw new Error(`version ${version}: ${m?.size ?? 0}/${ids.length} agents reported within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
}

/** Poll mode: every agent's GET /status until all name `version`; the time the last one did. */
async function allByStatus(agents: AgentProc[], version: string, timeoutMs: number): Promise<number> {
  const done = new Map<string, number>();
  const deadline = performance.now() + timeoutMs;
  while (done.size < agents.length) {
    if (performance.now() > deadline) throw new Error(`version ${version}: ${done.size}/${agents.length} agents applied within ${timeoutMs} ms`);
    await Promise.all(
      agents
        .filter((a) => !done.has(a.id))
        .map(async (a) => {
          const s = (await fetch(`http://127.0.0.1:${a.httpPort}/status`).then((r) => r.json())) as { applied: Array<{ name: string; version: string }> };
          if (s.applied.find((x) => x.name === GW)?.version === version) done.set(a.id, performance.now());
        }),
    );
    if (done.size < agents.length) await sleep(50);
  }
  return Math.max(...done.values());
}

interface Api {
  put(path: string, body: unknown): Promise<{ status: number; version: string; text: string }>;
}

function apiOf(base: string, token: string): Api {
  return {
    put: async (path, body) => {
      const res = await fetch(base + path, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, version: res.ok ? (JSON.parse(text) as { version: string }).version : '', text };
    },
  };
}

const gwPath = `/api/v1/namespaces/${NS.org}/${NS.env}/gateways/${GW}`;

async function startControl(o: { dir: string; vaultUrl: string; natsUrl: string | null; tag: string }): Promise<{ running: RunningControl; api: Api }> {
  const [port] = await freePorts(1);
  const token = `weir_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const running = await runControlWithNats({
    WEIR_STORE: 'vault:secret',
    VAULT_ADDR: o.vaultUrl,
    VAULT_TOKEN: 'root',
    WEIR_CONTROL_ADDR: `127.0.0.1:${port}`,
    WEIR_CONTROL_STATE_DIR: join(o.dir, `control-${o.tag}`),
    WEIR_ADMIN_TOKEN: token,
    WEIR_LOG_LEVEL: 'error',
    WEIR_NATS_URL: o.natsUrl ?? '',
  });
  return { running, api: apiOf(`http://127.0.0.1:${port}`, token) };
}

/** One mode for one N: create the gateway, wait until all applied it, then `writes` weight changes. */
interface Samples {
  /** Write start → all agents applied. */
  applied: number[];
  /** Write start → API answered. */
  answered: number[];
  /** Write start → gateways.changed event received here (NATS mode). */
  announced: number[];
  /** CPU ms per write: mean over agents (agent process only, not HAProxy), and this process (control API + Vault double + measuring). */
  agentCpuPerWrite: number;
  /** The kernel's share of agentCpuPerWrite (file writes, fsync, sockets). */
  agentSysPerWrite: number;
  /** CPU ms per write of each agent's HAProxy (master + workers), mean over agents. */
  haproxyCpuPerWrite: number;
  benchCpuPerWrite: number;
  /** 1-minute load average when the writes ended. */
  load: number;
}

async function measure(mode: 'nats' | 'poll', n: number, writes: number, o: { dir: string; vault: VaultKv2Double; nats: NatsHarness; pollMs: number }): Promise<Samples> {
  const tag = `${mode}${n}`;
  const natsUrl = mode === 'nats' ? o.nats.url : null;
  const control = await startControl({ dir: o.dir, vaultUrl: o.vault.url, natsUrl, tag });
  let nc: NatsConnection | undefined;
  let agents: AgentProc[] = [];
  try {
    progress(`convergence: ${mode}, ${n} agent(s): starting`);
    agents = await startAgents(n, { dir: join(o.dir, tag), vaultUrl: o.vault.url, natsUrl, pollMs: o.pollMs, tag });
    nc = await connect({ servers: o.nats.url });
    const watch = new StatusWatch(nc);
    const ids = agents.map((a) => a.id);
    const applied = (version: string, timeoutMs: number): Promise<number> => (mode === 'nats' ? watch.all(version, ids, timeoutMs) : allByStatus(agents, version, timeoutMs));
    const created = await control.api.put(gwPath, { port: 8080, routes: { v1: { weight: 100, targets: ['127.0.0.1:9'] }, v2: { weight: 0, targets: ['127.0.0.1:10'] } } });
    if (created.status !== 200 && created.status !== 201) throw new Error(`create: HTTP ${created.status} ${created.text}`);
    await applied(created.version, o.pollMs * 3 + 30_000);
    const samples: Samples = { applied: [], answered: [], announced: [], agentCpuPerWrite: NaN, agentSysPerWrite: NaN, haproxyCpuPerWrite: NaN, benchCpuPerWrite: NaN, load: NaN };
    const cpu0 = agents.map((a) => cpuMs(a.child.pid));
    const hapPids = agents.map((a) => haproxyPids(a.stateDir));
    const hap0 = hapPids.map(haproxyCpuMs);
    const self0 = process.cpuUsage();
    for (let i = 0; i < writes; i++) {
      // A random phase against the agents' poll timers and heartbeats: writing right after the
      // previous apply (which, in poll mode, happened at a poll tick) would always wait a full interval.
      await sleep(mode === 'poll' ? Math.random() * o.pollMs : 50 + Math.random() * 200);
      const w = (i * 7 + 13) % 99 + 1;
      const t0 = performance.now();
      const r = await control.api.put(`${gwPath}/weights`, { v1: w, v2: 100 - w });
      const tAnswer = performance.now();
      if (r.status !== 200) throw new Error(`write ${i}: HTTP ${r.status} ${r.text}`);
      const t1 = await applied(r.version, o.pollMs * 3 + 10_000);
      samples.applied.push(t1 - t0);
      samples.answered.push(tAnswer - t0);
      const ann = watch.announced.get(r.version);
      if (ann !== undefined) samples.announced.push(ann - t0);
    }
    const cpu1 = agents.map((a) => cpuMs(a.child.pid));
    const spent = (pick: (c: { user: number; sys: number }) => number): number => cpu1.reduce((sum, c, i) => sum + pick(c) - pick(cpu0[i] ?? { user: NaN, sys: NaN }), 0) / agents.length / writes;
    samples.agentCpuPerWrite = spent((c) => c.user + c.sys);
    samples.agentSysPerWrite = spent((c) => c.sys);
    samples.haproxyCpuPerWrite = hapPids.map(haproxyCpuMs).reduce((sum, after, i) => sum + cpuBetween(hap0[i] ?? new Map(), after), 0) / agents.length / writes;
    const self = process.cpuUsage(self0);
    samples.benchCpuPerWrite = (self.user + self.system) / 1000 / writes;
    samples.load = loadavg()[0] ?? NaN;
    progress(`convergence: ${mode}, ${n} agent(s): p50 ${fmt(summary(samples.applied).p50)} ms, p99 ${fmt(summary(samples.applied).p99)} ms over ${samples.applied.length}`);
    return samples;
  } finally {
    await nc?.close().catch(() => undefined);
    await stopAgents(agents);
    await control.running.close();
  }
}

export async function runConvergenceBench(opts: ConvergenceOptions = {}): Promise<string> {
  const ns = opts.agents ?? (process.env.CONV_AGENTS ?? '1,5,20').split(',').map(Number);
  const writes = opts.writes ?? Number(process.env.CONV_WRITES ?? 30);
  const pollWrites = opts.pollWrites ?? Number(process.env.CONV_POLL_WRITES ?? 8);
  const pollMs = opts.pollIntervalMs ?? Number(process.env.CONV_POLL_MS ?? 5000);
  const facts = machine();
  const tmp = await tempDir('weir-bench-conv-');
  const vault = new VaultKv2Double({ mount: 'secret' });
  await vault.start();
  const nats = await startNatsServer();
  const rows: Array<Array<string | number>> = [];
  const raw: Record<string, Samples> = {};
  const parts: Array<Array<string | number>> = [];
  try {
    for (const n of ns) {
      const viaNats = await measure('nats', n, writes, { dir: tmp.path, vault, nats, pollMs });
      const viaPoll = pollWrites > 0 ? await measure('poll', n, pollWrites, { dir: tmp.path, vault, nats, pollMs }) : { applied: [], answered: [], announced: [], agentCpuPerWrite: NaN, agentSysPerWrite: NaN, haproxyCpuPerWrite: NaN, benchCpuPerWrite: NaN, load: NaN };
      raw[`nats-${n}`] = viaNats;
      raw[`poll-${n}`] = viaPoll;
      const a = summary(viaNats.applied);
      const b = summary(viaPoll.applied);
      rows.push([n, a.n, fmt(a.p50), fmt(a.p99), fmt(a.max), fmt(viaNats.load), b.n, b.n ? fmt(b.p50) : 'n/a', b.n ? fmt(b.p99) : 'n/a', b.n ? fmt(b.max) : 'n/a']);
      const ans = summary(viaNats.answered);
      const ann = summary(viaNats.announced);
      parts.push([n, `${fmt(ans.p50)} / ${fmt(ans.p99)}`, `${fmt(ann.p50)} / ${fmt(ann.p99)}`, `${fmt(a.p50)} / ${fmt(a.p99)}`, `${fmt(viaNats.agentCpuPerWrite)} (${fmt(viaNats.agentSysPerWrite)})`, fmt(viaNats.haproxyCpuPerWrite), fmt(viaNats.benchCpuPerWrite), fmt((viaNats.agentCpuPerWrite + viaNats.haproxyCpuPerWrite) * n + viaNats.benchCpuPerWrite, 0)]);
    }
  } finally {
    await nats.dispose();
    await vault.stop();
    await tmp.remove();
  }
  const md = [
    '## Convergence: API write → applied on N agents (NATS events vs. 5 s polling)',
    '',
    `Run: ${facts.date}; ${facts.nproc} CPUs (${facts.cpu}), ${facts.memory}; ${facts.haproxy}; Node ${facts.node}; load average at start ${facts.loadavgAtStart}.`,
    '',
    table(['agents', 'NATS writes', 'NATS p50 ms', 'NATS p99 ms', 'NATS max ms', 'load (1 min) after NATS run', `poll (${pollMs / 1000} s) writes`, 'poll p50 ms', 'poll p99 ms', 'poll max ms'], rows),
    '',
    'Where the time goes in NATS mode (p50 / p99 ms from the write\'s start):',
    '',
    table(['agents', 'API answered', 'change event received', 'all agents applied', 'CPU ms / write / agent (of which kernel)', 'CPU ms / write / agent\'s HAProxy', 'CPU ms / write, control+Vault+bench', 'CPU ms / write, total'], parts),
    '',
  ].join('\n');
  await writeResult('convergence', { machine: facts, pollMs, writes, pollWrites, samplesMs: raw }, md);
  return md;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runConvergenceBench().then(
    (md) => {
      process.stdout.write(`${md}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`convergence bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
