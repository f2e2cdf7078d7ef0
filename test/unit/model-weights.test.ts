import { test, assert } from '../harness/uvu.js';
import fc from 'fast-check';
import { fillWeights } from '../../model/weights.js';

const w = (...ws: Array<number | undefined>) => fillWeights(ws.map((weight, i) => ({ name: `r${i}`, weight })));

test('all given, adding up to 100', () => assert.equal(w(90, 10), { ok: true, weights: [90, 10] }));
test('Vamp doc examples: 90/10 and 100/0', () => {
  assert.equal(w(90, 10), { ok: true, weights: [90, 10] });
  assert.equal(w(100, 0), { ok: true, weights: [100, 0] });
});
test('all given, neither 100 nor 0: error names the total at the last route', () => {
  assert.equal(w(90, 20), { ok: false, path: 'routes.r1.weight', at: ['routes', 'r1', 'weight'], message: 'weights add up to 110%, must be 100% (or 0%, to route by conditions only)' });
  assert.equal(w(0, 1), { ok: false, path: 'routes.r1.weight', at: ['routes', 'r1', 'weight'], message: 'weights add up to 1%, must be 100% (or 0%, to route by conditions only)' });
});
test('all zero, as in Vamp: only conditions route', () => assert.equal(w(0, 0), { ok: true, weights: [0, 0] }));
test('the error path follows where the route was written', () =>
  assert.equal(fillWeights([{ name: 'a', weight: 5, at: ['routes', 0, 'a'] }]), { ok: false, path: 'routes[0].a.weight', at: ['routes', 0, 'a', 'weight'], message: 'weights add up to 5%, must be 100% (or 0%, to route by conditions only)' }));
test('missing weights share the rest, last missing takes the remainder', () => {
  assert.equal(w(undefined, undefined, undefined), { ok: true, weights: [33, 33, 34] });
  assert.equal(w(50, undefined, undefined), { ok: true, weights: [50, 25, 25] });
  assert.equal(w(undefined, 10, undefined, undefined), { ok: true, weights: [30, 10, 30, 30] });
  assert.equal(w(undefined, 1, undefined, 2), { ok: true, weights: [48, 1, 49, 2] });
  assert.equal(w(undefined), { ok: true, weights: [100] });
  assert.equal(w(100, undefined), { ok: true, weights: [100, 0] });
  assert.equal(w(undefined, 0), { ok: true, weights: [100, 0] });
});
test('sum over 100 with missing weights is an error', () =>
  assert.equal(w(60, 50, undefined), { ok: false, path: 'routes', at: ['routes'], message: 'weights add up to 110% before the 1 route(s) without a weight are filled in, must be at most 100%' }));
test('no routes', () => assert.equal(w(), { ok: true, weights: [] }));
test('property: filled weights are integers 0..100 adding up to 100, given ones unchanged', () => {
  fc.assert(
    fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }), { minLength: 1, maxLength: 10 }), (ws) => {
      const r = w(...ws);
      const sum = ws.reduce<number>((a, b) => a + (b ?? 0), 0);
      const missing = ws.filter((x) => x === undefined).length;
      if (sum > 100 || (missing === 0 && sum !== 100 && sum !== 0)) return !r.ok;
      if (!r.ok) return false;
      return (
        r.weights.reduce((a, b) => a + b, 0) === (missing === 0 && sum === 0 ? 0 : 100) &&
        r.weights.every((x, i) => Number.isInteger(x) && x >= 0 && x <= 100 && (ws[i] === undefined || ws[i] === x))
      );
    }),
  );
});
test.run();
