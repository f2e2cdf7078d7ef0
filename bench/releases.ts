// Release benchmarks (`make bench B=release-detection|release-false-rollbacks|release-cost`).
// Every process is real and counted: nats-server, `weir control` (with its release controller)
// and `weir agent` (with HAProxy) as child processes; upstreams and the load generator in this
// process. They measure and write; they never assert on time.
//   detection        a v2 answering 100 % 5xx: first request it served → all traffic back on v1
//   false-rollbacks  50 healthy canaries with the shipped policy (noise: 0.5 % 5xx, jittered latency on both)
//   cost             the control process's CPU and memory with 100 releases in progress vs none
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { api as apiCall, adminTokenValue, agentEnv, type Reply } from '../test/harness/e2e.js';
import { startNatsServer, type NatsHarness } from '../test/harness/nats.js';
import { freePorts as harnessFreePorts } from '../test/harness/ports.js';
import { behaviourUpstream, startLoad, type BehaviourUpstream, type Load, type RunJson } from '../test/harness/release-e2e.js';
import { packageRoot } from '../runtime/package-root.js';
import { cpuSeconds, envInt, fmt, machine, median, progress, rssKiB, sleep, table, tempDir, writeResult } from './lib.js';

const ORG = 'bench';
const ENV = 'prod';
const NS = `/api/v1/namespaces/${ORG}/${ENV}`;

interface Proc {
  child: ChildProcess;
  pid: number;
}

interface World {
  nats: NatsHarness;
  control: Proc;
  agent: Proc;
  token: string;
  base: string;
  dir: string;
  api(method: string, path: string, body?: unknown): Promise<Reply>;
  stop(): Promise<void>;
}

function spawnWeir(args: string[], env: Record<string, string>, log: string): Proc {
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'cli', 'main.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(log);
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const kill = (): void => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', kill);
  return { child, pid: child.pid as number };
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 8000);
  await gone;
  clearTimeout(t);
}

async function waitHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function startWorld(name: string, controlEnv: Record<string, string> = {}): Promise<World> {
  const dir = await tempDir(`weir-bench-${name}-`);
  const nats = await startNatsServer();
  const [cport = 0, aport = 0] = await harnessFreePorts(2);
  const token = adminTokenValue();
  const store = `file://${join(dir.path, 'store')}`;
  const control = spawnWeir(['control'], { WEIR_STORE: store, WEIR_NATS_URL: nats.url, WEIR_CONTROL_ADDR: `127.0.0.1:${cport}`, WEIR_CONTROL_STATE_DIR: join(dir.path, 'control'), WEIR_ADMIN_TOKEN: token, WEIR_LOG_LEVEL: 'warn', ...controlEnv }, join(dir.path, 'control.log'));
  const base = `http://127.0.0.1:${cport}`;
  await waitHttp(`${base}/healthz`);
  const agent = spawnWeir(['agent'], { ...agentEnv({ id: 'bench-agent', bind: '127.0.0.2', namespace: `${ORG}/${ENV}`, store, stateDir: join(dir.path, 'agent'), natsUrl: nats.url, env: { WEIR_TELEMETRY: 'on', WEIR_HTTP_ADDR: `127.0.0.1:${aport}`, WEIR_LOG_LEVEL: 'warn' } }) }, join(dir.path, 'agent.log'));
  await waitHttp(`http://127.0.0.1:${aport}/healthz`);
  return {
    nats,
    control,
    agent,
    token,
    base,
    dir: dir.path,
    api: (method, path, body) => apiCall(base, method, path, token, body),
    stop: async () => {
      await stopProc(agent);
      await stopProc(control);
      await nats.dispose();
      await dir.remove();
    },
  };
}

async function putGateway(w: World, name: string, port: number, v1: BehaviourUpstream, v2: BehaviourUpstream): Promise<void> {
  const r = await w.api('PUT', `${NS}/gateways/${name}`, { port, routes: { v1: { weight: 100, targets: [`127.0.0.1:${v1.port}`] }, v2: { weight: 0, targets: [`127.0.0.1:${v2.port}`] } } });
  if (r.status >= 300) throw new Error(`PUT gateway ${name}: ${r.status} ${r.text}`);
}

async function putPolicy(w: World, name: string, text: string): Promise<void> {
  const r = await w.api('PUT', `${NS}/release-policies/${name}`, text);
  if (r.status >= 300) throw new Error(`PUT policy ${name}: ${r.status} ${r.text}`);
}

async function run(w: World, gateway: string): Promise<RunJson | null> {
  const r = await w.api('GET', `${NS}/gateways/${gateway}/releases/current`);
  return r.status === 200 ? (r.json as RunJson) : null;
}

async function waitAll(w: World, gateways: string[], pred: (r: RunJson) => boolean, timeoutMs: number): Promise<Map<string, RunJson>> {
  const end = Date.now() + timeoutMs;
  const done = new Map<string, RunJson>();
  while (Date.now() < end && done.size < gateways.length) {
    for (const g of gateways) {
      if (done.has(g)) continue;
      const r = await run(w, g);
      if (r && pred(r)) done.set(g, r);
    }
    if (done.size < gateways.length) await sleep(1000);
  }
  return done;
}

async function waitServed(w: World, n: number): Promise<void> {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const r = await w.api('GET', `${NS}/agents`);
    const a = (r.json as { agents?: Array<{ applied: unknown[] }> }).agents?.[0];
    if (a && a.applied.length >= n) return;
    await sleep(250);
  }
  throw new Error(`the agent did not apply ${n} gateways`);
}

const finished = (r: RunJson): boolean => ['Succeeded', 'Failed', 'Aborted'].includes(r.phase) && r.finish.state === 'done';

// ---- detection time ----

const detectionPolicy = (o: { name: string; interval: string; minSamples: number; grace: string; weight: number }): string => `
name: ${o.name}
interval: ${o.interval}
gracePeriod: ${o.grace}
defaults: { minSamples: ${o.minSamples} }
conditions:
  - { name: errors, value: 'lower(target.errorRate) <= upper(source.errorRate) * 1.2 + 0.001' }
  - { name: latency, value: 'target.p95 <= max(source.p95 * 1.25, 50ms)' }
steps:
  - { name: canary, source: { weight: ${100 - o.weight} }, target: { weight: ${o.weight} }, endAfter: { duration: 1m } }
  - { name: full, source: { weight: 0 }, target: { weight: 100 }, endAfter: { duration: 1m } }
`;

export async function releaseDetection(): Promise<string> {
  const runs = envInt('BENCH_RUNS', 3);
  const rate = envInt('BENCH_RATE', 200);
  const settings = [
    { name: 'shortest', interval: '10s', intervalS: 10, minSamples: 10, grace: '0s', weight: 5 },
    { name: 'typical', interval: '30s', intervalS: 30, minSamples: 100, grace: '10s', weight: 10 },
  ];
  const w = await startWorld('detection', { WEIR_RELEASE_SWEEP_MS: '1000' });
  const v1 = await behaviourUpstream('v1');
  const v2 = await behaviourUpstream('v2', { status: 500 });
  const [port = 0] = await harnessFreePorts(1, '127.0.0.2');
  const rows: Array<Array<string | number>> = [];
  const raw: unknown[] = [];
  let load: Load | undefined;
  try {
    await putGateway(w, 'shop', port, v1, v2);
    for (const s of settings) await putPolicy(w, s.name, detectionPolicy(s));
    await waitServed(w, 1);
    load = startLoad(`http://127.0.0.2:${port}/`, rate);
    await sleep(3000);
    for (const s of settings) {
      const det: number[] = [];
      const failedReq: number[] = [];
      const bounds: number[] = [];
      const tick: number[] = [];
      for (let i = 0; i < runs; i++) {
        progress(`detection ${s.name} run ${i + 1}/${runs}`);
        const startedAt = Date.now();
        const r = await w.api('POST', `${NS}/gateways/shop/releases`, { policy: s.name, source: 'v1', target: 'v2' });
        if (r.status !== 201) throw new Error(`start: ${r.status} ${r.text}`);
        const end = (await waitAll(w, ['shop'], finished, 300_000)).get('shop');
        await sleep(2000);
        const hits = load.hits.filter((h) => h.at >= startedAt);
        const v2hits = hits.filter((h) => h.upstream === 'v2');
        const first = v2hits[0]?.at ?? NaN;
        const last = v2hits.at(-1)?.at ?? NaN;
        const seconds = (last - first) / 1000;
        det.push(seconds);
        failedReq.push(hits.filter((h) => h.status >= 500 || h.status === 0).length);
        bounds.push((s.weight / 100) * seconds * rate);
        const st = end?.transitions.find((x) => x.kind === 'step-started');
        const failedT = end?.transitions.find((x) => x.kind === 'failed');
        tick.push(st && failedT ? (Date.parse(failedT.at) - Date.parse(st.at)) / 1000 : NaN);
        raw.push({ setting: s.name, run: i, phase: end?.phase, outcome: end?.outcome, detectionSeconds: seconds, failedRequests: failedReq.at(-1), v2Requests: v2hits.length });
        load.hits.length = 0;
        await sleep(1000);
      }
      rows.push([
        `${s.name} (interval ${s.interval}, minSamples ${s.minSamples}, grace ${s.grace}, canary ${s.weight} %)`,
        runs,
        `${fmt(median(det))} / ${fmt(Math.max(...det))}`,
        2 * s.intervalS,
        `${fmt(median(tick))} / ${fmt(Math.max(...tick))}`,
        `${fmt(median(failedReq), 0)} / ${fmt(Math.max(...failedReq), 0)}`,
        fmt(median(bounds), 0),
        s.intervalS,
        s.intervalS,
      ]);
    }
  } finally {
    await load?.stop();
    await v1.close();
    await v2.close();
    await w.stop();
  }
  const md = [
    `### Detection time (${rate} requests/s, v2 answers 100 % 5xx; load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`,
    '',
    table(['policy', 'runs', 'first v2 request → all traffic on v1, s (median / max)', 'goal < 2 × interval, s', 'step start → Failed, s', 'failed client requests (median / max)', 'weight × detection × rate', 'Flagger documented minimum, s (interval × threshold, threshold 1)', 'Argo documented minimum, s (interval × (failureLimit 0 + 1))'], rows),
  ].join('\n');
  await writeResult('release-detection', { machine: machine(), raw }, md);
  return md;
}

// ---- false rollbacks ----

export async function releaseFalseRollbacks(): Promise<string> {
  const n = envInt('BENCH_RELEASES', 50);
  const rate = envInt('BENCH_RATE', 20);
  const w = await startWorld('false-rollbacks', { WEIR_RELEASE_SWEEP_MS: '2000' });
  // The shipped canary policy as it is (interval, grace period, bounds, defaults), each step one
  // interval long so that the batch stays within minutes.
  const shipped = await readFile(join(packageRoot(), 'examples', 'release-policies', 'canary.yaml'), 'utf8');
  const policy = shipped.replace(/endAfter: \{ duration: \w+ \}/g, 'endAfter: { duration: 30s }');
  await putPolicy(w, 'canary', policy);
  const noise = { errorShare: 0.005, delayMs: 5, jitterMs: 20 };
  const ports = await harnessFreePorts(n, '127.0.0.2');
  const ups: BehaviourUpstream[] = [];
  const loads: Load[] = [];
  const names = Array.from({ length: n }, (_x, i) => `g${i}`);
  let results: Map<string, RunJson> = new Map();
  const cpu0 = { control: cpuSeconds(w.control.pid), agent: cpuSeconds(w.agent.pid) };
  const t0 = Date.now();
  try {
    for (const [i, g] of names.entries()) {
      const v1 = await behaviourUpstream(`${g}-v1`, { ...noise });
      const v2 = await behaviourUpstream(`${g}-v2`, { ...noise });
      ups.push(v1, v2);
      await putGateway(w, g, ports[i] as number, v1, v2);
    }
    await waitServed(w, n);
    for (const [i, g] of names.entries()) loads.push(startLoad(`http://127.0.0.2:${ports[i] as number}/`, rate, { keepHits: false }));
    await sleep(3000);
    for (const g of names) {
      const r = await w.api('POST', `${NS}/gateways/${g}/releases`, { policy: 'canary', source: 'v1', target: 'v2' });
      if (r.status !== 201) throw new Error(`start ${g}: ${r.status} ${r.text}`);
    }
    progress(`false-rollbacks: ${n} releases started`);
    results = await waitAll(w, names, finished, 15 * 60_000);
  } finally {
    for (const l of loads) await l.stop();
    for (const u of ups) await u.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  const cpu = { control: cpuSeconds(w.control.pid) - cpu0.control, agent: cpuSeconds(w.agent.pid) - cpu0.agent };
  await w.stop();
  const phases = new Map<string, number>();
  for (const g of names) {
    const p = results.get(g)?.phase ?? 'unfinished';
    phases.set(p, (phases.get(p) ?? 0) + 1);
  }
  // The same measurements judged by the naive condition (no confidence bounds), for comparison.
  let naive = 0;
  let ticks = 0;
  for (const r of results.values()) {
    let failedHere = false;
    for (const m of r.measurements) {
      const s = m.source as unknown as { requests: number; errorRate: number } | null;
      const t = m.target as unknown as { requests: number; errorRate: number } | null;
      if (!s || !t || s.requests < 100 || t.requests < 100) continue;
      ticks++;
      if (t.errorRate > s.errorRate * 1.2 + 0.001) failedHere = true;
    }
    if (failedHere) naive++;
  }
  const md = [
    `### False rollbacks (${n} healthy canaries at once, ${rate} requests/s each, 0.5 % 5xx and 5–25 ms on both versions; ${fmt(seconds, 0)} s; load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`,
    '',
    table(
      ['policy', 'Succeeded', 'Failed (false rollbacks)', 'other'],
      [
        ['shipped canary.yaml (5 / 25 / 50 %; errors: lower(target) <= upper(source) × 1.2 + 0.001; latency lower(target.p95) ≤ max(upper(source.p95) × 1.25, 50 ms), failureLimit 1; defaults)', phases.get('Succeeded') ?? 0, phases.get('Failed') ?? 0, n - (phases.get('Succeeded') ?? 0) - (phases.get('Failed') ?? 0)],
        [`the naive errors condition (target.errorRate <= source.errorRate × 1.2 + 0.001) on the same ${ticks} judged ticks (last 20 per run)`, '', `${naive} of ${results.size} runs would have failed at least one tick`, ''],
      ],
    ),
    '',
    `CPU over the whole batch: control process (with the controller) ${fmt(cpu.control)} s, agent (with HAProxy) ${fmt(cpu.agent)} s.`,
  ].join('\n');
  await writeResult('release-false-rollbacks', { machine: machine(), phases: Object.fromEntries(phases), naive, outcomes: [...results.values()].map((r) => r.outcome) }, md);
  return md;
}

/** weir_release_ticks_total over every result, from the control process's /metrics. */
async function tickCount(w: World): Promise<number> {
  const text = await fetch(`${w.base}/metrics`).then((r) => r.text());
  return [...text.matchAll(/^weir_release_ticks_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

// ---- controller cost at 100 concurrent releases ----

export async function releaseControllerCost(): Promise<string> {
  const n = envInt('BENCH_RELEASES', 100);
  const rate = envInt('BENCH_RATE', 2);
  const windowS = envInt('BENCH_SECONDS', 60);
  const w = await startWorld('cost', { WEIR_RELEASE_SWEEP_MS: '5000' });
  await putPolicy(
    w,
    'long',
    `name: long
interval: 10s
defaults: { minSamples: 5 }
conditions:
  - { name: errors, value: 'lower(target.errorRate) <= upper(source.errorRate) * 1.2 + 0.001' }
  - { name: latency, value: 'target.p95 <= max(source.p95 * 1.25, 50ms)' }
steps:
  - { name: canary, source: { weight: 90 }, target: { weight: 10 }, endAfter: { duration: 1h } }
`,
  );
  const ports = await harnessFreePorts(n, '127.0.0.2');
  const v1 = await behaviourUpstream('v1');
  const v2 = await behaviourUpstream('v2');
  const loads: Load[] = [];
  const names = Array.from({ length: n }, (_x, i) => `c${i}`);
  const measure = async (label: string): Promise<{ label: string; cpuPct: number; rssMiB: number; cpuS: number; seconds: number }> => {
    const c0 = cpuSeconds(w.control.pid);
    const t0 = performance.now();
    const rss: number[] = [];
    while (performance.now() - t0 < windowS * 1000) {
      rss.push(rssKiB(w.control.pid) / 1024);
      await sleep(1000);
    }
    const s = (performance.now() - t0) / 1000;
    const cpuS = cpuSeconds(w.control.pid) - c0;
    return { label, cpuPct: (cpuS / s) * 100, rssMiB: Math.max(...rss), cpuS, seconds: s };
  };
  const rows: Array<Array<string | number>> = [];
  let ticks = 0;
  try {
    for (const [i, g] of names.entries()) await putGateway(w, g, ports[i] as number, v1, v2);
    await waitServed(w, n);
    for (const [i] of names.entries()) loads.push(startLoad(`http://127.0.0.2:${ports[i] as number}/`, rate, { keepHits: false }));
    await sleep(5000);
    progress('cost: idle window (gateways and traffic, no releases)');
    const idle = await measure('no releases');
    for (const g of names) {
      const r = await w.api('POST', `${NS}/gateways/${g}/releases`, { policy: 'long', source: 'v1', target: 'v2' });
      if (r.status !== 201) throw new Error(`start ${g}: ${r.status} ${r.text}`);
    }
    await waitAll(w, names, (r) => r.step.stage === 'Measure', 120_000);
    await sleep(12_000);
    progress(`cost: ${n} releases in progress`);
    const before = await tickCount(w);
    const busy = await measure(`${n} releases (one tick every 10 s each)`);
    ticks = (await tickCount(w)) - before;
    for (const m of [idle, busy]) rows.push([m.label, fmt(m.cpuPct, 2), fmt(m.rssMiB, 0), fmt(m.cpuS, 2)]);
    const extra = busy.cpuS - idle.cpuS * (busy.seconds / idle.seconds);
    rows.push([`difference per tick (${ticks} ticks judged in the window)`, '', '', `${fmt((extra / Math.max(1, ticks)) * 1000, 2)} ms`]);
  } finally {
    for (const l of loads) await l.stop();
    await v1.close();
    await v2.close();
    await w.stop();
  }
  const md = [
    `### Controller cost (${n} gateways, ${rate} requests/s each, ${windowS} s windows; processes: nats-server, weir control (API + controller), weir agent + HAProxy master and worker; load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`,
    '',
    table(['state', 'control process CPU %', 'RSS max MiB', 'CPU s'], rows),
  ].join('\n');
  await writeResult('release-cost', { machine: machine(), rows }, md);
  return md;
}
