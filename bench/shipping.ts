// Shipping to Elasticsearch, end to end, against the real alternative (issue 9 §4), one run side by side:
//   ship-cpu: CPU per line, UDP receive → bulk request sent and acknowledged, of a real `weir agent` with its
//     default settings plus WEIR_ELASTICSEARCH_URL, and of rsyslogd (imudp → mmjsonparse → omelasticsearch)
//     fed the same lines by the same paced sender into the same fast bulk endpoint (bench/fast-bulk.ts).
// Processes (127.0.0.1, stopped by PID): this orchestrator; the fast bulk endpoint; the UDP sender (a
// log-pipeline.ts child); the agent (and its HAProxy, which serves no traffic here); rsyslogd.
// CPU is read from /proc/<pid>/stat (utime + stime, all threads) of the agent process and of rsyslogd.
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgentProcess, processCpuSeconds, type AgentProc } from './agent-proc.js';
import { envInt, fmt, freePorts, machine, median, progress, sleep, table, tempDir, writeResult } from './lib.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const RSYSLOGD = process.env.WEIR_RSYSLOGD ?? '/usr/sbin/rsyslogd';

// ---- the fast bulk endpoint ----

export interface BulkEndpoint {
  port: number;
  pid: number;
  /** Documents received per index. */
  counts: () => Promise<Record<string, number>>;
  stop: () => Promise<void>;
}

function nodeArgs(file: string): string[] {
  return import.meta.url.endsWith('.ts') ? ['--import', 'tsx', join(HERE, `${file}.ts`)] : [join(HERE, `${file}.js`)];
}

export async function startFastBulk(): Promise<BulkEndpoint> {
  const child = spawn(process.execPath, nodeArgs('fast-bulk'), { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`fast-bulk exited (${c})`)));
  });
  return {
    port,
    pid: child.pid!,
    counts: async () => ((await (await fetch(`http://127.0.0.1:${port}/__counts`)).json()) as { indices: Record<string, number> }).indices,
    stop: () => stopProc(child),
  };
}

async function stopProc(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

export const sumPrefix = (c: Record<string, number>, prefix: string): number => Object.entries(c).reduce((n, [k, v]) => (k.startsWith(prefix) ? n + v : n), 0);

// ---- rsyslogd: imudp → mmjsonparse → omelasticsearch ----

export const RSYSLOG_INDEX = 'rsyslog-haproxy';

/**
 * The usual rsyslog pipeline for JSON access logs: the message (HAProxy's JSON) parsed by mmjsonparse
 * (cookie "" = the whole message is JSON), the parsed tree shipped as the document by omelasticsearch in
 * bulk mode, 2000 per request (the agent's batch size), through a linked-list action queue.
 */
export function rsyslogConfig(dir: string, udpPort: number, esPort: number): string {
  return `global(workDirectory="${dir}" maxMessageSize="8k")
module(load="imudp")
module(load="mmjsonparse")
module(load="omelasticsearch")
template(name="weir-doc" type="subtree" subtree="$!")
ruleset(name="ship") {
  action(type="mmjsonparse" cookie="")
  action(type="omelasticsearch" server="127.0.0.1" serverport="${esPort}" template="weir-doc" searchIndex="${RSYSLOG_INDEX}"
         esVersion.major="8" bulkmode="on" maxbytes="16m" queue.type="linkedlist" queue.size="200000" queue.dequeuebatchsize="2000"
         action.resumeretrycount="-1")
}
input(type="imudp" address="127.0.0.1" port="${udpPort}" ruleset="ship")
`;
}

export interface Rsyslog {
  pid: number;
  cpu: () => number;
  stop: () => Promise<void>;
}

export async function startRsyslog(dir: string, config: string): Promise<Rsyslog> {
  const conf = join(dir, 'rsyslog.conf');
  await writeFile(conf, config);
  const child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  await sleep(700);
  if (child.exitCode !== null) throw new Error(`rsyslogd exited (${child.exitCode}): ${err}`);
  if (/error/i.test(err)) progress(`rsyslogd: ${err.trim()}`);
  const pid = child.pid!;
  return { pid, cpu: () => processCpuSeconds(pid), stop: () => stopProc(child) };
}

// ---- the paced UDP sender (log-pipeline.ts's sender role: the captured line with varying fields) ----

export interface Sender {
  send: (port: number, rate: number, seconds: number, first: number) => Promise<{ sent: number; seconds: number; errors: number }>;
  stop: () => Promise<void>;
}

export function startSender(): Sender {
  const argv = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = fork(join(HERE, import.meta.url.endsWith('.ts') ? 'log-pipeline.ts' : 'log-pipeline.js'), [], { execArgv: argv, env: { ...process.env, BENCH_LP_ROLE: 'sender' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    send: (port, rate, seconds, first) =>
      new Promise((resolve, reject) => {
        const onMsg = (m: { re?: string; error?: string; sent: number; seconds: number; errors: number }): void => {
          if (m.re !== 'send') return;
          child.off('message', onMsg);
          if (m.error) reject(new Error(m.error));
          else resolve(m);
        };
        child.on('message', onMsg);
        child.send({ cmd: 'send', port, rate, seconds, first });
      }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.send({ cmd: 'exit' });
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** Waits until `count()` reaches `want` or stops growing for `stallMs`; returns the last value. */
export async function waitCount(count: () => Promise<number>, want: number, stallMs = 3000, maxMs = 120_000): Promise<number> {
  const t0 = Date.now();
  let last = -1;
  let since = Date.now();
  for (;;) {
    const n = await count();
    if (n >= want) return n;
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since > stallMs || Date.now() - t0 > maxMs) return n;
    await sleep(50);
  }
}

/** CPU seconds of a process's main thread (the task whose id is the pid): the rest is V8's GC helpers and libuv's pool. */
export function mainThreadCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
export const loadavg = (): string => machine().loadavgAtStart ?? '';

/** A gateway whose routes match the sender's lines (backend shop:blue / shop:green); its upstreams are never called. */
const SHOP = (port: number): string =>
  `name: shop\nport: ${port}\nroutes:\n  blue:\n    weight: 90%\n    targets: ["127.0.0.1:9"]\n  green:\n    weight: 10%\n    targets: ["127.0.0.1:9"]\n`;

interface CpuRow {
  lines: number;
  shipped: number;
  cpuS: number;
  idleCpuS: number;
  /** Of cpuS, the main thread's (JS, syscalls); the rest ran on other threads (GC helpers, I/O pool). */
  mainS: number;
  seconds: number;
  load: string;
}

export async function shipCpu(): Promise<string> {
  const rate = envInt('BENCH_SHIP_RATE', 25_000);
  const seconds = envInt('BENCH_SHIP_SECONDS', 10);
  const runs = envInt('BENCH_SHIP_RUNS', 3);
  const info = machine();
  const tmp = await tempDir('weir-bench-ship-');
  const es = await startFastBulk();
  const sender = startSender();
  let agent: AgentProc | null = null;
  let rsyslog: Rsyslog | null = null;
  const rows: { agent: CpuRow[]; rsyslog: CpuRow[] } = { agent: [], rsyslog: [] };
  try {
    const [agentUdp = 0, rsyslogUdp = 0, gwPort = 0] = await freePorts(3);
    agent = await startAgentProcess(join(tmp.path, 'agent'), { shop: SHOP(gwPort) }, {
      WEIR_ELASTICSEARCH_URL: `http://127.0.0.1:${es.port}`,
      WEIR_LOG_UDP_ADDR: `127.0.0.1:${agentUdp}`,
    });
    rsyslog = await startRsyslog(tmp.path, rsyslogConfig(tmp.path, rsyslogUdp, es.port));
    const agentDocs = async (): Promise<number> => sumPrefix(await es.counts(), 'weir-logs-');
    const rsyslogDocs = async (): Promise<number> => sumPrefix(await es.counts(), RSYSLOG_INDEX);
    let first = 0;
    const one = async (name: 'agent' | 'rsyslog', pid: number, port: number, cpu: () => number, docs: () => Promise<number>, n: number): Promise<CpuRow> => {
      // What the process spends with no lines over the same time (timers, scrapes), for the idle-subtracted figure.
      const i0 = cpu();
      await sleep(2000);
      const idlePerS = (cpu() - i0) / 2;
      const d0 = await docs();
      const c0 = cpu();
      const m0 = mainThreadCpu(pid);
      const t0 = performance.now();
      const load = loadavg();
      const s = await sender.send(port, rate, seconds, first);
      first += s.sent;
      const got = await waitCount(docs, d0 + s.sent);
      const el = (performance.now() - t0) / 1000;
      const row: CpuRow = { lines: s.sent, shipped: got - d0, cpuS: cpu() - c0, idleCpuS: idlePerS * el, mainS: mainThreadCpu(pid) - m0, seconds: el, load };
      progress(`  ${name} run ${n}: ${row.shipped}/${row.lines} shipped in ${fmt(el, 1)} s, ${fmt((row.cpuS / row.shipped) * 1e6, 2)} µs CPU/line (load ${load})`);
      return row;
    };
    // Warm-up: JIT, template install, rsyslog's connection.
    progress('warm-up');
    await sender.send(agentUdp, rate, 2, first);
    await sender.send(rsyslogUdp, rate, 2, (first += rate * 2));
    first += rate * 2;
    await sleep(3000);
    for (let r = 1; r <= runs; r++) {
      rows.agent.push(await one('agent', agent.pid, agentUdp, agent.agentCpu, agentDocs, r));
      rows.rsyslog.push(await one('rsyslog', rsyslog.pid, rsyslogUdp, rsyslog.cpu, rsyslogDocs, r));
    }
  } finally {
    await agent?.stop();
    await rsyslog?.stop();
    await sender.stop();
    await es.stop();
    await tmp.remove();
  }
  const per = (r: CpuRow): number => (r.cpuS / r.shipped) * 1e6;
  const net = (r: CpuRow): number => (Math.max(0, r.cpuS - r.idleCpuS) / r.shipped) * 1e6;
  const a = median(rows.agent.map(per));
  const s = median(rows.rsyslog.map(per));
  const ratios = rows.agent.map((r, i) => per(rows.rsyslog[i]!) / per(r));
  const out: string[] = [];
  out.push(`${runs} alternating runs of ${rate} lines/s × ${seconds} s over UDP (loopback) per pipeline; load average per run: ${rows.agent.map((r, i) => `${r.load} / ${rows.rsyslog[i]!.load}`).join('; ')}.`, '');
  const rowOf = (name: string, rs: CpuRow[]): Array<string | number> => [
    name,
    `**${fmt(median(rs.map(per)), 2)}** (${fmt(Math.min(...rs.map(per)), 2)}–${fmt(Math.max(...rs.map(per)), 2)})`,
    fmt(median(rs.map(net)), 2),
    `${fmt(median(rs.map((r) => (r.mainS / r.cpuS) * 100)), 0)} %`,
    fmt(1e6 / median(rs.map(per)) / 1000, 0),
    `${rs.reduce((n, r) => n + r.shipped, 0)}/${rs.reduce((n, r) => n + r.lines, 0)}`,
  ];
  out.push(
    table(
      ['pipeline', 'CPU µs/line (median, range)', 'idle-subtracted µs/line', 'on the main thread', 'k lines/s per core', 'documents acknowledged / lines sent'],
      [rowOf('weir agent (defaults + WEIR_ELASTICSEARCH_URL, UDP source)', rows.agent), rowOf('rsyslogd imudp → mmjsonparse → omelasticsearch', rows.rsyslog)],
    ),
  );
  out.push('', `rsyslog ÷ agent CPU per line: **${fmt(s / a, 2)}×** (per run: ${ratios.map((x) => fmt(x, 2)).join(', ')})`);
  const md = out.join('\n');
  const base = await writeResult('ship-cpu', { machine: info, rate, seconds, runs, rows }, md);
  return `${md}\n\nresults: ${base}.{json,md}`;
}
