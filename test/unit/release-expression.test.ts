import { suite, assert } from '../harness/uvu.js';
import { evaluate, parseExpression, type SideValues } from '../../release/expression.js';
import { parseDuration, formatDuration } from '../../release/duration.js';

const baselines = new Set(['health', 'maxDuration']);
const ok = (src: string) => {
  const r = parseExpression(src, { baselines });
  if (!r.ok) throw new Error(`${src}: column ${r.error.column}: ${r.error.message}`);
  return r;
};
const err = (src: string) => {
  const r = parseExpression(src, { baselines });
  if (r.ok) throw new Error(`expected an error for ${src}`);
  return r.error;
};
const side = (o: Partial<SideValues>): SideValues => ({ requests: 1000, errors: 0, errorRate: 0, rate: 10, p50: 0.01, p95: 0.02, p99: 0.03, health: 1, ...o });
const env = (source: Partial<SideValues>, target: Partial<SideValues>) => ({ source: side(source), target: side(target), baselines: new Map([['health', 0.97], ['maxDuration', 300]]) });

const p = suite('release expressions: parsing');
p('the issue\'s examples parse and name their sides', () => {
  assert.equal(ok('target.errorRate <= source.errorRate * 1.2 + 0.001').sides, ['source', 'target']);
  assert.equal(ok('target.p95 <= max(source.p95 * 1.25, 0.050)').sides, ['source', 'target']);
  assert.equal(ok('target.health >= baselines.health').baselines, ['health']);
  // Vamp's form: a bare metric is the target's.
  const v = ok('health >= baselines.health');
  assert.equal(v.sides, ['target']);
});
p('precedence: * before +, comparisons before and, and before or; not', () => {
  const r = evaluate(ok('1 + 2 * 3 == 7 and not 1 > 2 or false').expr, env({}, {}));
  assert.equal(r.kind === 'value' && r.holds, true);
  const r2 = evaluate(ok('-(1 - 3) == 2 && !(2 < 1) || 1 > 2').expr, env({}, {}));
  assert.equal(r2.kind === 'value' && r2.holds, true);
});
p('units: 50ms, 2s, 1%', () => {
  const r = evaluate(ok('50ms == 0.05 and 2s == 2 and 1% == 0.01').expr, env({}, {}));
  assert.ok(r.kind === 'value' && r.holds);
});
p('errors carry a column and a reason', () => {
  assert.equal(err('target.errorRat <= 1'), { column: 8, message: 'unknown metric "errorRat": metrics are requests, errors, errorRate, rate, p50, p95, p99, health' });
  assert.match(err('target.errorrate <= 1').message, /did you mean errorRate/);
  assert.equal(err('health >= baselines.nope').column, 11);
  assert.match(err('health >= baselines.nope').message, /unknown baseline "nope" \(the policy defines health, maxDuration\)/);
  assert.equal(err('target.p95 <= ').column, 15);
  assert.match(err('target.p95 = 1').message, /use == to compare/);
  assert.match(err('target.p95 + 1').message, /must be a comparison/);
  assert.match(err('1 < 2 < 3').message, /cannot be chained/);
  assert.match(err('(1 < 2').message, /expected "\)"/);
  assert.match(err('frob(1) > 0').message, /unknown function "frob"/);
  assert.match(err('max(1) > 0').message, /at least two/);
  assert.match(err('1 and 2 < 3').message, /must be a comparison/);
  assert.match(err('10km > 1').message, /unknown unit/);
  assert.match(err('').message, /empty/);
  assert.match(err('prod.p95 > 1').message, /source\.<metric>, target\.<metric>/);
  assert.equal(err('1 < 2 $').column, 7);
});
p('bounded: length, depth, nodes; eval and Function are never used', () => {
  assert.match(err('1 < ' + '1+'.repeat(600) + '1').message, /longer than|too complex/);
  assert.match(err('('.repeat(40) + '1<2' + ')'.repeat(40)).message, /deeper/);
  assert.match(err('constructor(1) > 1').message, /unknown function/);
  assert.match(err('__proto__.p95 > 1').message, /source\.<metric>/);
});

const e = suite('release expressions: evaluation');
e('relative error rate: v2 five times worse fails, equal passes', () => {
  const x = ok('target.errorRate <= source.errorRate * 1.2 + 0.001').expr;
  const bad = evaluate(x, env({ errorRate: 0.01 }, { errorRate: 0.05 }));
  assert.ok(bad.kind === 'value' && !bad.holds);
  if (bad.kind === 'value') assert.equal(bad.comparisons[0], { text: 'target.errorRate <= source.errorRate * 1.2 + 0.001', left: 0.05, op: '<=', right: 0.01 * 1.2 + 0.001, holds: false });
  const good = evaluate(x, env({ errorRate: 0.01 }, { errorRate: 0.01 }));
  assert.ok(good.kind === 'value' && good.holds);
});
e('a missing figure (no timed request) is missing, not a verdict; unless the other side decides', () => {
  const x = ok('target.p95 <= max(source.p95 * 1.25, 0.050)').expr;
  assert.equal(evaluate(x, env({}, { p95: null })), { kind: 'missing', what: ['target.p95'] });
  const or = ok('target.p95 <= 1 or target.errorRate == 0').expr;
  const r = evaluate(or, env({}, { p95: null, errorRate: 0 }));
  assert.ok(r.kind === 'value' && r.holds);
});
e('lower()/upper(): the 95 % Wilson bounds of a ratio given that side\'s requests', () => {
  const x = ok('lower(target.errorRate) <= upper(source.errorRate) * 1.2 + 0.001').expr;
  // 2 errors in 200 on both sides: noise, not a worse canary.
  const same = evaluate(x, env({ errorRate: 0.01, requests: 200 }, { errorRate: 0.02, requests: 200 }));
  assert.ok(same.kind === 'value' && same.holds);
  // Every request failing, even on 20 requests, is significant.
  const bad = evaluate(x, env({ errorRate: 0, requests: 80 }, { errorRate: 1, requests: 20 }));
  assert.ok(bad.kind === 'value' && !bad.holds);
  if (bad.kind === 'value') assert.ok(Math.abs((bad.comparisons[0]?.left ?? 0) - 0.8389) < 0.001);
  assert.match(err('lower(target.rate) < 1').message, /takes a ratio or a latency percentile of one side/);
  assert.match(err('upper(0.5) < 1').message, /takes a ratio or a latency percentile/);
  assert.equal(evaluate(x, env({ requests: 0 }, {})), { kind: 'missing', what: ['source.requests'] });
  const clean = evaluate(x, env({ errorRate: 0, requests: 300 }, { errorRate: 0, requests: 300 }));
  assert.ok(clean.kind === 'value' && clean.comparisons[0]?.left === 0, 'no errors: the lower bound is exactly 0');
});
e('lower()/upper() of a percentile: the bounds of its 95 % interval, from the side\'s figures', () => {
  const x = ok('lower(target.p95) <= max(upper(source.p95) * 1.25, 50ms)').expr;
  // Point estimates 1.4 × apart, intervals overlapping: noise, not a slower canary.
  const noisy = evaluate(x, env({ p95: 0.1, latencyBounds: { p95: [0.08, 0.13] } }, { p95: 0.14, latencyBounds: { p95: [0.11, 0.2] } }));
  assert.ok(noisy.kind === 'value' && noisy.holds);
  if (noisy.kind === 'value') assert.equal([noisy.comparisons[0]?.left, noisy.comparisons[0]?.right], [0.11, 0.1625]);
  const slow = evaluate(x, env({ p95: 0.02, latencyBounds: { p95: [0.018, 0.022] } }, { p95: 0.3, latencyBounds: { p95: [0.29, 0.31] } }));
  assert.ok(slow.kind === 'value' && !slow.holds);
  // Without bounds (no timed requests) it is missing, never a verdict.
  assert.equal(evaluate(x, env({ latencyBounds: null }, { latencyBounds: null })), { kind: 'missing', what: ['lower(target.p95)'] });
});
e('division by zero is undefined', () => {
  const r = evaluate(ok('target.errors / source.errors < 2').expr, env({ errors: 0 }, { errors: 3 }));
  assert.equal(r.kind, 'undefined');
});

const d = suite('durations');
d('parse and format', () => {
  assert.equal(parseDuration('30s'), { ok: true, ms: 30_000 });
  assert.equal(parseDuration('1m30s'), { ok: true, ms: 90_000 });
  assert.equal(parseDuration('5m0s'), { ok: true, ms: 300_000 });
  assert.equal(parseDuration('500ms'), { ok: true, ms: 500 });
  assert.equal(parseDuration('1.5s'), { ok: true, ms: 1500 });
  assert.equal(parseDuration('0'), { ok: true, ms: 0 });
  assert.equal(parseDuration('30').ok, false);
  assert.equal(parseDuration('30 s').ok, false);
  assert.equal(parseDuration('8d').ok, false);
  assert.equal(parseDuration('200h').ok, false);
  assert.is(formatDuration(90_500), '1m30s500ms');
  assert.is(formatDuration(0), '0s');
});

p.run();
e.run();
d.run();
