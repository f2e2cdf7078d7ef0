// Shared pieces of the fault drills (bench/drills/): agents as real `weir agent` processes,
// HAProxy started the way deploy/kubernetes starts it, the load generator, the master's view,
// and the report every drill prints and writes. A drill stops by itself and says what it did
// and what it counted; it never asserts on time.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MasterClient } from '../../agent/haproxy/master-client.js';
import { packageRoot } from '../../runtime/package-root.js';
import { get } from '../../test/harness/http.js';
import type { LoadStats } from '../../test/harness/load.js';
import { waitFor } from '../../test/harness/tmp.js';
import { HAPROXY_BIN, RESULTS_DIR, stopper } from '../lib.js';

export const CLI = join(packageRoot(), 'dist', 'cli', 'main.js');

export function say(msg: string): void {
  process.stderr.write(`[drill ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export interface DrillReport {
  name: string;
  /** What the drill did, step by step, in words. */
  did: string[];
  counts: Record<string, number | string>;
  /** Whether the drill's own criteria held (e.g. 0 failed requests). */
  passed: boolean;
  /** Why not, when it did not. */
  failures: string[];
  load: string;
}

/** The report of a drill that counted `counts`: passed when `failures` is empty. */
export function finish(name: string, did: string[], counts: DrillReport['counts'], failures: string[]): DrillReport {
  return { name, did, counts, passed: failures.length === 0, failures, load: loadNow() };
}

export function loadNow(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}

export async function writeReport(r: DrillReport): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const base = join(RESULTS_DIR, `drill-${r.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await writeFile(`${base}.json`, JSON.stringify(r, null, 2));
  await writeFile(`${base}.md`, formatReport(r));
  return base;
}

export function formatReport(r: DrillReport): string {
  return [
    `## drill ${r.name}: ${r.passed ? 'passed' : 'FAILED'}`,
    '',
    ...r.did.map((d) => `- ${d}`),
    '',
    '| count | value |',
    '| --- | --- |',
    ...Object.entries(r.counts).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    `uptime load at the end: ${r.load}`,
    ...(r.failures.length > 0 ? ['', ...r.failures.map((f) => `FAILED: ${f}`)] : []),
    '',
  ].join('\n');
}

/** Failures of a load run as one line (`ECONNRESET×2, HTTP 503 …×1`), or `none`. */
export const reasons = (s: LoadStats): string => Object.entries(s.reasons).map(([k, v]) => `${k}×${v}`).join(', ') || 'none';

export interface AgentProc {
  child: ChildProcess;
  httpPort: number;
  log: () => string;
  /** SIGTERM, then waits for the exit (SIGKILL after 20 s). */
  stop: () => Promise<void>;
}

/** `weir agent` as a process, started with `env` on top of this process's; resolves once /readyz is 200. */
export async function startAgentProcess(env: Record<string, string>, httpPort: number, readyTimeoutMs = 30_000): Promise<AgentProc> {
  const child = spawn(process.execPath, [CLI, 'agent'], { env: { ...process.env, ...env, WEIR_HTTP_ADDR: `127.0.0.1:${httpPort}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const stop = stopper(child, 'SIGTERM', 20_000);
  try {
    await waitFor(async () => (await get(`http://127.0.0.1:${httpPort}/readyz`, {}, 2000)).status === 200 || (child.exitCode !== null ? Promise.reject(new Error('agent exited')) : false), { what: 'agent ready', timeoutMs: readyTimeoutMs, intervalMs: 50 });
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${out.slice(-3000)}`);
  }
  return { child, httpPort, log: () => out, stop };
}

export async function agentStatus(httpPort: number): Promise<{ applied: Array<{ name: string; version: string }>; ready: boolean; pendingReload: boolean; haproxy: { pid: number | null; adopted: boolean } } & Record<string, unknown>> {
  return JSON.parse((await get(`http://127.0.0.1:${httpPort}/status`)).body);
}

/** The master's PID, reload count and current workers (retried: the socket is away while it re-executes). */
export async function masterInfo(socket: string): Promise<{ pid: number; reloads: number; workers: number[] }> {
  return waitFor(
    async () => {
      const m = new MasterClient({ socket });
      try {
        const p = await m.showProc();
        return { pid: p.master.pid, reloads: p.master.reloads, workers: p.workers.map((w) => w.pid) };
      } finally {
        m.close();
      }
    },
    { what: `master CLI ${socket}`, timeoutMs: 15_000 },
  );
}

export interface HaproxyContainer {
  pid: () => number | undefined;
  stop: () => Promise<void>;
}

/**
 * HAProxy started exactly as the weir-haproxy container of deploy/kubernetes starts it: the
 * container's script from haproxy-daemonset.yaml, with /var/lib/weir replaced by `stateDir`.
 */
export function startHaproxyContainer(stateDir: string): HaproxyContainer {
  const docs = parseAllDocuments(readFileSync(join(packageRoot(), 'deploy', 'kubernetes', 'haproxy-daemonset.yaml'), 'utf8')).map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Array<{ command: string[]; args: string[] }> } } } });
  const c = docs.find((d) => d.kind === 'DaemonSet')?.spec?.template?.spec?.containers?.[0];
  if (!c) throw new Error('haproxy-daemonset.yaml has no container');
  const script = (c.args[0] ?? '').split('/var/lib/weir').join(stateDir).replace(/\bexec haproxy\b/, `exec ${HAPROXY_BIN}`);
  const child = spawn(c.command[0] ?? '/bin/sh', [...c.command.slice(1), script], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  return {
    pid: () => child.pid,
    stop: stopper(child, 'SIGUSR1', 10_000), // SIGUSR1: the preStop hook's soft stop
  };
}

/** Kills a kept HAProxy by the PID in its pid file (drills that let the agent spawn it detached). */
export function killPidFile(pidFile: string): void {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim().split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGTERM');
  } catch {
    // gone already
  }
}

export const envInt = (name: string, def: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: "${raw}" is not a whole number`);
  return n;
};
