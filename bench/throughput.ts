// Throughput: Weir's rendered config vs a hand-written single-hop config vs Vamp's two-level
// layout, same upstreams, same machine, alternating runs. Weir's side is rendered through the
// agent's own model builder and templates, so the measured config is what the agent ships.
import { createSocket } from 'node:dgram';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGateway } from '../model/parse.js';
import { buildHaproxyModel } from '../agent/plan/haproxy-model.js';
import { ConfigRenderer, DEFAULT_TEMPLATE_DIR } from '../agent/render/renderer.js';
import { cpuSeconds, envInt, fmt, freePorts, machine, median, progress, runHaproxy, sample, startUpstreams, table, tempDir, wrk, writeResult, type HaproxyProc, type WrkResult } from './lib.js';

type Variant = 'weir' | 'hand' | 'vamp';
const VARIANTS: Variant[] = ['weir', 'hand', 'vamp'];

interface Scenario {
  name: string;
  condition: boolean;
  /** Per-request JSON logs over UDP, as the agent ships by default (telemetry on). */
  logs?: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: '2 routes, 50/50', condition: false },
  { name: '2 routes 50/50 + 1 condition route (not matching)', condition: true },
  { name: '2 routes 50/50, per-request JSON logs on in all three (UDP to a local sink)', condition: false, logs: true },
];

/** The defaults section shared by the hand-written and Vamp configs: Weir's timeouts, checks and (no) logging. */
const HAND_DEFAULTS = `defaults
  mode http
  option dontlognull
  option redispatch
  retries 3
  timeout connect 5s
  timeout client 50s
  timeout server 50s
  timeout http-request 10s
  timeout http-keep-alive 10s
  timeout queue 30s
  timeout check 5s
  default-server check inter 2s fall 3 rise 2
`;

const globalSection = (nbthread: number | null): string => `global\n${nbthread ? `  nbthread ${nbthread}\n` : ''}`;

/**
 * The logging lines of Weir's rendered config (global `log`, `unique-id-format`, `log-format`),
 * reused verbatim by the other two configs so all three log the same line per request.
 */
function loggingOf(weirCfg: string): { global: string; defaults: string } {
  const line = (re: RegExp): string => (re.exec(weirCfg)?.[0] ?? '').trimEnd();
  return {
    global: `${line(/^  log \d.*$/m)}\n`,
    defaults: `  log global\n${line(/^  unique-id-format .*$/m)}\n${line(/^  log-format .*$/m)}\n`,
  };
}

const withLogging = (cfg: string, logging: { global: string; defaults: string } | null): string =>
  logging ? cfg.replace(/^global\n/m, `global\n${logging.global}`).replace(/^defaults\n/m, `defaults\n${logging.defaults}`) : cfg;

export function handConfig(port: number, up: Record<string, number>, condition: boolean, nbthread: number | null): string {
  return `${globalSection(nbthread)}${HAND_DEFAULTS}
frontend gw
  bind 127.0.0.1:${port}
  http-request set-var(txn.r) rand(100)
${condition ? "  use_backend c if { req.fhdr(User-Agent) -m sub 'Firefox' }\n" : ''}  use_backend a if { var(txn.r) -m int lt 50 }
  default_backend b
${['a', 'b', ...(condition ? ['c'] : [])]
  .map((r) => `\nbackend ${r}\n  balance roundrobin\n  option forwardfor\n  server ${r}1 127.0.0.1:${up[r]}\n`)
  .join('')}`;
}

/** Vamp's layout: gateway frontend → gateway backend (weighted servers on unix sockets, PROXY protocol) → route frontend → route backend. */
function vampConfig(dir: string, port: number, up: Record<string, number>, condition: boolean, nbthread: number | null): string {
  const sock = (r: string): string => `unix@${join(dir, `vamp-${r}.sock`)}`;
  const routes = ['a', 'b', ...(condition ? ['c'] : [])];
  return `${globalSection(nbthread)}${HAND_DEFAULTS}
frontend gw
  bind 127.0.0.1:${port}
${condition ? "  acl c_cond req.fhdr(User-Agent) -m sub 'Firefox'\n  use_backend gw_c if c_cond\n" : ''}  default_backend gw

backend gw
  balance roundrobin
  server a ${sock('a')} send-proxy weight 50 no-check
  server b ${sock('b')} send-proxy weight 50 no-check
${condition ? `\nbackend gw_c\n  server c ${sock('c')} send-proxy no-check\n` : ''}${routes
  .map(
    (r) => `
frontend route_${r}
  bind ${sock(r)} accept-proxy
  default_backend route_${r}

backend route_${r}
  balance roundrobin
  option forwardfor
  server ${r}1 127.0.0.1:${up[r]}
`,
  )
  .join('')}`;
}

function weirYaml(name: string, port: number, up: Record<string, number>, condition: boolean): string {
  return `name: ${name}
port: ${port}
routes:
  a:
    weight: 50%
    targets: ["127.0.0.1:${up.a}"]
  b:
    weight: 50%
    targets: ["127.0.0.1:${up.b}"]
${condition ? `  c:\n    weight: 0%\n    condition: user-agent = Firefox\n    targets: ["127.0.0.1:${up.c}"]\n` : ''}`;
}

async function weirConfig(dir: string, port: number, up: Record<string, number>, condition: boolean, nbthread: number | null, logTarget: string | null): Promise<string> {
  const parsed = parseGateway(weirYaml('gw', port, up, condition), { source: 'bench', format: 'yaml', expectedName: 'gw' });
  if (!parsed.ok) throw new Error(`bench gateway invalid: ${JSON.stringify(parsed.errors)}`);
  const mapsDir = join(dir, 'maps');
  await mkdir(mapsDir, { recursive: true });
  // Agent defaults (agent/settings.ts): 4 slots per route, vhost and monitor frontends off here (no vhosts; monitor unused).
  const model = buildHaproxyModel([parsed.gateway], { bindAddress: '127.0.0.1', mapsDir, minSlots: 4, vhostPort: 0 });
  const stateFile = join(dir, 'server-state');
  await writeFile(stateFile, '1\n');
  const rendered = await new ConfigRenderer(DEFAULT_TEMPLATE_DIR).render(model, {
    adminSocket: join(dir, 'admin.sock'),
    serverStateFile: stateFile,
    hardStopAfter: '30s',
    maxReloads: 50,
    maxconn: null,
    logTarget,
    monitorPort: 0,
  });
  for (const [path, content] of Object.entries(rendered.maps)) await writeFile(path, content);
  let cfg = rendered.config;
  if (nbthread) cfg = cfg.replace(/^global\n/m, `global\n  nbthread ${nbthread}\n`);
  return cfg;
}

/** A UDP port that receives and discards log lines, counting them (proves the logging runs). */
async function udpSink(): Promise<{ port: number; received: () => number; close: () => void }> {
  const sock = createSocket('udp4');
  let n = 0;
  sock.on('message', () => (n += 1));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, received: () => n, close: () => sock.close() };
}

export async function throughput(): Promise<void> {
  const seconds = envInt('BENCH_SECONDS', 5);
  const runs = envInt('BENCH_RUNS', 3);
  const threads = envInt('BENCH_WRK_THREADS', 1);
  const connections = envInt('BENCH_WRK_CONNECTIONS', 32);
  const nbthread = envInt('BENCH_NBTHREAD', 0) || null;
  const info = machine();
  const tmp = await tempDir('weir-bench-tp-');
  const procs: HaproxyProc[] = [];
  const results: Array<{ scenario: string; runs: Array<Record<Variant, WrkResult>>; samples: Record<Variant, Record<string, number>> }> = [];
  try {
    const upstream = await startUpstreams(tmp.path, ['a', 'b', 'c']);
    procs.push(upstream.proc);
    const up = upstream.ports;
    for (const sc of SCENARIOS) {
      const dir = join(tmp.path, sc.condition ? 'cond' : 'plain');
      await mkdir(dir, { recursive: true });
      const [pw = 0, ph = 0, pv = 0] = await freePorts(3);
      const port: Record<Variant, number> = { weir: pw, hand: ph, vamp: pv };
      let sink: { port: number; received: () => number; close: () => void } | null = null;
      if (sc.logs) sink = await udpSink();
      const weirCfg = await weirConfig(dir, pw, up, sc.condition, nbthread, sink ? `127.0.0.1:${sink.port}` : null);
      const logging = sink ? loggingOf(weirCfg) : null;
      const cfgs: Record<Variant, string> = {
        weir: weirCfg,
        hand: withLogging(handConfig(ph, up, sc.condition, nbthread), logging),
        vamp: withLogging(vampConfig(dir, pv, up, sc.condition, nbthread), logging),
      };
      const running: HaproxyProc[] = [];
      const pidOf = {} as Record<Variant, number>;
      for (const v of VARIANTS) {
        const f = join(dir, `${v}.cfg`);
        await writeFile(f, cfgs[v]);
        const p = await runHaproxy(f, [port[v]]);
        pidOf[v] = p.pid;
        running.push(p);
        procs.push(p);
      }
      // Sanity: every variant splits traffic over a and b (and a Firefox request reaches c).
      const samples = {} as Record<Variant, Record<string, number>>;
      for (const v of VARIANTS) {
        samples[v] = await sample(`http://127.0.0.1:${port[v]}/`, 400);
        if (sc.condition) {
          const ff = await sample(`http://127.0.0.1:${port[v]}/`, 20, { 'user-agent': 'Mozilla/5.0 Firefox/120.0' });
          for (const [k, n] of Object.entries(ff)) samples[v][`firefox→${k}`] = n;
        }
      }
      progress(`${sc.name}: route split check ${JSON.stringify(samples)}`);
      for (const v of VARIANTS) await wrk(`http://127.0.0.1:${port[v]}/`, { seconds: 1, threads, connections }); // warm-up
      const scRuns: Array<Record<Variant, WrkResult>> = [];
      for (let i = 0; i < runs; i++) {
        const r = {} as Record<Variant, WrkResult>;
        for (const v of VARIANTS) {
          progress(`${sc.name}: run ${i + 1}/${runs} ${v} (${seconds} s)`);
          // HAProxy CPU per request: the work done, much less sensitive than req/s to CPU taken by other processes.
          const cpu0 = cpuSeconds(pidOf[v]);
          r[v] = await wrk(`http://127.0.0.1:${port[v]}/`, { seconds, threads, connections });
          r[v].cpuUsPerReq = ((cpuSeconds(pidOf[v]) - cpu0) / r[v].requests) * 1e6;
          progress(`  ${v}: ${fmt(r[v].rps, 0)} req/s, ${fmt(r[v].cpuUsPerReq ?? NaN, 1)} µs HAProxy CPU/request, errors ${r[v].errors}, non-2xx ${r[v].non2xx}`);
        }
        scRuns.push(r);
      }
      if (sink) {
        progress(`${sc.name}: the UDP sink received ${sink.received()} log lines`);
        sink.close();
      }
      results.push({ scenario: sc.name, runs: scRuns, samples });
      for (const p of running) await p.stop();
    }
  } finally {
    for (const p of procs) await p.stop();
    await tmp.remove();
  }

  const lines: string[] = [];
  lines.push(`wrk -t${threads} -c${connections} -d${seconds}s, ${runs} alternating rounds (weir, hand, vamp); HAProxy nbthread: ${nbthread ?? 'default'}`);
  for (const r of results) {
    lines.push('', `**${r.scenario}**`, '');
    const rows = r.runs.map((x, i) => [
      i + 1,
      fmt(x.weir.rps, 0),
      fmt(x.hand.rps, 0),
      fmt(x.vamp.rps, 0),
      fmt(x.weir.rps / x.hand.rps, 3),
      fmt(x.vamp.rps / x.hand.rps, 3),
      `${fmt(x.weir.latencyP99Ms, 2)} / ${fmt(x.hand.latencyP99Ms, 2)} / ${fmt(x.vamp.latencyP99Ms, 2)}`,
      `${x.weir.errors + x.weir.non2xx} / ${x.hand.errors + x.hand.non2xx} / ${x.vamp.errors + x.vamp.non2xx}`,
      `${fmt(x.weir.cpuUsPerReq ?? NaN, 1)} / ${fmt(x.hand.cpuUsPerReq ?? NaN, 1)} / ${fmt(x.vamp.cpuUsPerReq ?? NaN, 1)}`,
      fmt((x.hand.cpuUsPerReq ?? NaN) / (x.weir.cpuUsPerReq ?? NaN), 3),
    ]);
    const wr = r.runs.map((x) => x.weir.rps / x.hand.rps);
    const vr = r.runs.map((x) => x.vamp.rps / x.hand.rps);
    rows.push([
      'median',
      fmt(median(r.runs.map((x) => x.weir.rps)), 0),
      fmt(median(r.runs.map((x) => x.hand.rps)), 0),
      fmt(median(r.runs.map((x) => x.vamp.rps)), 0),
      `**${fmt(median(wr), 3)}**`,
      fmt(median(vr), 3),
      '',
      '',
      `${fmt(median(r.runs.map((x) => x.weir.cpuUsPerReq ?? NaN)), 1)} / ${fmt(median(r.runs.map((x) => x.hand.cpuUsPerReq ?? NaN)), 1)} / ${fmt(median(r.runs.map((x) => x.vamp.cpuUsPerReq ?? NaN)), 1)}`,
      `**${fmt(median(r.runs.map((x) => (x.hand.cpuUsPerReq ?? NaN) / (x.weir.cpuUsPerReq ?? NaN))), 3)}**`,
    ]);
    lines.push(table(['round', 'Weir req/s', 'hand-written req/s', 'Vamp 2-level req/s', 'Weir ÷ hand', 'Vamp ÷ hand', 'p99 ms (W/H/V)', 'errors+non-2xx (W/H/V)', 'HAProxy CPU µs/request (W/H/V)', 'CPU efficiency hand ÷ Weir'], rows));
  }
  const md = lines.join('\n');
  const base = await writeResult('throughput', { machine: info, seconds, runs, threads, connections, nbthread, results }, md);
  process.stdout.write(`${md}\n\nmachine: ${JSON.stringify(info)}\nresults: ${base}.{json,md}\n`);
}
