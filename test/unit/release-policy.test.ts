import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { formatPolicyErrors, parsePolicyText, validatePolicyInput } from '../../release/policy.js';
import { packageRoot as repoRoot } from '../../runtime/package-root.js';

const example = (f: string) => readFileSync(join(repoRoot(), 'examples', 'release-policies', f), 'utf8');
const base = () => ({
  name: 'p',
  conditions: [{ name: 'errors', value: 'target.errorRate <= source.errorRate * 1.2 + 0.001' }],
  steps: [
    { source: { weight: 90 }, target: { weight: 10 }, endAfter: { duration: '1m' } },
    { source: { weight: 0 }, target: { weight: 100 } },
  ],
});
const errorsOf = (doc: unknown, expectedName?: string): string[] => {
  const r = validatePolicyInput(doc, expectedName ? { expectedName } : {});
  if (r.ok) throw new Error('expected errors');
  return formatPolicyErrors(r.errors);
};

const t = suite('release policies');
t('the canary example: defaults, steps, conditions, hash', () => {
  const r = parsePolicyText(example('canary.yaml'), 'yaml', { expectedName: 'canary' });
  if (!r.ok) throw new Error(formatPolicyErrors(r.errors).join('\n'));
  const p = r.policy;
  assert.is(p.intervalMs, 30_000);
  assert.is(p.gracePeriodMs, 10_000);
  assert.equal(p.steps.map((s) => [s.name, s.source.weight, s.target.weight, s.endAfter.durationMs]), [
    ['canary-5', 95, 5, 60_000],
    ['canary-25', 75, 25, 120_000],
    ['half', 50, 50, 120_000],
  ]);
  assert.equal(p.steps[0]?.conditions.map((c) => c.name), ['errors', 'latency']);
  assert.is(p.defaults.minSamples, 100);
  assert.is(p.defaults.consecutiveErrorLimit, 4);
  assert.match(p.hash, /^[0-9a-f]{64}$/);
  assert.is(r.vamp, false);
  // Key order does not change the hash.
  const again = validatePolicyInput(Object.fromEntries(Object.entries(JSON.parse(JSON.stringify(p.document)) as Record<string, unknown>).reverse()));
  assert.ok(again.ok && again.policy.hash === p.hash);
});
t('endAfter defaults to one interval; a step may name a duration baseline', () => {
  const r = validatePolicyInput({ ...base(), baselines: [{ name: 'maxDuration', value: '5m' }, { name: 'health', value: '97%' }], steps: [{ source: { weight: 100 }, target: { weight: 0 }, endAfter: { duration: 'baselines.maxDuration' } }, { source: { weight: 0 }, target: { weight: 100 } }] });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.is(r.policy.steps[0]?.endAfter.durationMs, 300_000);
  assert.is(r.policy.steps[1]?.endAfter.durationMs, 30_000);
  assert.is(r.policy.baselines.health, 0.97);
  assert.is(r.policy.baselines.maxDuration, 300);
});
t('bad input: each problem names the policy, the field path and the reason', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base(), steps: [{ source: { weight: 90 }, target: { weight: 20 } }] }, /^policy "p": steps\[0\]\.target\.weight: source 90% \+ target 20% = 110%, must be 100%/],
    [{ ...base(), steps: [{ source: { weight: 101 }, target: { weight: 0 } }] }, /^policy "p": steps\[0\]\.source\.weight: source weight must be between 0 and 100/],
    [{ ...base(), conditions: [{ value: 'target.latency <= 1' }] }, /^policy "p": conditions\[0\]\.value: column 8: unknown metric "latency"/],
    [{ ...base(), conditions: [{ value: 'target.health >= baselines.health' }] }, /^policy "p": conditions\[0\]\.value: column 18: unknown baseline "health" \(the policy defines no baselines\)/],
    [{ ...base(), conditions: [{ value: 'target.p95 <= (1' }] }, /conditions\[0\]\.value: column 17: expected "\)"/],
    [{ ...base(), interval: '15s' }, /^policy "p": interval: "15s" is not a multiple of the 10 s aggregate window/],
    [{ ...base(), interval: 'soon' }, /^policy "p": interval: "soon" is not a duration/],
    [{ ...base(), gracePeriod: '1 minute' }, /gracePeriod: "1 minute" is not a duration/],
    [{ ...base(), hookSecret: 'env:S', hooks: [{ name: 'h', type: 'event', url: 'ftp://ci/x' }] }, /hooks\[0\]\.url: "ftp:" is not allowed: hooks are http:\/\/ or https:\/\/ URLs/],
    [{ ...base(), hookSecret: 'env:S', hooks: [{ name: 'h', type: 'event', url: 'not a url' }] }, /hooks\[0\]\.url: "not a url" is not a URL/],
    [{ ...base(), hooks: [{ name: 'h', type: 'event', url: 'https://ci/x' }] }, /hookSecret: required when the policy has hooks/],
    [{ ...base(), hookSecret: 'env:S', hooks: [{ name: 'h', type: 'step-check', url: 'https://ci/x', timeout: '30s' }] }, /hooks\[0\]\.timeout: a step-check hook's timeout \(30s\) must be below the interval \(30s\)/],
    [{ ...base(), hookSecret: 'env:S', hooks: [{ name: 'h', type: 'step-check', url: 'https://ci/x', steps: ['nope'] }] }, /hooks\[0\]\.steps\[0\]: no step named "nope"/],
    [{ ...base(), hookSecret: 'env:S', hooks: [{ name: 'h', type: 'ci', url: 'https://ci/x' }] }, /hooks\[0\]\.type: expected one of confirm-release/],
    [{ ...base(), steps: [{ source: { weight: 100 }, target: { weight: 0, conditionStrength: 50 } }] }, /steps\[0\]\.target\.conditionStrength: conditionStrength needs a condition/],
    [{ ...base(), steps: [{ source: { weight: 100 }, target: { weight: 0, condition: 'user-agent = iPhone and (' } }] }, /steps\[0\]\.target\.condition: /],
    [{ ...base(), steps: [{ source: { weight: 100 }, target: { weight: 0 }, endAfter: { duration: 'baselines.nope' } }] }, /steps\[0\]\.endAfter\.duration: unknown baseline "nope"/],
    [{ ...base(), steps: [] }, /steps: a policy needs at least one step/],
    [{ ...base(), stepz: [] }, /unknown field "stepz"/],
    [{ ...base(), defaults: { onError: 'explode' } }, /defaults\.onError: expected "pause" or "fail"/],
    [{ ...base(), name: 'Bad_Name' }, /name: a policy name is a lower-case DNS label/],
  ];
  for (const [doc, re] of cases) {
    const errs = errorsOf(doc);
    assert.ok(errs.some((e) => re.test(e)), `${JSON.stringify(doc).slice(0, 160)}\n  got: ${errs.join('\n       ')}\n  want: ${re}`);
  }
  assert.match(errorsOf({ ...base(), name: 'other' }, 'p').join(), /name: the document is named "other" but is stored as "p"/);
  const yaml = parsePolicyText('steps:\n  - a: 1\n  - a: 1\n  a: 2\n', 'yaml', { expectedName: 'p' });
  assert.ok(!yaml.ok);
  const dup = parsePolicyText('{"steps": [], "steps": []}', 'json', { expectedName: 'p' });
  assert.ok(!dup.ok && /duplicate|unique/i.test(formatPolicyErrors(dup.errors).join()));
});

const v = suite('Vamp policies');
v('hotfix-policy.json is accepted as written and translated', () => {
  const r = parsePolicyText(example('vamp-hotfix.json'), 'json', { expectedName: 'hotfix' });
  if (!r.ok) throw new Error(formatPolicyErrors(r.errors).join('\n'));
  assert.is(r.vamp, true);
  const p = r.policy;
  assert.equal(p.steps.map((s) => s.endAfter.durationMs), [30_000, 60_000, 60_000, 60_000]);
  assert.equal(p.steps[1]?.target, { weight: 0, condition: 'user-agent = iPhone', conditionStrength: 100 });
  assert.is(p.steps[0]?.conditions[0]?.gracePeriodMs, 30_000);
  assert.is(p.gracePeriodMs, 60_000);
  assert.is(p.steps[0]?.conditions[0]?.value, 'health >= baselines.health');
  assert.equal(p.steps[0]?.conditions[0]?.sides, ['target']);
  assert.is(p.defaults.onNoData, 'pass');
  assert.ok(r.notes.some((n) => /health is 1 − errorRate/.test(n)));
  assert.is(p.baselines.health, 0.97);
});
v('the older schema: duration per step; unknown metrics and source conditions are refused', () => {
  const r = validatePolicyInput({ name: 'old', maxStartRetries: 3, steps: [{ duration: '5m', source: { weight: 100 }, target: { weight: 0 } }, { duration: '5m', source: { weight: 0 }, target: { weight: 100 } }] });
  assert.ok(r.ok && r.policy.steps[0]?.endAfter.durationMs === 300_000 && r.notes.some((n) => /maxStartRetries/.test(n)));
  assert.match(errorsOf({ name: 'x', metrics: [{ name: 'cpu', value: { source: 'es' } }], steps: [{ duration: '1m', source: { weight: 100 }, target: { weight: 0 } }] }).join(), /metrics\[0\]\.name: "cpu" is not a metric Weir measures/);
  assert.match(errorsOf({ name: 'x', steps: [{ duration: '1m', source: { weight: 100, condition: 'has cookie x' }, target: { weight: 0 } }] }).join(), /steps\[0\]\.source\.condition: a condition on the source route is not supported/);
  assert.match(errorsOf({ name: 'x', steps: [{ endAfter: { value: 'requests > 5' }, source: { weight: 100 }, target: { weight: 0 } }] }).join(), /steps\[0\]\.endAfter\.value: "requests > 5": Vamp's endAfter is "duration == <duration>"/);
});

t.run();
v.run();
