// Benchmark entry: `node dist/bench/run.js [name...]` (or `make bench B=name`).
// Names: throughput, latency, scale, convergence, log-sources, console, data-plane, release-detection, release-false-rollbacks, release-cost, ship-cpu, ship-data-plane, ship-memory, exactness, log-pipeline; none = all, in that order. Tables go to stdout,
// progress to stderr, raw results to .cache/bench/. Knobs are environment variables
// (BENCH_SECONDS, BENCH_RUNS, ...; see docs/BENCHMARKS.md).
import { progress } from './lib.js';

const BENCHMARKS: Record<string, () => Promise<void>> = {
  throughput: async () => (await import('./throughput.js')).throughput(),
  latency: async () => (await import('./latency.js')).latency(),
  scale: async () => (await import('./scale.js')).scale(),
  convergence: async () => {
    const { runConvergenceBench } = await import('./convergence.js');
    process.stdout.write(`${await runConvergenceBench({})}\n`);
  },
  'log-sources': async () => {
    await import('./log-sources.js');
  },
  console: async () => {
    const { consoleBench } = await import('./console.js');
    process.stdout.write(`${await consoleBench()}\n`);
  },
  'data-plane': async () => {
    const { dataPlane } = await import('./data-plane.js');
    process.stdout.write(`${await dataPlane()}\n`);
  },
  'release-detection': async () => void process.stdout.write(`${await (await import('./releases.js')).releaseDetection()}\n`),
  'release-false-rollbacks': async () => void process.stdout.write(`${await (await import('./releases.js')).releaseFalseRollbacks()}\n`),
  'release-cost': async () => void process.stdout.write(`${await (await import('./releases.js')).releaseControllerCost()}\n`),
  'ship-cpu': async () => void process.stdout.write(`${await (await import('./shipping.js')).shipCpu()}\n`),
  'ship-data-plane': async () => void process.stdout.write(`${await (await import('./shipping.js')).shipDataPlane()}\n`),
  'ship-memory': async () => void process.stdout.write(`${await (await import('./shipping.js')).shipMemory()}\n`),
  exactness: async () => void process.stdout.write(`${await (await import('./exactness.js')).exactness()}\n`),
  'log-pipeline': async () => {
    const { logPipeline } = await import('./log-pipeline.js');
    process.stdout.write(`${await logPipeline()}\n`);
  },
};

async function main(): Promise<void> {
  const names = process.argv.slice(2).flatMap((a) => a.split(/[\s,]+/)).filter(Boolean);
  const todo = names.length > 0 ? names : Object.keys(BENCHMARKS);
  const unknown = todo.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHMARKS).join(', ')}\n`);
    process.exit(2);
  }
  for (const n of todo) {
    progress(`== ${n}`);
    const started = Date.now();
    await BENCHMARKS[n]?.();
    progress(`== ${n} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
