// BoundHistogram against prom-client's Histogram: the same observations give the same scrape text and JSON.
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { suite, assert } from '../harness/uvu.js';
import { BoundHistogram } from '../../metrics/bound-histogram.js';

const t = suite('bound histogram');

t('same exposition and JSON as prom-client for the same observations', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('total', 'active'), fc.oneof(fc.double({ min: 0, max: 40, noNaN: true }), fc.constantFrom(0.001, 0.0025, 30, 0))), { maxLength: 200 }), async (obs) => {
      const ours = new Registry();
      const theirs = new Registry();
      const opts = { name: 'x_seconds', help: 'help with "quotes" and \\ backslash', labelNames: ['route', 'phase'] as const, buckets: [0.001, 0.0025, 0.01, 1, 30] };
      const b = new BoundHistogram({ ...opts, registers: [ours] });
      const h = new Histogram({ ...opts, labelNames: [...opts.labelNames], registers: [theirs] });
      for (const [route, phase, v] of obs) {
        b.labels({ route, phase }).observe(v);
        h.labels({ route, phase }).observe(v);
      }
      assert.is(await ours.metrics(), await theirs.metrics());
      // prom-client adds `exemplar: null` to its buckets (exemplars are off); otherwise the same values.
      const noExemplar = (json: unknown): unknown => JSON.parse(JSON.stringify(json, (k, v: unknown) => (k === 'exemplar' ? undefined : v)));
      assert.equal(noExemplar(await ours.getMetricsAsJSON()), noExemplar(await theirs.getMetricsAsJSON()));
    }),
    { numRuns: 200 },
  );
});

t('refuses labels it was not made for, non-finite values and unordered buckets', () => {
  const b = new BoundHistogram({ name: 'y', help: 'h', labelNames: ['route'], buckets: [1, 2], registers: [new Registry()] });
  assert.throws(() => b.labels({ route: 'a', extra: 'b' } as { route: string }), /labels/);
  assert.throws(() => b.labels({} as { route: string }), /missing/);
  assert.throws(() => b.labels({ route: 'a' }).observe(Number.NaN), /valid number/);
  assert.throws(() => new BoundHistogram({ name: 'z', help: 'h', labelNames: [], buckets: [2, 1], registers: [] }), /ascending/);
});

t.run();
