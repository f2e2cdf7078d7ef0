// Data plane with the agent's DEFAULT settings (issue 9): requests/s of a gateway served by a real
// `weir agent` (telemetry on, no Elasticsearch: UDP log source, auto log sampling) against a hand-written
// HAProxy config without logs, same upstreams, alternating wrk rounds in one run. For reference the same
// agent with every request logged (WEIR_LOG_SAMPLE=all, the behaviour before sampling) and with telemetry off.
// CPU per request is split into the agent's HAProxy and the agent process; lines are what the agent received.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgentProcess, metricSum, type AgentProc } from './agent-proc.js';
import { cpuSeconds, envInt, fmt, freePorts, machine, median, progress, runHaproxy, startUpstreams, table, tempDir, wrk, writeResult, type HaproxyProc, type WrkResult } from './lib.js';
import { handConfig } from './throughput.js';

interface Variant {
  name: string;
  env?: Record<string, string>;
}

const VARIANTS: Variant[] = [
  { name: 'Weir, defaults (auto sampling)' },
  { name: 'Weir, every request logged (WEIR_LOG_SAMPLE=all)', env: { WEIR_LOG_SAMPLE: 'all' } },
  { name: 'Weir, telemetry off', env: { WEIR_TELEMETRY: 'off' } },
];

interface Row {
  rps: number;
  requests: number;
  haproxyUs: number;
  agentUs: number;
  lines: number;
  /** Latency samples the agent's histograms got (response time, phase total). */
  timed: number;
  counted: number;
  keep: number;
  errors: number;
}

const gatewayYaml = (port: number, up: Record<string, number>): string =>
  `name: shop\nport: ${port}\nroutes:\n  a:\n    weight: 50%\n    targets: ["127.0.0.1:${up.a}"]\n  b:\n    weight: 50%\n    targets: ["127.0.0.1:${up.b}"]\n`;

export async function dataPlane(): Promise<string> {
  const seconds = envInt('BENCH_SECONDS', 5);
  const runs = envInt('BENCH_RUNS', 5);
  const threads = envInt('BENCH_WRK_THREADS', 1);
  const connections = envInt('BENCH_WRK_CONNECTIONS', 32);
  const info = machine();
  const load0 = info.loadavgAtStart;
  const tmp = await tempDir('weir-bench-dp-');
  const procs: HaproxyProc[] = [];
  const agents: AgentProc[] = [];
  const rounds: Array<{ hand: Row; weir: Row[] }> = [];
  try {
    const upstream = await startUpstreams(tmp.path, ['a', 'b']);
    procs.push(upstream.proc);
    const ports = await freePorts(1 + VARIANTS.length);
    const handCfg = join(tmp.path, 'hand.cfg');
    await writeFile(handCfg, handConfig(ports[0]!, upstream.ports, false, null));
    const hand = await runHaproxy(handCfg, [ports[0]!]);
    procs.push(hand);
    for (const [i, v] of VARIANTS.entries()) {
      agents.push(await startAgentProcess(join(tmp.path, `agent-${i}`), { shop: gatewayYaml(ports[i + 1]!, upstream.ports) }, v.env ?? {}));
    }
    const url = (p: number): string => `http://127.0.0.1:${p}/`;
    progress('warm-up');
    await wrk(url(ports[0]!), { seconds: 1, threads, connections });
    for (const [i] of VARIANTS.entries()) await wrk(url(ports[i + 1]!), { seconds: 2, threads, connections });
    for (let r = 0; r < runs; r++) {
      const c0 = cpuSeconds(hand.pid);
      const h = await wrk(url(ports[0]!), { seconds, threads, connections });
      const handRow: Row = { rps: h.rps, requests: h.requests, haproxyUs: ((cpuSeconds(hand.pid) - c0) / h.requests) * 1e6, agentUs: 0, lines: 0, timed: 0, counted: h.requests, keep: 0, errors: h.errors + h.non2xx };
      progress(`round ${r + 1}/${runs} hand-written: ${fmt(h.rps, 0)} req/s, ${fmt(handRow.haproxyUs, 1)} µs/request`);
      const weirRows: Row[] = [];
      for (const [i, v] of VARIANTS.entries()) {
        const a = agents[i]!;
        const master = await a.haproxyPid();
        const m0 = await a.metrics();
        const hc0 = a.haproxyCpu(master);
        const ac0 = a.agentCpu();
        const w: WrkResult = await wrk(url(ports[i + 1]!), { seconds, threads, connections });
        const hc1 = a.haproxyCpu(master);
        const ac1 = a.agentCpu();
        // The counters are read at scrape time: the requests wrk completed, exactly.
        const m1 = await a.metrics();
        const d = (name: string, labels: Record<string, string> = {}): number => metricSum(m1, name, labels) - metricSum(m0, name, labels);
        const row: Row = {
          rps: w.rps,
          requests: w.requests,
          haproxyUs: ((hc1 - hc0) / w.requests) * 1e6,
          agentUs: ((ac1 - ac0) / w.requests) * 1e6,
          lines: d('weir_log_lines_received_total'),
          timed: d('weir_http_response_time_seconds_count', { gateway: 'shop', phase: 'total' }),
          counted: d('weir_http_requests_total', { gateway: 'shop' }),
          keep: metricSum(m1, 'weir_log_sample_keep_ratio', { gateway: 'shop', route: 'a' }),
          errors: w.errors + w.non2xx,
        };
        weirRows.push(row);
        progress(`  ${v.name}: ${fmt(w.rps, 0)} req/s (${fmt(w.rps / h.rps, 3)}×), HAProxy ${fmt(row.haproxyUs, 1)} µs, agent ${fmt(row.agentUs, 2)} µs per request, ${row.lines} lines, ${row.timed} latency samples, counted ${row.counted}/${w.requests}`);
      }
      rounds.push({ hand: handRow, weir: weirRows });
    }
  } finally {
    for (const a of agents) await a.stop();
    for (const p of procs) await p.stop();
    await tmp.remove();
  }
  const load1 = machine().loadavgAtStart;
  const lines: string[] = [];
  lines.push(`wrk -t${threads} -c${connections} -d${seconds}s, ${runs} alternating rounds; load average before ${load0}, after ${load1}.`, '');
  const rows: Array<Array<string | number>> = [];
  rows.push(['hand-written, no logs', fmt(median(rounds.map((x) => x.hand.rps)), 0), '1.000', '–', fmt(median(rounds.map((x) => x.hand.haproxyUs)), 1), '–', '–', '–', '–']);
  VARIANTS.forEach((v, i) => {
    const get = (f: (r: Row) => number): number => median(rounds.map((x) => f(x.weir[i]!)));
    const ratios = rounds.map((x) => x.weir[i]!.rps / x.hand.rps);
    rows.push([
      v.name,
      fmt(get((r) => r.rps), 0),
      `**${fmt(median(ratios), 3)}** (${fmt(Math.min(...ratios), 3)}–${fmt(Math.max(...ratios), 3)})`,
      fmt(median(rounds.map((x) => x.hand.haproxyUs / x.weir[i]!.haproxyUs)), 3),
      fmt(get((r) => r.haproxyUs), 1),
      fmt(get((r) => r.agentUs), 2),
      fmt(get((r) => r.lines / r.requests), 4),
      fmt(get((r) => r.timed), 0),
      String(rounds.reduce((n, x) => n + x.weir[i]!.errors, 0)),
    ]);
  });
  lines.push(table(['config', 'req/s (median)', 'Weir ÷ hand (median, range)', 'CPU efficiency hand ÷ Weir (HAProxy)', 'HAProxy CPU µs/request', 'agent CPU µs/request', 'log lines per request', 'latency samples per round', 'errors'], rows));
  const md = lines.join('\n');
  const base = await writeResult('data-plane', { machine: info, seconds, runs, threads, connections, rounds, variants: VARIANTS }, md);
  return `${md}\n\nresults: ${base}.{json,md}`;
}
