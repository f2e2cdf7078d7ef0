// Scale: for each size, a fresh child process runs bench/scale-child (pure timings, then a real
// agent). Gateways get distinct ports from BENCH_PORT_BASE upwards (below the ephemeral range).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { envInt, fmt, machine, portRange, progress, startUpstreams, table, tempDir, writeResult, type HaproxyProc } from './lib.js';
import type { ScaleInput } from './scale-child.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Result = any;

function runChild(input: ScaleInput, timeoutMs: number): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  const file = self.replace(/scale\.(ts|js)$/, 'scale-child.$1');
  const child = fork(file, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killOnExit = (): void => {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (child.pid && child.exitCode === null) child.kill('SIGTERM');
      if (!settled) reject(new Error(`size ${input.size}: timed out after ${timeoutMs} ms`));
      settled = true;
    }, timeoutMs);
    child.once('message', (m: { ok: boolean; result?: Result; error?: string }) => {
      settled = true;
      clearTimeout(timer);
      if (m.ok) resolve(m.result);
      else reject(new Error(`size ${input.size}: ${m.error}`));
    });
    child.once('exit', (code) => {
      process.off('exit', killOnExit);
      clearTimeout(timer);
      if (!settled) reject(new Error(`size ${input.size}: child exited with ${code}`));
      settled = true;
    });
    child.send(input);
  });
}

export async function scale(): Promise<void> {
  const sizes = (process.env.BENCH_SCALE_SIZES ?? '10,100,1000,5000').split(',').map(Number).filter((n) => n > 0);
  const portBase = envInt('BENCH_PORT_BASE', 20000);
  const repeats = envInt('BENCH_SCALE_REPEATS', 3);
  const reloadMinIntervalMs = envInt('BENCH_RELOAD_MIN_INTERVAL_MS', 2000);
  const serverSlots = envInt('BENCH_SERVER_SLOTS', 4);
  const info = machine();
  const tmp = await tempDir('weir-bench-scale-up-');
  let upstream: HaproxyProc | null = null;
  const results: Result[] = [];
  const failures: Array<{ size: number; error: string }> = [];
  try {
    const ups = await startUpstreams(tmp.path, ['a', 'b', 'c']);
    upstream = ups.proc;
    for (const size of sizes) {
      progress(`scale: ${size} gateways`);
      const ports = await portRange(size, portBase);
      try {
        results.push(await runChild({ size, ports, up: ups.ports, repeats, reloadMinIntervalMs, serverSlots }, envInt('BENCH_SCALE_TIMEOUT_S', 900) * 1000));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        progress(`scale ${size} failed: ${msg.split('\n').slice(0, 3).join(' | ')}`);
        failures.push({ size, error: msg });
      }
    }
  } finally {
    await upstream?.stop();
    await tmp.remove();
  }

  const mib = (kib: number): string => fmt(kib / 1024, 1);
  const md = [
    `N gateways × 2 routes × 1 target (WEIR_SERVER_SLOTS=${serverSlots} slots per route, checks every 2 s on the enabled slot), WEIR_BIND_ADDRESS=127.0.0.1, ports from ${portBase}; WEIR_DEBOUNCE_MS=10, WEIR_RELOAD_MIN_INTERVAL_MS=${reloadMinIntervalMs}; ${repeats} weight + ${repeats} structural changes per size (medians).`,
    '',
    '**Pure timings (no agent running; one pass)**',
    '',
    table(
      ['gateways', 'config size', 'store list', 'parse + validate', 'build model', 'render', 'haproxy -c', 'plan (1 weight change)', 'write all map files (writeFileAtomic)'],
      results.map((r) => [r.size, `${fmt(r.configBytes / 1024, 0)} KiB`, `${fmt(r.pure.storeListMs, 1)} ms`, `${fmt(r.pure.parseValidateMs, 1)} ms`, `${fmt(r.pure.buildModelMs, 1)} ms`, `${fmt(r.pure.renderMs, 1)} ms`, `${fmt(r.pure.haproxyCheckMs, 0)} ms`, `${fmt(r.pure.planWeightChangeMs, 1)} ms`, `${fmt(r.pure.writeAllMapsAtomicMs, 0)} ms`]),
    ),
    '',
    '**Real agent**',
    '',
    table(
      ['gateways', 'cold start → all applied', 'weight change: traffic shifted', 'weight change: agent idle', 'structural: traffic shifted', 'structural: agent idle', 'reload duration (metric)'],
      results.map((r) => [r.size, `${fmt(r.coldMs, 0)} ms`, `${fmt(r.weightShiftMedianMs, 1)} ms`, `${fmt(r.weightIdleMedianMs, 1)} ms`, `${fmt(r.structShiftMedianMs, 0)} ms`, `${fmt(r.structIdleMedianMs, 0)} ms`, `${fmt(r.reloadMedianMs, 0)} ms`]),
    ),
    '',
    '**Memory (after GC)**',
    '',
    table(
      ['gateways', 'bench process before agent: RSS / heap', 'after cold start: RSS / heap', 'after changes: RSS / heap', 'HAProxy master RSS', 'HAProxy worker RSS after start', 'HAProxy workers after changes (RSS each)'],
      results.map((r) => [
        r.size,
        `${r.memBefore.rssMiB} / ${r.memBefore.heapUsedMiB} MiB`,
        `${r.memAfterStart.rssMiB} / ${r.memAfterStart.heapUsedMiB} MiB`,
        `${r.memAfterChanges.rssMiB} / ${r.memAfterChanges.heapUsedMiB} MiB`,
        `${mib(r.haproxyAfterStart.masterKiB)} MiB`,
        r.haproxyAfterStart.workersKiB.map((k: number) => `${mib(k)} MiB`).join(', '),
        r.haproxyAfterChanges.workersKiB.map((k: number) => `${mib(k)} MiB`).join(', '),
      ]),
    ),
    ...(failures.length > 0 ? ['', '**Failed sizes**', '', ...failures.map((f) => `- ${f.size}: ${f.error.split('\n').slice(0, 4).join(' ')}`)] : []),
  ].join('\n');
  const base = await writeResult('scale', { machine: info, sizes, portBase, repeats, reloadMinIntervalMs, serverSlots, results, failures }, md);
  process.stdout.write(`${md}\n\nmachine: ${JSON.stringify(info)}\nresults: ${base}.{json,md}\n`);
}
