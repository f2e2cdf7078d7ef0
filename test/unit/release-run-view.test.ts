import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { formatPolicyErrors, parsePolicyText } from '../../release/policy.js';
import { createRun } from '../../release/run-machine.js';
import { runView } from '../../release/run-view.js';
import { renderStatus } from '../../cli/release-commands.js';
import { packageRoot } from '../../runtime/package-root.js';

const t = suite('release run view');
const policy = (() => {
  const r = parsePolicyText(readFileSync(join(packageRoot(), 'examples', 'release-policies', 'canary.yaml'), 'utf8'), 'yaml');
  if (!r.ok) throw new Error(formatPolicyErrors(r.errors).join('\n'));
  return r.policy;
})();
const t0 = new Date('2026-12-02T10:00:00.000Z');
const run = () =>
  createRun({ id: 'r-1', namespace: 'acme/prod', gateway: 'shop', source: 'v1', target: 'v2', policy, snapshot: { gatewayVersion: 'v', routes: {} }, trigger: 'api', actor: 'ci', now: t0 });

t('a running step counts up to now with the time left', () => {
  const r = { ...run(), phase: 'Progressing' as const, step: { ...run().step, startedAt: t0.toISOString() } };
  const v = runView(r, policy, new Date(t0.getTime() + 20_000));
  assert.is(v.status.step.elapsedSeconds, 20);
  assert.is(v.status.step.timeLeftSeconds, 40);
  assert.match(renderStatus(v, t0.getTime() + 20_000), /20s in \(at least 1m00s\), time left 40s/);
});

t('a finished run\'s step stops at its last transition, with no time left', () => {
  const base = run();
  const ended = new Date(t0.getTime() + 31_000).toISOString();
  const r = {
    ...base,
    phase: 'Succeeded' as const,
    step: { ...base.step, startedAt: t0.toISOString() },
    transitions: [...base.transitions, { at: ended, kind: base.transitions[0]!.kind, from: 'Progressing' as const, to: 'Succeeded' as const, step: 0, actor: 'controller', reason: 'done' }],
  };
  const v = runView(r, policy, new Date(t0.getTime() + 3_600_000));
  assert.is(v.status.step.elapsedSeconds, 31, 'not an hour later');
  assert.is(v.status.step.timeLeftSeconds, null);
  assert.match(renderStatus(v, t0.getTime() + 3_600_000), /31s long \(at least 1m00s\)\n/);
});

t.run();
