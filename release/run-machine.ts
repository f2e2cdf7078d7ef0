// The run's state machine as pure functions over the record: creation, pauses and their
// reasons, step entry, the end of a run, and the operator actions of the API. No I/O: the API
// and the controller both apply these and write the result with compare-and-set, so whoever
// loses a race re-reads and applies again.
import { randomBytes } from 'node:crypto';
import type { TransitionKind } from './policy-schema.js';
import type { PolicyStep, ReleasePolicy } from './policy.js';
import {
  isTerminal,
  MAX_TRANSITIONS,
  RUN_SCHEMA_VERSION,
  type OutcomeCode,
  type PauseReasonCode,
  type Phase,
  type RouteState,
  type RunRecord,
  type StepState,
} from './run-record.js';

export const ACTIONS = ['approve', 'pause', 'resume', 'abort', 'promote', 'retry'] as const;
export type Action = (typeof ACTIONS)[number];

/** Reasons during which the controller does nothing at all for the run (no judging, no shifting). */
export const FREEZING: readonly PauseReasonCode[] = ['Manual', 'ManualChange', 'GatewayWriteFailed', 'AwaitingApproval'];
/** Reasons that only a person clears; the run keeps being judged (a failure still rolls back) but does not advance. */
export const STICKY: readonly PauseReasonCode[] = [...FREEZING, 'ProgressDeadlineExceeded'];
/** What `resume` clears (a gate needs `approve`). */
const RESUMABLE: readonly PauseReasonCode[] = ['Manual', 'ManualChange', 'GatewayWriteFailed', 'Inconclusive', 'MetricsUnavailable', 'HookError', 'ProgressDeadlineExceeded', 'AgentsNotConverged'];
const APPROVABLE: readonly PauseReasonCode[] = ['AwaitingApproval', 'Inconclusive', 'ProgressDeadlineExceeded'];

/** `r-<time base36>-<random>`: sortable by start time, a DNS label (history keys are `<gateway>.<id>`). */
export function newRunId(now: Date): string {
  return `r-${now.getTime().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export interface CreateRunArgs {
  id: string;
  namespace: string;
  gateway: string;
  source: string;
  target: string;
  policy: ReleasePolicy;
  snapshot: { gatewayVersion: string; routes: Record<string, RouteState> };
  trigger: 'api' | 'metadata';
  actor: string;
  now: Date;
}

export function createRun(a: CreateRunArgs): RunRecord {
  const at = a.now.toISOString();
  return {
    schema: RUN_SCHEMA_VERSION,
    id: a.id,
    namespace: a.namespace,
    gateway: a.gateway,
    source: a.source,
    target: a.target,
    policy: { name: a.policy.name, version: a.policy.version, hash: a.policy.hash, document: a.policy.document as Record<string, unknown> },
    trigger: a.trigger,
    createdAt: at,
    createdBy: a.actor,
    updatedAt: at,
    attempt: 1,
    phase: 'Pending',
    step: freshStep(a.policy.steps[0] as PolicyStep, a.now, a.policy),
    pauseReasons: [],
    snapshot: a.snapshot,
    finish: { state: 'none', at: null },
    outcome: null,
    promote: false,
    measurements: [],
    transitions: [{ at, kind: 'created', from: 'Pending', to: 'Pending', step: 0, actor: a.actor, reason: `release of ${a.target} from ${a.source} with policy ${a.policy.name}` }],
    eventHooksSent: 0,
    postReleaseHooks: 'none',
    controllerEpoch: 0,
    history: false,
  };
}

export function freshStep(step: PolicyStep, now: Date, policy: ReleasePolicy, previous?: PolicyStep): StepState {
  const prevCondition = previous ? previous.target.condition : null;
  return {
    index: step.index,
    name: step.name,
    stage: 'Gate',
    enteredAt: now.toISOString(),
    gateOpen: !gateNeeded(policy, step),
    accepted: false,
    deadlineFrom: null,
    shiftedAt: null,
    weightsVersion: null,
    startedAt: null,
    pooled: null,
    counters: {},
    lastTickTo: null,
    reload: step.target.condition !== prevCondition,
  };
}

/** A step waits at its gate for `gate: confirm`, for confirm-release before the first step, confirm-promotion before the last. */
export function gateNeeded(policy: ReleasePolicy, step: PolicyStep): boolean {
  return gateHooks(policy, step).length > 0 || step.gate === 'confirm';
}

export function gateHooks(policy: ReleasePolicy, step: PolicyStep): ReleasePolicy['hooks'] {
  const last = policy.steps.length - 1;
  return policy.hooks.filter(
    (h) =>
      (h.type === 'confirm-release' && step.index === 0) ||
      (h.type === 'confirm-promotion' && step.index === last && last > 0) ||
      (h.type === 'confirm-step' && step.gate === 'confirm' && (h.steps === null || h.steps.includes(step.name))),
  );
}

/** The phase of a run that is neither paused nor finished: Pending until its first step started. */
export function activePhase(run: RunRecord): Phase {
  if (run.step.index > 0 || run.step.startedAt !== null) return 'Progressing';
  // Within this attempt (a retry from step 0 is Pending again until its first step starts).
  for (let i = run.transitions.length - 1; i >= 0; i--) {
    const k = (run.transitions[i] as RunRecord['transitions'][number]).kind;
    if (k === 'step-started') return 'Progressing';
    if (k === 'retried' || k === 'created') break;
  }
  return 'Pending';
}

function record(run: RunRecord, kind: TransitionKind, to: Phase, actor: string, reason: string, now: Date): RunRecord {
  const at = now.toISOString();
  const transitions = [...run.transitions, { at, kind, from: run.phase, to, step: run.step.index, actor, reason }];
  // The first entries (creation, the first step) and the most recent ones are what people read.
  const capped = transitions.length > MAX_TRANSITIONS ? [...transitions.slice(0, 10), ...transitions.slice(-(MAX_TRANSITIONS - 10))] : transitions;
  return { ...run, phase: to, transitions: capped, updatedAt: at };
}

/** The step's clock starts: every live agent applied its weights. Pending becomes Progressing. */
export function startStep(run: RunRecord, detail: string, actor: string, now: Date): RunRecord {
  const at = now.toISOString();
  const next = { ...run, step: { ...run.step, stage: 'Measure' as const, startedAt: at, deadlineFrom: at } };
  return record(next, 'step-started', run.pauseReasons.length > 0 ? 'Paused' : 'Progressing', actor, detail, now);
}

/** Appends a transition without changing the phase (step started, step passed). */
export function note(run: RunRecord, kind: TransitionKind, actor: string, reason: string, now: Date): RunRecord {
  return record(run, kind, run.phase, actor, reason, now);
}

export function hasPause(run: RunRecord, reason: PauseReasonCode): boolean {
  return run.pauseReasons.some((p) => p.reason === reason);
}

/** Adds (or updates the detail of) a pause reason; the first reason pauses the run. */
export function addPause(run: RunRecord, reason: PauseReasonCode, detail: string, actor: string, now: Date): RunRecord {
  if (isTerminal(run.phase)) return run;
  const existing = run.pauseReasons.find((p) => p.reason === reason);
  if (existing) {
    if (existing.detail === detail) return run;
    return { ...run, pauseReasons: run.pauseReasons.map((p) => (p.reason === reason ? { ...p, detail } : p)), updatedAt: now.toISOString() };
  }
  const next = { ...run, pauseReasons: [...run.pauseReasons, { reason, since: now.toISOString(), detail }] };
  return record(next, 'paused', 'Paused', actor, `${reason}: ${detail}`, now);
}

/** Removes pause reasons; the last one removed resumes the run. */
export function clearPauses(run: RunRecord, reasons: readonly PauseReasonCode[], actor: string, why: string, now: Date): RunRecord {
  const removed = run.pauseReasons.filter((p) => reasons.includes(p.reason));
  if (removed.length === 0) return run;
  const left = run.pauseReasons.filter((p) => !reasons.includes(p.reason));
  const next = { ...run, pauseReasons: left, updatedAt: now.toISOString() };
  if (left.length > 0 || isTerminal(run.phase)) return next;
  return record(next, 'resumed', activePhase(next), actor, `${removed.map((r) => r.reason).join(', ')} cleared: ${why}`, now);
}

export function isFrozen(run: RunRecord): boolean {
  return run.pauseReasons.some((p) => FREEZING.includes(p.reason));
}

export function isHeld(run: RunRecord): boolean {
  return run.pauseReasons.some((p) => STICKY.includes(p.reason));
}

/** Ends the run. Succeeded and Failed/Aborted all leave work for the controller (final weights or the snapshot). */
export function finishRun(run: RunRecord, result: 'Succeeded' | 'Failed' | 'Aborted', code: OutcomeCode, reason: string, actor: string, now: Date): RunRecord {
  if (isTerminal(run.phase)) return run;
  const kind: TransitionKind = result === 'Succeeded' ? 'succeeded' : result === 'Failed' ? 'failed' : 'aborted';
  const next: RunRecord = { ...run, pauseReasons: [], finish: { state: 'pending', at: null }, outcome: { result, code, reason, at: now.toISOString() }, postReleaseHooks: 'pending' };
  return record(next, kind, result, actor, reason, now);
}

export function enterStep(run: RunRecord, policy: ReleasePolicy, index: number, now: Date): RunRecord {
  const step = policy.steps[index] as PolicyStep;
  const previous = index > 0 ? policy.steps[index - 1] : undefined;
  return { ...run, step: freshStep(step, now, policy, previous), updatedAt: now.toISOString() };
}

export type ActionResult = { ok: true; run: RunRecord } | { ok: false; status: 409 | 400; code: string; message: string };

export interface ActionArgs {
  actor: string;
  now: Date;
  /** retry only. */
  fromStep?: number;
  /** retry only: the routes now (after the rollback), the new snapshot. */
  snapshot?: RunRecord['snapshot'];
  reason?: string;
}

/** An operator action of the API on the record; the controller carries out what it implies. */
export function applyAction(run: RunRecord, policy: ReleasePolicy, action: Action, a: ActionArgs): ActionResult {
  const conflict = (code: string, message: string): ActionResult => ({ ok: false, status: 409, code, message });
  const why = a.reason ? `: ${a.reason}` : '';
  if (action !== 'retry' && isTerminal(run.phase)) return conflict('release_finished', `release ${run.id} is ${run.phase}; only retry applies to a finished release`);
  switch (action) {
    case 'approve': {
      const reasons = run.pauseReasons.filter((p) => APPROVABLE.includes(p.reason));
      if (reasons.length === 0) return conflict('nothing_to_approve', `release ${run.id} is not waiting for an approval (it is ${describePhase(run)})`);
      let next: RunRecord = { ...run, step: { ...run.step, gateOpen: run.step.gateOpen || hasPause(run, 'AwaitingApproval'), accepted: run.step.accepted || hasPause(run, 'Inconclusive') || hasPause(run, 'ProgressDeadlineExceeded') } };
      next = note(next, 'approved', a.actor, `${reasons.map((r) => r.reason).join(', ')} approved at step ${run.step.index} (${run.step.name})${why}`, a.now);
      return { ok: true, run: clearPauses(next, APPROVABLE, a.actor, `approved${why}`, a.now) };
    }
    case 'pause':
      if (hasPause(run, 'Manual')) return { ok: true, run };
      return { ok: true, run: addPause(run, 'Manual', `paused by ${a.actor}${why}`, a.actor, a.now) };
    case 'resume': {
      const reasons = run.pauseReasons.filter((p) => RESUMABLE.includes(p.reason));
      if (reasons.length === 0) {
        return conflict('not_paused', run.pauseReasons.length > 0 ? `release ${run.id} waits for ${run.pauseReasons.map((p) => p.reason).join(', ')}: use approve` : `release ${run.id} is not paused`);
      }
      let step = run.step;
      // A hand edit of the weights: re-apply the step's weights and judge the step afresh.
      if (hasPause(run, 'ManualChange') || hasPause(run, 'GatewayWriteFailed')) step = { ...step, stage: 'Shift', shiftedAt: null, weightsVersion: null, startedAt: null, pooled: null, counters: {}, lastTickTo: null, deadlineFrom: null };
      if (hasPause(run, 'Inconclusive')) step = { ...step, counters: Object.fromEntries(Object.entries(step.counters).map(([k, c]) => [k, { ...c, inconclusive: 0 }])) };
      if (hasPause(run, 'ProgressDeadlineExceeded') || hasPause(run, 'AgentsNotConverged')) step = { ...step, deadlineFrom: a.now.toISOString() };
      return { ok: true, run: clearPauses({ ...run, step }, RESUMABLE, a.actor, `resumed by ${a.actor}${why}`, a.now) };
    }
    case 'abort':
      return { ok: true, run: finishRun(run, 'Aborted', 'aborted', `aborted by ${a.actor}${why}`, a.actor, a.now) };
    case 'promote': {
      if (run.promote) return { ok: true, run };
      const next = note({ ...run, promote: true }, 'promoted', a.actor, `promoted by ${a.actor} at step ${run.step.index} (${run.step.name}): the remaining steps are skipped${why}`, a.now);
      return { ok: true, run: clearPauses(next, run.pauseReasons.map((p) => p.reason), a.actor, 'promoted', a.now) };
    }
    case 'retry': {
      if (run.phase === 'Succeeded') return conflict('release_succeeded', `release ${run.id} succeeded; start a new release instead`);
      if (!isTerminal(run.phase)) return conflict('release_in_progress', `release ${run.id} is ${run.phase}; only a Failed or Aborted release can be retried`);
      if (run.finish.state !== 'done') return conflict('rollback_in_progress', `release ${run.id} is still being rolled back; retry when it is done`);
      const from = a.fromStep ?? run.step.index;
      if (!Number.isInteger(from) || from < 0 || from >= policy.steps.length) return { ok: false, status: 400, code: 'invalid_request', message: `fromStep must be a step index 0–${policy.steps.length - 1} of policy ${policy.name}` };
      const base: RunRecord = {
        ...run,
        attempt: run.attempt + 1,
        pauseReasons: [],
        finish: { state: 'none', at: null },
        outcome: null,
        promote: false,
        postReleaseHooks: 'none',
        history: false,
        snapshot: a.snapshot ?? run.snapshot,
      };
      const stepped = enterStep(base, policy, from, a.now);
      const to: Phase = from > 0 ? 'Progressing' : 'Pending';
      return { ok: true, run: record(stepped, 'retried', to, a.actor, `attempt ${stepped.attempt} from step ${from} (${stepped.step.name})${why}`, a.now) };
    }
  }
}

function describePhase(run: RunRecord): string {
  return run.pauseReasons.length > 0 ? `Paused: ${run.pauseReasons.map((p) => p.reason).join(', ')}` : run.phase;
}
