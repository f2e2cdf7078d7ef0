// Change latency: a real agent (in-process, real HAProxy, file store watched with chokidar)
// and a probe thread sending requests continuously. Each change is an atomic rename of the
// gateway file; the latency is the time from just before the rename to the first response
// from the route the change points traffic at.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type AgentFixture } from '../test/harness/agent-fixture.js';
import { HAPROXY_BIN, envInt, fmt, freePorts, machine, progress, sleep, startUpstreams, summary, table, tempDir, writeResult, type HaproxyProc } from './lib.js';
import { Probe, type ProbeStats } from './probe.js';

const ms = (ns: bigint): number => Number(ns) / 1e6;

function gatewayYaml(port: number, up: Record<string, number>, weights: Record<string, number>): string {
  const lines = ['name: gw', `port: ${port}`, 'routes:'];
  for (const [r, w] of Object.entries(weights)) lines.push(`  ${r}:`, `    weight: ${w}%`, `    targets: ["127.0.0.1:${up[r]}"]`);
  return `${lines.join('\n')}\n`;
}

async function histSum(fx: AgentFixture, which: 'reload' | 'runtime'): Promise<{ sum: number; count: number }> {
  const m = which === 'reload' ? await fx.agent.metrics.reloadDuration.get() : await fx.agent.metrics.applyDuration.get();
  const pick = (suffix: string): number =>
    m.values.filter((v) => v.metricName?.endsWith(suffix) && (which === 'reload' || v.labels.kind === 'runtime')).reduce((a, v) => a + v.value, 0);
  return { sum: pick('_sum'), count: pick('_count') };
}

export async function latency(): Promise<void> {
  const nWeight = envInt('BENCH_WEIGHT_CHANGES', 100);
  const nStruct = envInt('BENCH_STRUCT_CHANGES', 20);
  const gapMs = envInt('BENCH_GAP_MS', 50);
  const debounce = String(envInt('BENCH_DEBOUNCE_MS', 10));
  const reloadMin = envInt('BENCH_RELOAD_MIN_INTERVAL_MS', 2000);
  const concurrency = envInt('BENCH_PROBE_CONCURRENCY', 4);
  const info = machine();
  const tmp = await tempDir('weir-bench-lat-');
  let upstream: HaproxyProc | null = null;
  let fx: AgentFixture | null = null;
  let probe: Probe | null = null;
  const weight: Array<{ toRoute: string; shiftMs: number; agentDoneMs: number }> = [];
  const struct: Array<{ change: string; shiftMs: number; agentDoneMs: number; reloadS: number }> = [];
  let weightProbe: ProbeStats | null = null;
  let structProbe: ProbeStats | null = null;
  let reloadsDuringWeight = 0;
  let runtimeApply = { sum: 0, count: 0 };
  try {
    const ups = await startUpstreams(tmp.path, ['a', 'b', 'c']);
    upstream = ups.proc;
    const up = ups.ports;
    const [port = 0] = await freePorts(1);
    fx = await startAgent({
      dir: join(tmp.path, 'agent'),
      env: {
        WEIR_HAPROXY_BIN: HAPROXY_BIN,
        WEIR_DEBOUNCE_MS: debounce,
        WEIR_RELOAD_MIN_INTERVAL_MS: String(reloadMin),
        WEIR_POLL_INTERVAL_MS: '5000',
        WEIR_HARD_STOP_AFTER: '30s',
        // Any WEIR_* setting from the environment (e.g. WEIR_TELEMETRY=off) overrides the above.
        ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('WEIR_') && e[1] !== undefined)),
      },
      files: { 'gw.yaml': gatewayYaml(port, up, { a: 100, b: 0 }) },
    });
    const agentFx = fx;
    await fx.waitStatus((s) => s.ready && s.applied.length === 1, 'agent ready');
    const write = async (body: string): Promise<bigint> => {
      const tmpFile = join(agentFx.gatewaysDir, '.gw.yaml.tmp');
      await writeFile(tmpFile, body);
      const t0 = process.hrtime.bigint();
      await rename(tmpFile, join(agentFx.gatewaysDir, 'gw.yaml'));
      return t0;
    };
    probe = new Probe(port, { concurrency });
    if ((await probe.firstFrom('a', 0n, 5000)) === null) throw new Error('probe never reached route a');

    // ---- weight changes (runtime API: map swap) ----
    const reloads0 = (await histSum(fx, 'reload')).count;
    const rt0 = await histSum(fx, 'runtime');
    const s0 = await probe.stats();
    let current = 'a';
    for (let i = 0; i < nWeight; i++) {
      const to = current === 'a' ? 'b' : 'a';
      const t0 = await write(gatewayYaml(port, up, to === 'a' ? { a: 100, b: 0 } : { a: 0, b: 100 }));
      const hit = await probe.firstFrom(to, t0);
      if (hit === null) throw new Error(`weight change ${i + 1}: no response from ${to} within 15 s`);
      await fx.agent.idle();
      const done = process.hrtime.bigint();
      weight.push({ toRoute: to, shiftMs: ms(hit - t0), agentDoneMs: ms(done - t0) });
      current = to;
      if ((i + 1) % 20 === 0) progress(`weight change ${i + 1}/${nWeight}: last ${fmt(ms(hit - t0), 2)} ms`);
      await sleep(gapMs);
    }
    const s1 = await probe.stats();
    weightProbe = { sent: s1.sent - s0.sent, ok: s1.ok - s0.ok, errors: s1.errors - s0.errors, non200: s1.non200 - s0.non200, lastErrors: s1.lastErrors };
    reloadsDuringWeight = (await histSum(fx, 'reload')).count - reloads0;
    const rt1 = await histSum(fx, 'runtime');
    runtimeApply = { sum: rt1.sum - rt0.sum, count: rt1.count - rt0.count };

    // ---- structural changes (reload): add route c taking 100 %, then remove it again ----
    let lastReloadDone = Date.now();
    for (let i = 0; i < nStruct; i++) {
      const add = i % 2 === 0;
      const to = add ? 'c' : current;
      const weights: Record<string, number> = add ? { a: 0, b: 0, c: 100 } : current === 'a' ? { a: 100, b: 0 } : { a: 0, b: 100 };
      // Space changes beyond the reload minimum interval so each reload is measured, not coalesced.
      const wait = lastReloadDone + reloadMin + 100 - Date.now();
      if (wait > 0) await sleep(wait);
      const r0 = await histSum(fx, 'reload');
      const t0 = await write(gatewayYaml(port, up, weights));
      const hit = await probe.firstFrom(to, t0, 30_000);
      if (hit === null) throw new Error(`structural change ${i + 1}: no response from ${to} within 30 s`);
      await fx.agent.idle();
      const done = process.hrtime.bigint();
      lastReloadDone = Date.now();
      const r1 = await histSum(fx, 'reload');
      struct.push({ change: add ? 'add route c (100 %)' : 'remove route c', shiftMs: ms(hit - t0), agentDoneMs: ms(done - t0), reloadS: r1.count > r0.count ? r1.sum - r0.sum : NaN });
      progress(`structural change ${i + 1}/${nStruct} (${add ? 'add c' : 'remove c'}): ${fmt(ms(hit - t0), 1)} ms, reload ${fmt((r1.sum - r0.sum) * 1000, 1)} ms`);
    }
    const s2 = await probe.stats();
    structProbe = { sent: s2.sent - s1.sent, ok: s2.ok - s1.ok, errors: s2.errors - s1.errors, non200: s2.non200 - s1.non200, lastErrors: s2.lastErrors };
  } finally {
    await probe?.stop();
    await fx?.cleanup();
    await upstream?.stop();
    await tmp.remove();
  }

  const w = summary(weight.map((x) => x.shiftMs));
  const wd = summary(weight.map((x) => x.agentDoneMs));
  // Adding a route needs the reload before traffic can move; removing it moves traffic back through
  // the runtime API first (the remaining routes are live) and reloads afterwards.
  const adds = struct.filter((x) => x.change.startsWith('add'));
  const removes = struct.filter((x) => !x.change.startsWith('add'));
  const s = summary(adds.map((x) => x.shiftMs));
  const sr = summary(removes.map((x) => x.shiftMs));
  const sd = summary(struct.map((x) => x.agentDoneMs));
  const rl = summary(struct.map((x) => x.reloadS * 1000).filter(Number.isFinite));
  const md = [
    `Agent in-process; WEIR_DEBOUNCE_MS=${debounce}, WEIR_RELOAD_MIN_INTERVAL_MS=${reloadMin}, WEIR_POLL_INTERVAL_MS=5000; probe: ${concurrency} keep-alive loops on a worker thread.`,
    '',
    table(
      ['change', 'N', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'min ms'],
      [
        ['weight flip 100/0 ↔ 0/100: rename → first response from new route', w.n, fmt(w.p50, 2), fmt(w.p90, 2), fmt(w.p99, 2), fmt(w.max, 2), fmt(w.min, 2)],
        ['weight flip: rename → agent idle (runtime apply + config persisted)', wd.n, fmt(wd.p50, 2), fmt(wd.p90, 2), fmt(wd.p99, 2), fmt(wd.max, 2), fmt(wd.min, 2)],
        ['structural, add route c at 100 % (needs the reload): rename → first response from c', s.n, fmt(s.p50, 1), fmt(s.p90, 1), fmt(s.p99, 1), fmt(s.max, 1), fmt(s.min, 1)],
        ['structural, remove route c (weights move at runtime, reload follows): rename → first response from old route', sr.n, fmt(sr.p50, 1), fmt(sr.p90, 1), fmt(sr.p99, 1), fmt(sr.max, 1), fmt(sr.min, 1)],
        ['structural (both kinds): rename → agent idle', sd.n, fmt(sd.p50, 1), fmt(sd.p90, 1), fmt(sd.p99, 1), fmt(sd.max, 1), fmt(sd.min, 1)],
        ['structural: weir_haproxy_reload_duration_seconds (per reload)', rl.n, fmt(rl.p50, 1), fmt(rl.p90, 1), fmt(rl.p99, 1), fmt(rl.max, 1), fmt(rl.min, 1)],
      ],
    ),
    '',
    `Reloads during the weight phase: ${reloadsDuringWeight}. Runtime applies: ${runtimeApply.count}, mean weir_agent_apply_duration_seconds{kind="runtime"} ${fmt((runtimeApply.sum / Math.max(1, runtimeApply.count)) * 1000, 2)} ms.`,
    `Probe during weight phase: ${weightProbe?.ok} ok, ${weightProbe?.non200} non-200, ${weightProbe?.errors} socket errors. During structural phase: ${structProbe?.ok} ok, ${structProbe?.non200} non-200, ${structProbe?.errors} socket errors${structProbe?.errors ? ` (${[...new Set(structProbe.lastErrors)].join(', ')})` : ''}.`,
  ].join('\n');
  const base = await writeResult('latency', { machine: info, nWeight, nStruct, gapMs, debounce, reloadMin, concurrency, weight, struct, weightProbe, structProbe, reloadsDuringWeight, runtimeApply }, md);
  process.stdout.write(`${md}\n\nmachine: ${JSON.stringify(info)}\nresults: ${base}.{json,md}\n`);
}
