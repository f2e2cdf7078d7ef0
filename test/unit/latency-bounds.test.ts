// The 95 % intervals of latency percentiles that lower()/upper() read: order-statistic ranks of
// the pooled histogram (NATS source). They must contain the true percentile about 95 % of the time.
import { LatencyHistogram } from '../../metrics/latency-histogram.js';
import { LATENCY_BOUND_Z } from '../../metrics/window-source.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('latency percentile bounds');

t('ranks n·q ∓ z·√(n·q·(1−q)), rounded outward; one sample is its own interval; empty is null', () => {
  const h = new LatencyHistogram();
  for (let ms = 1; ms <= 20; ms++) h.add(ms, 10); // 200 samples, 10 each of 1..20 ms
  // p95: rank 190 ∓ 6.04 → ranks 183 and 197 → 19 ms and 20 ms
  assert.equal(h.quantileBounds(0.95, LATENCY_BOUND_Z), [19, 20]);
  // p50: rank 100 ∓ 13.9 → ranks 86 and 114 → 9 ms and 12 ms
  assert.equal(h.quantileBounds(0.5, LATENCY_BOUND_Z), [9, 12]);
  const one = new LatencyHistogram();
  one.add(7);
  assert.equal(one.quantileBounds(0.95, LATENCY_BOUND_Z), [7, 7]);
  assert.is(new LatencyHistogram().quantileBounds(0.95, LATENCY_BOUND_Z), null);
});

t('coverage: the interval of p95 from 300 samples holds the true p95 in about 95 % of 2000 draws', () => {
  // Uniform 5–25 ms (the false-rollback bench's upstream jitter): true p95 = 24 ms.
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let covered = 0;
  const draws = 2000;
  for (let d = 0; d < draws; d++) {
    const h = new LatencyHistogram();
    for (let i = 0; i < 300; i++) h.add(Math.round(5 + 20 * rnd()));
    const [lo, hi] = h.quantileBounds(0.95, LATENCY_BOUND_Z) as [number, number];
    if (lo <= 24 && 24 <= hi) covered++;
  }
  // Whole-millisecond values make the ranks land on ties, so coverage is at least nominal.
  assert.ok(covered / draws >= 0.93, `coverage ${covered / draws}`);
});

t.run();
