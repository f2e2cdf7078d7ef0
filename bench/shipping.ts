// Shipping to Elasticsearch, end to end, against the real alternative (issue 9 §4), one run side by side:
//   ship-cpu: CPU per line, UDP receive → bulk request sent and acknowledged, of a real `weir agent` with its
//     default settings plus WEIR_ELASTICSEARCH_URL, and of rsyslogd (imudp → mmjsonparse → omelasticsearch)
//     fed the same lines by the same paced sender into the same fast bulk endpoint (bench/fast-bulk.ts).
//     Both transports HAProxy can forward with (BENCH_SHIP_PROTOS, default udp,tcp): UDP datagrams into the
//     agent's default source and rsyslog's imudp; octet-counted TCP frames, batched per tick as HAProxy's
//     ring forwarder writes them, into the agent's ring source (WEIR_LOG_SOURCE=ring) and rsyslog's imtcp.
// Processes (127.0.0.1, stopped by PID): this orchestrator; the fast bulk endpoint; the UDP sender (a
// log-pipeline.ts child, UDP or TCP); the agent (and its HAProxy, which serves no traffic here); rsyslogd.
// CPU is read from /proc/<pid>/stat (utime + stime, all threads) of the agent process and of rsyslogd.
import { spawn, spawnSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgentProcess, processCpuSeconds, type AgentProc } from './agent-proc.js';
import { cpuSeconds, envInt, fmt, freePorts, machine, median, progress, rssKiB, runHaproxy, sleep, startUpstreams, table, tempDir, wrk, writeResult } from './lib.js';

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
export function rsyslogConfig(dir: string, udpPort: number, esPort: number, tcpPort?: number): string {
  return `global(workDirectory="${dir}" maxMessageSize="8k")
module(load="imudp")${tcpPort === undefined ? '' : '\nmodule(load="imtcp")'}
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
${tcpPort === undefined ? '' : `input(type="imtcp" address="127.0.0.1" port="${tcpPort}" ruleset="ship" supportOctetCountedFraming="on")\n`}`;
}

export interface Rsyslog {
  pid: number;
  cpu: () => number;
  stop: () => Promise<void>;
}

/**
 * The benchmark's setup for rsyslog, as scripts/ensure-system-deps.sh does for the test harness: Debian's
 * `rsyslog` and `rsyslog-elasticsearch` (omelasticsearch) installed with apt-get when missing.
 */
export function ensureRsyslogElasticsearch(): void {
  const installed = (pkg: string): boolean => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed') ?? false;
  const need = ['rsyslog', 'rsyslog-elasticsearch'].filter((p) => !installed(p));
  if (need.length === 0) return;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  progress(`installing ${need.join(' ')} with apt-get`);
  const run = (args: string[]): void => {
    const r = spawnSync(sudo[0] ?? args[0]!, sudo.length ? args : args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status ?? r.signal}); install ${need.join(' ')} (Debian packages) and re-run`);
  };
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', ...need]);
}

export async function startRsyslog(dir: string, config: string): Promise<Rsyslog> {
  ensureRsyslogElasticsearch();
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
  /** `proto` tcp: octet-counted frames over one connection, the lines of each ~1 ms tick in one write. */
  send: (port: number, rate: number, seconds: number, first: number, proto?: 'udp' | 'tcp') => Promise<{ sent: number; seconds: number; errors: number }>;
  stop: () => Promise<void>;
}

export function startSender(): Sender {
  const argv = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = fork(join(HERE, import.meta.url.endsWith('.ts') ? 'log-pipeline.ts' : 'log-pipeline.js'), [], { execArgv: argv, env: { ...process.env, BENCH_LP_ROLE: 'sender' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    send: (port, rate, seconds, first, proto = 'udp') =>
      new Promise((resolve, reject) => {
        const onMsg = (m: { re?: string; error?: string; sent: number; seconds: number; errors: number }): void => {
          if (m.re !== 'send') return;
          child.off('message', onMsg);
          if (m.error) reject(new Error(m.error));
          else resolve(m);
        };
        child.on('message', onMsg);
        child.send({ cmd: 'send', port, rate, seconds, first, proto });
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

/** One pipeline of ship-cpu: who receives, on which transport. */
interface CpuPipeline {
  key: string;
  name: string;
  proto: 'udp' | 'tcp';
  port: number;
  pid: () => number;
  cpu: () => number;
  docs: () => Promise<number>;
  agent: boolean;
}

export async function shipCpu(): Promise<string> {
  const rate = envInt('BENCH_SHIP_RATE', 25_000);
  const seconds = envInt('BENCH_SHIP_SECONDS', 10);
  const runs = envInt('BENCH_SHIP_RUNS', 3);
  // udp: the agent's default source (one datagram per line); tcp: its ring source (HAProxy ring → TCP).
  const protos = (process.env.BENCH_SHIP_PROTOS ?? 'udp,tcp').split(',').filter((p): p is 'udp' | 'tcp' => p === 'udp' || p === 'tcp');
  const info = machine();
  const tmp = await tempDir('weir-bench-ship-');
  const es = await startFastBulk();
  const sender = startSender();
  const agents: AgentProc[] = [];
  let rsyslog: Rsyslog | null = null;
  const pipelines: CpuPipeline[] = [];
  const rows = new Map<string, CpuRow[]>();
  try {
    const [agentUdp = 0, agentTcp = 0, rsyslogUdp = 0, rsyslogTcp = 0, gwUdp = 0, gwTcp = 0] = await freePorts(6);
    const agentDocs = async (): Promise<number> => sumPrefix(await es.counts(), 'weir-logs-');
    const rsyslogDocs = async (): Promise<number> => sumPrefix(await es.counts(), RSYSLOG_INDEX);
    rsyslog = await startRsyslog(tmp.path, rsyslogConfig(tmp.path, rsyslogUdp, es.port, protos.includes('tcp') ? rsyslogTcp : undefined));
    const r = rsyslog;
    for (const proto of protos) {
      const agent = await startAgentProcess(join(tmp.path, `agent-${proto}`), { shop: SHOP(proto === 'udp' ? gwUdp : gwTcp) }, {
        WEIR_ELASTICSEARCH_URL: `http://127.0.0.1:${es.port}`,
        // With Elasticsearch the default source is the ring (TCP); UDP is the agent's other push source.
        ...(proto === 'udp' ? { WEIR_LOG_SOURCE: 'udp', WEIR_LOG_UDP_ADDR: `127.0.0.1:${agentUdp}` } : { WEIR_LOG_TCP_ADDR: `127.0.0.1:${agentTcp}` }),
      });
      agents.push(agent);
      pipelines.push(
        proto === 'udp'
          ? { key: 'agent-udp', name: 'weir agent (+ WEIR_LOG_SOURCE=udp)', proto, port: agentUdp, pid: () => agent.pid, cpu: agent.agentCpu, docs: agentDocs, agent: true }
          : { key: 'agent-tcp', name: 'weir agent (defaults + WEIR_ELASTICSEARCH_URL: ring source, TCP octet-counted)', proto, port: agentTcp, pid: () => agent.pid, cpu: agent.agentCpu, docs: agentDocs, agent: true },
        proto === 'udp'
          ? { key: 'rsyslog-udp', name: 'rsyslogd imudp → mmjsonparse → omelasticsearch', proto, port: rsyslogUdp, pid: () => r.pid, cpu: r.cpu, docs: rsyslogDocs, agent: false }
          : { key: 'rsyslog-tcp', name: 'rsyslogd imtcp (octet-counted) → mmjsonparse → omelasticsearch', proto, port: rsyslogTcp, pid: () => r.pid, cpu: r.cpu, docs: rsyslogDocs, agent: false },
      );
    }
    let first = 0;
    const one = async (p: CpuPipeline, n: number): Promise<CpuRow> => {
      // What the process spends with no lines over the same time (timers, scrapes), for the idle-subtracted figure.
      const i0 = p.cpu();
      await sleep(2000);
      const idlePerS = (p.cpu() - i0) / 2;
      const d0 = await p.docs();
      const c0 = p.cpu();
      const m0 = mainThreadCpu(p.pid());
      const t0 = performance.now();
      const load = loadavg();
      const s = await sender.send(p.port, rate, seconds, first, p.proto);
      first += s.sent;
      const got = await waitCount(p.docs, d0 + s.sent);
      const el = (performance.now() - t0) / 1000;
      const row: CpuRow = { lines: s.sent, shipped: got - d0, cpuS: p.cpu() - c0, idleCpuS: idlePerS * el, mainS: mainThreadCpu(p.pid()) - m0, seconds: el, load };
      progress(`  ${p.key} run ${n}: ${row.shipped}/${row.lines} shipped in ${fmt(el, 1)} s, ${fmt((row.cpuS / row.shipped) * 1e6, 2)} µs CPU/line (load ${load})`);
      return row;
    };
    // Warm-up: JIT, template install, rsyslog's connections.
    progress('warm-up');
    for (const p of pipelines) {
      await sender.send(p.port, rate, 2, first, p.proto);
      first += rate * 2;
    }
    await sleep(3000);
    for (let n = 1; n <= runs; n++) for (const p of pipelines) rows.set(p.key, [...(rows.get(p.key) ?? []), await one(p, n)]);
  } finally {
    for (const a of agents) await a.stop();
    await rsyslog?.stop();
    await sender.stop();
    await es.stop();
    await tmp.remove();
  }
  const per = (r: CpuRow): number => (r.cpuS / r.shipped) * 1e6;
  const net = (r: CpuRow): number => (Math.max(0, r.cpuS - r.idleCpuS) / r.shipped) * 1e6;
  const out: string[] = [];
  out.push(`${runs} alternating runs of ${rate} lines/s × ${seconds} s per pipeline (loopback: ${protos.join(' and ')}); load average at the start of each run: ${pipelines.map((p) => `${p.key} ${(rows.get(p.key) ?? []).map((r) => r.load.split(' ')[0]).join('/')}`).join('; ')}.`, '');
  const rowOf = (p: CpuPipeline): Array<string | number> => {
    const rs = rows.get(p.key) ?? [];
    return [
      p.name,
      `**${fmt(median(rs.map(per)), 2)}** (${fmt(Math.min(...rs.map(per)), 2)}–${fmt(Math.max(...rs.map(per)), 2)})`,
      fmt(median(rs.map(net)), 2),
      p.agent ? `${fmt(median(rs.map((r) => (r.mainS / r.cpuS) * 100)), 0)} %` : '– (threads)',
      fmt(1e6 / median(rs.map(per)) / 1000, 0),
      `${rs.reduce((n, r) => n + r.shipped, 0)}/${rs.reduce((n, r) => n + r.lines, 0)}`,
    ];
  };
  out.push(table(['pipeline', 'CPU µs/line (median, range)', 'idle-subtracted µs/line', 'on the main thread', 'k lines/s per core', 'documents acknowledged / lines sent'], pipelines.map(rowOf)));
  out.push('');
  for (const proto of protos) {
    const ag = rows.get(`agent-${proto}`) ?? [];
    const rs = rows.get(`rsyslog-${proto}`) ?? [];
    const ratios = ag.map((r, i) => per(rs[i]!) / per(r));
    out.push(`${proto}: rsyslog ÷ agent CPU per line **${fmt(median(rs.map(per)) / median(ag.map(per)), 2)}×** (per run: ${ratios.map((x) => fmt(x, 2)).join(', ')})`);
  }
  const md = out.join('\n');
  const base = await writeResult('ship-cpu', { machine: info, rate, seconds, runs, protos, rows: Object.fromEntries(rows) }, md);
  return `${md}\n\nresults: ${base}.{json,md}`;
}

// ---- ship-data-plane: requests/s with every request shipped to Elasticsearch ----

/** Weir's log-format (haproxy-templates/defaults.liquid), so the hand-written config logs the same line. */
function weirLogFormat(): string {
  const root = import.meta.url.endsWith('.ts') ? join(HERE, '..') : join(HERE, '..', '..');
  const tpl = readFileSync(join(root, 'haproxy-templates', 'defaults.liquid'), 'utf8');
  const m = /^ {2}log-format .*$/m.exec(tpl);
  if (!m) throw new Error('defaults.liquid has no log-format line');
  return m[0];
}

/** The hand-written config of the data-plane bench, logging every request over UDP to `syslogPort` as Weir does. */
export function handConfigLogging(base: string, syslogPort: number): string {
  return base
    .replace(/^global\n/m, `global\n  log 127.0.0.1:${syslogPort} len 8192 format rfc5424 local0 info\n`)
    .replace(/^defaults\n/m, `defaults\n  log global\n${weirLogFormat()}\n`);
}

interface DpRow {
  rps: number;
  requests: number;
  /** CPU µs per request: HAProxy, and the log pipeline (agent or rsyslogd). */
  haproxyUs: number;
  pipelineUs: number;
  shipped: number;
  errors: number;
  load: string;
}

export async function shipDataPlane(): Promise<string> {
  const seconds = envInt('BENCH_SECONDS', 5);
  const runs = envInt('BENCH_RUNS', 5);
  const threads = envInt('BENCH_WRK_THREADS', 1);
  const connections = envInt('BENCH_WRK_CONNECTIONS', 32);
  const info = machine();
  const tmp = await tempDir('weir-bench-ship-dp-');
  const { handConfig } = await import('./throughput.js');
  const stops: Array<() => Promise<void>> = [];
  // The default log source with shipping (the ring: HAProxy ring → TCP), and UDP for reference.
  const weirs: Array<{ name: string; env: Record<string, string> }> = [
    { name: 'Weir: HAProxy ring → TCP → agent (defaults + WEIR_ELASTICSEARCH_URL)', env: {} },
    { name: 'Weir, WEIR_LOG_SOURCE=udp (HAProxy → UDP → agent)', env: { WEIR_LOG_SOURCE: 'udp' } },
  ];
  const rounds: Array<{ hand: DpRow; weir: DpRow[] }> = [];
  try {
    const es = await startFastBulk();
    stops.push(es.stop);
    const upstream = await startUpstreams(tmp.path, ['a', 'b']);
    stops.push(upstream.proc.stop);
    const [handPort = 0, rsyslogUdp = 0, ...weirPorts] = await freePorts(2 + weirs.length);
    const rsyslog = await startRsyslog(tmp.path, rsyslogConfig(tmp.path, rsyslogUdp, es.port));
    stops.push(rsyslog.stop);
    const cfg = join(tmp.path, 'hand.cfg');
    await writeFile(cfg, handConfigLogging(handConfig(handPort, upstream.ports, false, null), rsyslogUdp));
    const hand = await runHaproxy(cfg, [handPort]);
    stops.push(hand.stop);
    const gw = (weirPort: number): string => `name: shop\nport: ${weirPort}\nroutes:\n  a:\n    weight: 50%\n    targets: ["127.0.0.1:${upstream.ports.a}"]\n  b:\n    weight: 50%\n    targets: ["127.0.0.1:${upstream.ports.b}"]\n`;
    const agents: AgentProc[] = [];
    for (const [i, v] of weirs.entries()) {
      const agent = await startAgentProcess(join(tmp.path, `agent-${i}`), { shop: gw(weirPorts[i]!) }, { WEIR_ELASTICSEARCH_URL: `http://127.0.0.1:${es.port}`, ...v.env });
      stops.unshift(agent.stop);
      agents.push(agent);
    }
    const masters = await Promise.all(agents.map((a) => a.haproxyPid()));
    const url = (p: number): string => `http://127.0.0.1:${p}/`;
    const docs = async (prefix: string): Promise<number> => sumPrefix(await es.counts(), prefix);
    progress('warm-up');
    await wrk(url(handPort), { seconds: 2, threads, connections });
    for (const p of weirPorts) await wrk(url(p), { seconds: 2, threads, connections });
    await sleep(3000);
    // One side's round: wrk, then wait for its documents to land before the other side starts (its shipping
    // CPU is part of its cost and must not run during the other's round).
    const side = async (port: number, haproxyCpu: () => number, pipelineCpu: () => number, prefix: string): Promise<DpRow> => {
      const load = loadavg();
      const d0 = await docs(prefix);
      const h0 = haproxyCpu();
      const p0 = pipelineCpu();
      const w = await wrk(url(port), { seconds, threads, connections });
      const got = await waitCount(() => docs(prefix), d0 + w.requests, 3000, 60_000);
      return { rps: w.rps, requests: w.requests, haproxyUs: ((haproxyCpu() - h0) / w.requests) * 1e6, pipelineUs: ((pipelineCpu() - p0) / w.requests) * 1e6, shipped: got - d0, errors: w.errors + w.non2xx, load };
    };
    for (let r = 1; r <= runs; r++) {
      const h = await side(handPort, () => cpuSeconds(hand.pid), rsyslog.cpu, RSYSLOG_INDEX);
      const ws: DpRow[] = [];
      for (const [i, a] of agents.entries()) ws.push(await side(weirPorts[i]!, () => a.haproxyCpu(masters[i]!), a.agentCpu, 'weir-logs-'));
      rounds.push({ hand: h, weir: ws });
      progress(`round ${r}/${runs}: hand+rsyslog ${fmt(h.rps, 0)} req/s (${h.shipped}/${h.requests} shipped); ${ws.map((w, i) => `${weirs[i]!.name.slice(0, 24)}: ${fmt(w.rps, 0)} req/s (${w.shipped}/${w.requests} shipped) ${fmt(w.rps / h.rps, 3)}×`).join('; ')} (load ${h.load})`);
    }
  } finally {
    for (const s of stops) await s().catch(() => undefined);
    await tmp.remove();
  }
  const med = (f: (r: { hand: DpRow; weir: DpRow[] }) => number): number => median(rounds.map(f));
  const out: string[] = [];
  out.push(`wrk -t${threads} -c${connections} -d${seconds}s, ${runs} alternating rounds (each side's documents acknowledged before the other starts); load average per round: ${rounds.map((x) => x.hand.load).join('; ')}.`, '');
  const ratioOf = (i: number): string => {
    const rs = rounds.map((x) => x.weir[i]!.rps / x.hand.rps);
    return `**${fmt(median(rs), 3)}** (${fmt(Math.min(...rs), 3)}–${fmt(Math.max(...rs), 3)})`;
  };
  const row = (name: string, f: (x: { hand: DpRow; weir: DpRow[] }) => DpRow, ratio: string): Array<string | number> => [
    name,
    fmt(med((x) => f(x).rps), 0),
    ratio,
    fmt(med((x) => f(x).haproxyUs), 1),
    fmt(med((x) => f(x).pipelineUs), 1),
    `${rounds.reduce((n, x) => n + f(x).shipped, 0)}/${rounds.reduce((n, x) => n + f(x).requests, 0)}`,
    String(rounds.reduce((n, x) => n + f(x).errors, 0)),
  ];
  out.push(
    table(
      ['config', 'req/s (median)', 'Weir ÷ hand (median, range)', 'HAProxy CPU µs/request', 'log pipeline CPU µs/request', 'documents / requests', 'errors'],
      [
        row('hand-written HAProxy → UDP → rsyslogd (mmjsonparse, omelasticsearch)', (x) => x.hand, '1.000'),
        ...weirs.map((v, i) => row(v.name, (x) => x.weir[i]!, ratioOf(i))),
      ],
    ),
  );
  const md = out.join('\n');
  const base = await writeResult('ship-data-plane', { machine: info, seconds, runs, threads, connections, rounds }, md);
  return `${md}\n\nresults: ${base}.{json,md}`;
}

// ---- ship-memory: the agent's RSS at a paced rate, shipping, and with Elasticsearch down (spooling) ----

interface MemRow {
  case: string;
  sent: number;
  shipped: number;
  spooledBytes: number;
  rssStartMiB: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  load: string;
}

export async function shipMemory(): Promise<string> {
  const rate = envInt('BENCH_SHIP_RATE', 20_000);
  const seconds = envInt('BENCH_SHIP_SECONDS', 15);
  const info = machine();
  const tmp = await tempDir('weir-bench-ship-mem-');
  const es = await startFastBulk();
  const sender = startSender();
  const rows: MemRow[] = [];
  const { metricSum } = await import('./agent-proc.js');
  try {
    const [deadPort = 0, ...gw] = await freePorts(3);
    const cases: Array<{ name: string; url: string }> = [
      { name: 'shipping (fast bulk endpoint)', url: `http://127.0.0.1:${es.port}` },
      { name: 'Elasticsearch down (connection refused: spooling)', url: `http://127.0.0.1:${deadPort}` },
    ];
    let first = 0;
    for (const [i, c] of cases.entries()) {
      // The default source with shipping is the ring: lines arrive as HAProxy's forwarder sends them (TCP frames).
      const [tcp = 0] = await freePorts(1);
      const agent = await startAgentProcess(join(tmp.path, `agent-${i}`), { shop: SHOP(gw[i]!) }, { WEIR_ELASTICSEARCH_URL: c.url, WEIR_LOG_TCP_ADDR: `127.0.0.1:${tcp}` });
      try {
        await sleep(1000);
        const d0 = sumPrefix(await es.counts(), 'weir-logs-');
        const rss0 = rssKiB(agent.pid);
        let max = rss0;
        const timer = setInterval(() => (max = Math.max(max, rssKiB(agent.pid))), 250);
        // Where the memory is: V8 heap (used, total) and memory outside it (Buffers), from the agent's own metrics.
        const heap = { used: 0, total: 0, external: 0 };
        const heapTimer = setInterval(() => {
          void agent.metrics().then((m) => {
            heap.used = Math.max(heap.used, metricSum(m, 'weir_agent_nodejs_heap_size_used_bytes'));
            heap.total = Math.max(heap.total, metricSum(m, 'weir_agent_nodejs_heap_size_total_bytes'));
            heap.external = Math.max(heap.external, metricSum(m, 'weir_agent_nodejs_external_memory_bytes'));
          }, () => undefined);
        }, 500);
        const load = loadavg();
        const s = await sender.send(tcp, rate, seconds, first, 'tcp');
        first += s.sent;
        const got = i === 0 ? await waitCount(async () => sumPrefix(await es.counts(), 'weir-logs-'), d0 + s.sent) : d0;
        await sleep(2000);
        clearInterval(timer);
        clearInterval(heapTimer);
        const m = await agent.metrics();
        rows.push({ case: c.name, sent: s.sent, shipped: got - d0, spooledBytes: metricSum(m, 'weir_log_spool_bytes'), rssStartMiB: rss0 / 1024, rssMaxMiB: max / 1024, rssEndMiB: rssKiB(agent.pid) / 1024, heapUsedMiB: heap.used / 2 ** 20, heapTotalMiB: heap.total / 2 ** 20, externalMiB: heap.external / 2 ** 20, load });
        progress(`${c.name}: ${JSON.stringify(rows[rows.length - 1])}`);
      } finally {
        await agent.stop();
      }
    }
  } finally {
    await sender.stop();
    await es.stop();
    await tmp.remove();
  }
  const out: string[] = [];
  out.push(`${rate} lines/s × ${seconds} s as octet-counted TCP frames into a real weir agent (defaults + WEIR_ELASTICSEARCH_URL: the ring source); RSS from /proc every 250 ms; load average at the start of each case: ${rows.map((r) => r.load).join('; ')}.`, '');
  out.push(
    table(
      ['case', 'RSS before (MiB)', 'RSS max (MiB)', 'RSS after (MiB)', 'max V8 heap used / total (MiB)', 'max external (MiB)', 'documents acknowledged / lines sent', 'spool bytes after'],
      rows.map((r) => [r.case, fmt(r.rssStartMiB, 0), `**${fmt(r.rssMaxMiB, 0)}**`, fmt(r.rssEndMiB, 0), `${fmt(r.heapUsedMiB, 0)} / ${fmt(r.heapTotalMiB, 0)}`, fmt(r.externalMiB, 0), `${r.shipped}/${r.sent}`, r.spooledBytes]),
    ),
  );
  const md = out.join('\n');
  const base = await writeResult('ship-memory', { machine: info, rate, seconds, rows }, md);
  return `${md}\n\nresults: ${base}.{json,md}`;
}
