// What one evaluation tick does to a run, given its measurement: the per-condition counters,
// the pause reasons that come and go with the evidence (Inconclusive, MetricsUnavailable,
// HookError, HookWaiting, ProgressDeadlineExceeded) and the decision: keep measuring, the step
// passed, or the release failed. Pure: the controller measures, this decides.
import type { PolicyStep, ReleasePolicy } from './policy.js';
import { addPause, clearPauses, hasPause, isHeld } from './run-machine.js';
import { MAX_MEASUREMENTS, type Counters, type Measurement, type OutcomeCode, type RunRecord } from './run-record.js';

export type TickDecision = { kind: 'measure' } | { kind: 'step-passed'; reason: string } | { kind: 'fail'; code: OutcomeCode; reason: string };

export const CONTROLLER = 'release-controller';

const zero = (): Counters => ({ passed: 0, failed: 0, inconclusive: 0, errors: 0, consecutiveErrors: 0 });
export const hookKey = (name: string): string => `hook:${name}`;

/** Whether the step's own end condition holds at `to`: its duration since the start, and its minimum samples. */
export function endAfterHolds(run: RunRecord, step: PolicyStep, m: Measurement): { holds: boolean; why: string } {
  const started = run.step.startedAt ? Date.parse(run.step.startedAt) : Number.NaN;
  const elapsed = Date.parse(m.window.to) - started;
  if (!(elapsed >= step.endAfter.durationMs)) return { holds: false, why: `${Math.max(0, Math.ceil((step.endAfter.durationMs - (Number.isNaN(elapsed) ? 0 : elapsed)) / 1000))} s of the step left` };
  const min = step.endAfter.minSamples;
  if (min !== null) {
    const sides = [...(step.source.weight > 0 ? [m.source] : []), ...(step.target.weight > 0 || step.target.condition !== null ? [m.target] : [])];
    const short = sides.filter((s) => (s?.requests ?? 0) < min);
    if (short.length > 0) return { holds: false, why: short.map((s) => `${s?.route ?? '?'} has ${s?.requests ?? 0} of ${min} requests`).join(', ') };
  }
  return { holds: true, why: '' };
}

export function applyTick(run: RunRecord, policy: ReleasePolicy, m: Measurement, now: Date): { run: RunRecord; decision: TickDecision } {
  const step = policy.steps[run.step.index] as PolicyStep;
  const counters: Record<string, Counters> = Object.fromEntries(Object.entries(run.step.counters).map(([k, v]) => [k, { ...v }]));
  const counter = (k: string): Counters => (counters[k] ??= zero());
  const settingsOf = (name: string) => step.conditions.find((c) => c.name === name)?.settings ?? policy.defaults;
  let failure: { code: OutcomeCode; reason: string } | null = null;
  const failWith = (code: OutcomeCode, reason: string): void => {
    failure ??= { code, reason };
  };

  for (const r of m.conditions) {
    const c = counter(r.name);
    const s = settingsOf(r.name);
    if (r.verdict === 'Error') {
      c.errors++;
      c.consecutiveErrors++;
      continue;
    }
    c.consecutiveErrors = 0;
    if (r.verdict === 'Passed') c.passed++;
    if (r.verdict === 'Failed') {
      c.failed++;
      if (c.failed > s.failureLimit) failWith('condition-failed', `condition ${r.name} failed ${c.failed} time${c.failed > 1 ? 's' : ''} in step ${step.name} (failureLimit ${s.failureLimit}): ${r.reason}`);
    }
  }
  for (const h of m.hooks) {
    const c = counter(hookKey(h.name));
    if (h.verdict === 'Error') {
      c.errors++;
      c.consecutiveErrors++;
      continue;
    }
    c.consecutiveErrors = 0;
    if (h.verdict === 'Passed') c.passed++;
    if (h.verdict === 'Failed') {
      c.failed++;
      if (c.failed > policy.defaults.failureLimit) failWith('hook-failed', `step-check hook ${h.name} answered fail in step ${step.name}: ${h.detail}`);
    }
  }

  const measurements = [...run.measurements, m].slice(-MAX_MEASUREMENTS);
  let next: RunRecord = { ...run, measurements, step: { ...run.step, counters, lastTickTo: m.window.to }, updatedAt: now.toISOString() };
  if (failure !== null) return { run: next, decision: { kind: 'fail', ...(failure as { code: OutcomeCode; reason: string }) } };

  // Errors: the metrics backend (never a rollback) and hooks (onError).
  const limit = policy.defaults.consecutiveErrorLimit;
  if (m.error !== null) {
    const worst = Math.max(0, ...m.conditions.map((r) => counters[r.name]?.consecutiveErrors ?? 0));
    if (worst > limit || m.conditions.length === 0) next = addPause(next, 'MetricsUnavailable', `${m.error} (${worst} consecutive ticks)`, CONTROLLER, now);
    return { run: next, decision: { kind: 'measure' } };
  }
  next = clearPauses(next, ['MetricsUnavailable'], CONTROLLER, 'the metrics source answers again', now);
  const hookErrors = m.hooks.filter((h) => h.verdict === 'Error');
  const overErrors = hookErrors.filter((h) => (counters[hookKey(h.name)]?.consecutiveErrors ?? 0) > limit);
  if (overErrors.length > 0) {
    const why = overErrors.map((h) => `${h.name}: ${h.detail}`).join('; ');
    if (policy.defaults.onError === 'fail') return { run: next, decision: { kind: 'fail', code: 'hook-error', reason: `step-check hook errors beyond consecutiveErrorLimit ${limit}: ${why}` } };
    next = addPause(next, 'HookError', why, CONTROLLER, now);
  } else if (hookErrors.length === 0) {
    next = clearPauses(next, ['HookError'], CONTROLLER, 'the step-check hooks answer again', now);
  }
  const waiting = m.hooks.filter((h) => h.verdict === 'Waiting');
  if (waiting.length > 0) next = addPause(next, 'HookWaiting', waiting.map((h) => `${h.name} answered ${h.status ?? '?'}: wait`).join('; '), CONTROLLER, now);
  else next = clearPauses(next, ['HookWaiting'], CONTROLLER, 'the step-check hooks no longer ask to wait', now);

  const conclusive = m.conditions.every((r) => r.verdict === 'Passed') && m.hooks.every((h) => h.verdict === 'Passed');
  const end = endAfterHolds(next, step, m);
  if (conclusive) next = clearPauses(next, ['Inconclusive'], CONTROLLER, 'every condition passed', now);

  if (next.step.accepted && !isHeldExcept(next)) return { run: next, decision: { kind: 'step-passed', reason: 'approved while inconclusive' } };
  if (conclusive && end.holds && !isHeld(next)) return { run: next, decision: { kind: 'step-passed', reason: `every condition passed (${m.conditions.map((r) => r.name).join(', ') || 'no conditions'})` } };

  if (end.holds && hookErrors.length === 0 && waiting.length === 0) {
    const inconclusive = m.conditions.filter((r) => r.verdict === 'Inconclusive');
    const over: Array<{ name: string; reason: string; on: string }> = [];
    for (const r of inconclusive) {
      const c = counter(r.name);
      c.inconclusive++;
      const s = settingsOf(r.name);
      if (c.inconclusive > s.inconclusiveLimit) over.push({ name: r.name, reason: r.reason, on: s.onInconclusive });
    }
    next = { ...next, step: { ...next.step, counters } };
    const fail = over.find((o) => o.on === 'fail');
    if (fail) return { run: next, decision: { kind: 'fail', code: 'inconclusive', reason: `condition ${fail.name} stayed Inconclusive beyond inconclusiveLimit (onInconclusive: fail): ${fail.reason}` } };
    const pause = over.filter((o) => o.on === 'pause');
    if (pause.length > 0) next = addPause(next, 'Inconclusive', pause.map((o) => `${o.name}: ${o.reason}`).join('; '), CONTROLLER, now);
    else if (over.length > 0 && !isHeld(next) && m.hooks.every((h) => h.verdict === 'Passed') && m.conditions.every((r) => r.verdict === 'Passed' || over.some((o) => o.name === r.name))) {
      return { run: next, decision: { kind: 'step-passed', reason: `inconclusive conditions continue (onInconclusive: continue): ${over.map((o) => o.name).join(', ')}` } };
    }
  }

  // A step that cannot end within its duration plus the progress deadline waits for a person.
  const from = Date.parse(next.step.deadlineFrom ?? next.step.startedAt ?? m.window.to);
  if (!hasPause(next, 'ProgressDeadlineExceeded') && now.getTime() - from > step.endAfter.durationMs + policy.progressDeadlineMs) {
    const inconclusive = m.conditions.filter((r) => r.verdict !== 'Passed').map((r) => `${r.name}: ${r.reason}`);
    next = addPause(next, 'ProgressDeadlineExceeded', `step ${step.name} could not end within its duration plus progressDeadline${inconclusive.length ? ` (${inconclusive.join('; ')})` : end.holds ? '' : ` (${end.why})`}; approve to accept the step, resume to wait longer, abort to roll back`, CONTROLLER, now);
  }
  return { run: next, decision: { kind: 'measure' } };
}

/** Held by something other than the reasons an approval just cleared. */
function isHeldExcept(run: RunRecord): boolean {
  return run.pauseReasons.some((p) => p.reason === 'Manual' || p.reason === 'ManualChange' || p.reason === 'GatewayWriteFailed' || p.reason === 'AwaitingApproval');
}
