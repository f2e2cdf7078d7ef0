// Shared pieces of the benchmarks: HAProxy processes started and stopped by PID, wrk,
// small statistics, progress on stderr and result files. Benchmarks measure and write;
// they never assert on time.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { cpus, tmpdir, totalmem, loadavg } from 'node:os';
import { join } from 'node:path';

export const HAPROXY_BIN = process.env.WEIR_HAPROXY_BIN ?? '/usr/sbin/haproxy';

export const envInt = (name: string, def: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: "${raw}" is not a non-negative number`);
  return n;
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function machine(): Record<string, string> {
  const first = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]?.trim() ?? '';
    } catch {
      return 'unknown';
    }
  };
  return {
    date: new Date().toISOString(),
    nproc: String(cpus().length),
    cpu: cpus()[0]?.model ?? 'unknown',
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    haproxy: first(HAPROXY_BIN, ['-v']),
    node: process.version,
    wrk: (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0]?.trim() || 'wrk',
    kernel: first('uname', ['-r']),
    loadavgAtStart: loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

// ---- statistics ----

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest-rank: the smallest value with at least q of the samples at or below it.
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] ?? NaN;
}

export function summary(values: number[]): { n: number; p50: number; p90: number; p99: number; max: number; min: number; mean: number } {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, min: s[0] ?? NaN, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s[s.length - 1] ?? NaN, mean };
}

export const median = (values: number[]): number => quantile([...values].sort((a, b) => a - b), 0.5);

export const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

// ---- temp dirs and ports ----

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export function freePort(host = '127.0.0.1', port = 0): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen(port, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(addr && typeof addr !== 'string' ? addr.port : null));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) {
    const p = await freePort();
    if (p) out.add(p);
  }
  return [...out];
}

/** `n` ports from `base` upwards that are free right now (below the ephemeral range by default). */
export async function portRange(n: number, base: number): Promise<number[]> {
  const out: number[] = [];
  for (let p = base; out.length < n && p < 65536; p++) if ((await freePort('127.0.0.1', p)) === p) out.push(p);
  if (out.length < n) throw new Error(`only ${out.length} free ports from ${base}`);
  return out;
}

export function waitPort(port: number, timeoutMs = 30_000, opts: { gone?: () => boolean } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline || opts.gone?.()) reject(new Error(`port ${port} not listening after ${timeoutMs} ms`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

// ---- HAProxy processes (foreground, stopped by PID) ----

export interface HaproxyProc {
  pid: number;
  child: ChildProcess;
  stop: () => Promise<void>;
  stderr: () => string;
}

/**
 * The stop of a child the benchmark started: killed if the benchmark exits first; `stop()` sends
 * `signal`, SIGKILLs after `killAfterMs`, and resolves once the child has exited.
 */
export function stopper(child: ChildProcess, signal: NodeJS.Signals, killAfterMs: number): () => Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const killOnExit = (): void => {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  return async () => {
    process.off('exit', killOnExit);
    if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const t = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), killAfterMs);
    await exited;
    clearTimeout(t);
  };
}

export async function runHaproxy(cfgPath: string, readyPorts: number[], extraArgs: string[] = []): Promise<HaproxyProc> {
  const child = spawn(HAPROXY_BIN, ['-db', '-f', cfgPath, ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const stop = stopper(child, 'SIGTERM', 3000);
  try {
    for (const p of readyPorts) await waitPort(p, 10_000, { gone: () => child.exitCode !== null });
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}; haproxy stderr: ${err}`);
  }
  if (!child.pid) throw new Error('haproxy did not start');
  return { pid: child.pid, child, stop, stderr: () => err };
}

/** The upstream both configs share: one HAProxy process answering 200 on each port, body = name. */
export function upstreamConfig(ports: Array<{ port: number; name: string }>, nbthread: number | null): string {
  return [
    'global',
    nbthread ? `  nbthread ${nbthread}` : '',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 50s',
    '  timeout server 50s',
    '  timeout http-keep-alive 10s',
    ...ports.flatMap(({ port, name }) => [
      `frontend up_${name}`,
      `  bind 127.0.0.1:${port}`,
      `  http-request return status 200 content-type text/plain string "${name}"`,
    ]),
    '',
  ]
    .filter((l) => l !== '')
    .join('\n') + '\n';
}

export async function startUpstreams(dir: string, names: string[], nbthread: number | null = null): Promise<{ ports: Record<string, number>; proc: HaproxyProc }> {
  const ps = await freePorts(names.length);
  const ports: Record<string, number> = {};
  names.forEach((n, i) => (ports[n] = ps[i] ?? 0));
  const cfg = join(dir, 'upstream.cfg');
  await writeFile(cfg, upstreamConfig(names.map((name) => ({ name, port: ports[name] ?? 0 })), nbthread));
  const proc = await runHaproxy(cfg, ps);
  return { ports, proc };
}

// ---- wrk ----

export interface WrkResult {
  rps: number;
  requests: number;
  errors: number;
  non2xx: number;
  latencyAvgMs: number;
  latencyP99Ms: number;
  /** Filled in by the caller: HAProxy CPU time per request, µs. */
  cpuUsPerReq?: number;
  raw: string;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

export async function wrk(url: string, opts: { seconds: number; threads: number; connections: number; headers?: string[] }): Promise<WrkResult> {
  const args = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency', ...(opts.headers ?? []).flatMap((h) => ['-H', h]), url];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const killOnExit = (): void => {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  process.off('exit', killOnExit);
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${out}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const lat = /Latency\s+([\d.]+)(us|ms|s|m)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s|m)/.exec(out);
  return {
    rps,
    requests,
    errors,
    non2xx,
    latencyAvgMs: lat ? toMs(lat[1] ?? '', lat[2] ?? '') : NaN,
    latencyP99Ms: p99 ? toMs(p99[1] ?? '', p99[2] ?? '') : NaN,
    raw: out,
  };
}

// ---- /proc ----

/** Resident set size of a process in KiB (VmRSS), or NaN when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) of a process and its direct children, in seconds (from /proc, clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  const one = (p: number): number => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14, 15)
    } catch {
      return 0;
    }
  };
  return [pid, ...childrenOf(pid)].reduce((a, p) => a + one(p), 0);
}

export function childrenOf(pid: number): number[] {
  try {
    const out = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return out.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// ---- results ----

export const RESULTS_DIR = join(process.cwd(), '.cache', 'bench');

export async function writeResult(name: string, data: unknown, markdown: string): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const base = join(RESULTS_DIR, `${name}-${stamp}`);
  await writeFile(`${base}.json`, JSON.stringify(data, null, 2));
  await writeFile(`${base}.md`, markdown);
  return base;
}

/** Distribution of bodies over `n` keep-alive requests (sanity check that both routes answer). */
export async function sample(url: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const { Agent, request } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < n; i++) {
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(url, { agent, headers }, (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (b += d));
        res.on('end', () => resolve(res.statusCode === 200 ? b : `HTTP ${res.statusCode}`));
      });
      req.on('error', reject);
      req.end();
    });
    counts[body] = (counts[body] ?? 0) + 1;
  }
  agent.destroy();
  return counts;
}
