// docs/RELEASE-REFERENCE.md must match what the policy schema generates, and the OpenAPI
// components must come from the same schemas.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, assert } from '../harness/uvu.js';
import { renderReleaseReference } from '../../release/reference-doc.js';
import { releaseOpenApiComponents } from '../../release/openapi.js';
import { packageRoot } from '../../runtime/package-root.js';

test('docs/RELEASE-REFERENCE.md is up to date (regenerate: npx tsx scripts/gen-release-docs.ts)', () => {
  assert.fixture(readFileSync(join(packageRoot(), 'docs', 'RELEASE-REFERENCE.md'), 'utf8'), renderReleaseReference());
});

test('the reference documents every field of the model', () => {
  const doc = renderReleaseReference();
  for (const f of ['interval', 'gracePeriod', 'progressDeadline', 'defaults.minSamples', 'defaults.onNoData', 'defaults.onInconclusive', 'defaults.onError', 'defaults.failureLimit', 'defaults.inconclusiveLimit', 'defaults.consecutiveErrorLimit', 'baselines[].value', 'conditions[].value', 'steps[].source.weight', 'steps[].target.weight', 'steps[].target.condition', 'steps[].target.conditionStrength', 'steps[].endAfter.duration', 'steps[].endAfter.minSamples', 'steps[].gate', 'steps[].conditions[].value', 'hooks[].type', 'hooks[].url', 'hookSecret'])
    assert.ok(doc.includes(`| \`${f}\` |`), f);
});

test('OpenAPI components: the policy input and the run view, from zod', () => {
  const c = releaseOpenApiComponents() as Record<string, { properties?: Record<string, unknown>; $schema?: string }>;
  assert.ok(c.ReleasePolicy?.properties?.steps && !c.ReleasePolicy.$schema);
  const run = c.ReleaseRun?.properties ?? {};
  for (const k of ['id', 'phase', 'step', 'pauseReasons', 'measurements', 'transitions', 'snapshot', 'policy', 'status']) assert.ok(k in run, k);
  JSON.stringify(c);
});
test.run();
