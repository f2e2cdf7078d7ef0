// The run as the API returns it: the stored record plus `status`, what a person watching the
// canary (CLI `status --watch`, the console) wants without recomputing it: the step and its
// time left, samples per side against the minimum, each condition's last values, threshold,
// verdict and counters, and why it is paused.
import { z } from 'zod';
import type { ReleasePolicy } from './policy.js';
import { ACTIONS, applyAction } from './run-machine.js';
import { CountersSchema, HookResultSchema, isTerminal, PauseReasonSchema, RunRecordSchema, STAGES, VERDICTS, ComparisonSchema, type RunRecord } from './run-record.js';

const n = z.number();
const nullableN = n.nullable();

export const RunStatusSchema = z
  .object({
    stepCount: n,
    step: z.object({
      index: n,
      name: z.string(),
      stage: z.enum(STAGES).describe('Gate: waiting for approval or confirm hooks; Shift: writing the weights; Ack: waiting until every live agent applied them; Measure: being judged.'),
      weights: z.object({ source: n, target: n }),
      condition: z.string().nullable(),
      conditionStrength: nullableN,
      gate: z.enum(['confirm']).nullable(),
      reload: z.boolean().describe('The step changes the target\'s condition: agents reload HAProxy for it (weights alone need no reload).'),
      startedAt: z.string().nullable(),
      durationSeconds: n,
      elapsedSeconds: nullableN,
      timeLeftSeconds: nullableN,
      minSamples: nullableN.describe('endAfter.minSamples'),
    }),
    samples: z.object({
      window: z.object({ from: z.string(), to: z.string() }).nullable(),
      source: z.object({ route: z.string(), requests: n, minimum: n, pooled: z.boolean() }),
      target: z.object({ route: z.string(), requests: n, minimum: n, pooled: z.boolean() }),
    }),
    conditions: z.array(
      z.object({
        name: z.string(),
        expression: z.string(),
        scope: z.enum(['policy', 'step']),
        verdict: z.enum([...VERDICTS, 'Pending']),
        reason: z.string(),
        value: nullableN.describe('The left side of the first comparison, e.g. target.errorRate.'),
        op: z.string().nullable(),
        threshold: nullableN.describe('The right side of the first comparison, e.g. source.errorRate * 1.2 + 0.001.'),
        comparisons: z.array(ComparisonSchema),
        minSamples: n,
        samples: z.object({ source: nullableN, target: nullableN }),
        counters: CountersSchema,
        failureLimit: n,
        inconclusiveLimit: n,
      }),
    ),
    hooks: z.array(HookResultSchema),
    steps: z
      .array(
        z.object({
          index: n,
          name: z.string(),
          state: z.enum(['done', 'current', 'pending']),
          weights: z.object({ source: n, target: n }),
          condition: z.string().nullable(),
          gate: z.enum(['confirm']).nullable(),
          durationSeconds: n,
          minSamples: nullableN,
        }),
      )
      .describe('Every step of the pinned policy, for a timeline: done, current (see step), to come.'),
    actions: z
      .record(z.enum(ACTIONS), z.object({ allowed: z.boolean(), code: z.string().optional(), reason: z.string().optional() }))
      .describe('Which operator actions would change the run now (the API\'s own check, run dry), and why not for the others: what a client shows as enabled buttons.'),
    paused: z.boolean(),
    finished: z.boolean(),
    lastMeasurementAt: z.string().nullable(),
    pauseReasons: z.array(PauseReasonSchema),
  })
  .describe('Derived from the record for display; not stored.');

export const RunViewSchema = RunRecordSchema.extend({ status: RunStatusSchema }).describe('A release run with its derived status.');
export type RunView = z.infer<typeof RunViewSchema>;

const zeroCounters = { passed: 0, failed: 0, inconclusive: 0, errors: 0, consecutiveErrors: 0 };

export function runView(run: RunRecord, policy: ReleasePolicy | null, now: Date): RunView {
  const ps = policy?.steps[run.step.index];
  const last = run.measurements.at(-1);
  const lastOfStep = last && last.step === run.step.index ? last : undefined;
  const started = run.step.startedAt ? Date.parse(run.step.startedAt) : null;
  // A finished run's step stopped at its last transition, not now.
  const endedAt = isTerminal(run.phase) ? Date.parse(run.transitions.at(-1)?.at ?? '') : Number.NaN;
  const until = Number.isFinite(endedAt) ? endedAt : now.getTime();
  const elapsed = started === null ? null : Math.max(0, (until - started) / 1000);
  const duration = (ps?.endAfter.durationMs ?? 0) / 1000;
  const minFor = (side: 'source' | 'target'): number => Math.max(ps?.endAfter.minSamples ?? 0, ...(ps?.conditions.filter((c) => c.sides.includes(side)).map((c) => c.settings.minSamples) ?? [0]));
  const conditions = (ps?.conditions ?? []).map((c) => {
    const r = lastOfStep?.conditions.find((x) => x.name === c.name);
    const first = r?.comparisons[0];
    return {
      name: c.name,
      expression: c.value,
      scope: c.scope,
      verdict: r?.verdict ?? ('Pending' as const),
      reason: r?.reason ?? (run.step.stage === 'Measure' ? 'waiting for the first tick' : `step is at ${run.step.stage}`),
      value: first?.left ?? null,
      op: first?.op ?? null,
      threshold: first?.right ?? null,
      comparisons: r?.comparisons ?? [],
      minSamples: c.settings.minSamples,
      samples: r?.samples ?? { source: null, target: null },
      counters: run.step.counters[c.name] ?? zeroCounters,
      failureLimit: c.settings.failureLimit,
      inconclusiveLimit: c.settings.inconclusiveLimit,
    };
  });
  return {
    ...run,
    status: {
      stepCount: policy?.steps.length ?? 0,
      step: {
        index: run.step.index,
        name: run.step.name,
        stage: run.step.stage,
        weights: { source: ps?.source.weight ?? 0, target: ps?.target.weight ?? 0 },
        condition: ps?.target.condition ?? null,
        conditionStrength: ps?.target.conditionStrength ?? null,
        gate: ps?.gate ?? null,
        reload: run.step.reload,
        startedAt: run.step.startedAt,
        durationSeconds: duration,
        elapsedSeconds: elapsed === null ? null : Math.round(elapsed),
        timeLeftSeconds: elapsed === null || isTerminal(run.phase) ? null : Math.max(0, Math.ceil(duration - elapsed)),
        minSamples: ps?.endAfter.minSamples ?? null,
      },
      samples: {
        window: lastOfStep?.window ?? null,
        source: { route: run.source, requests: lastOfStep?.source?.requests ?? 0, minimum: minFor('source'), pooled: lastOfStep?.source?.pooled ?? false },
        target: { route: run.target, requests: lastOfStep?.target?.requests ?? 0, minimum: minFor('target'), pooled: lastOfStep?.target?.pooled ?? false },
      },
      conditions,
      hooks: lastOfStep?.hooks ?? [],
      steps: (policy?.steps ?? []).map((s, i) => ({
        index: i,
        name: s.name,
        state: i < run.step.index || (run.phase === 'Succeeded' && i === run.step.index) ? ('done' as const) : i === run.step.index ? ('current' as const) : ('pending' as const),
        weights: { source: s.source.weight, target: s.target.weight },
        condition: s.target.condition ?? null,
        gate: s.gate ?? null,
        durationSeconds: s.endAfter.durationMs / 1000,
        minSamples: s.endAfter.minSamples,
      })),
      actions: availableActions(run, policy, now),
      paused: run.pauseReasons.length > 0,
      finished: isTerminal(run.phase),
      lastMeasurementAt: last?.at ?? null,
      pauseReasons: run.pauseReasons,
    },
  };
}

/**
 * Each action tried on the record without writing it: allowed when the API would accept it and
 * it would change something (pausing a run paused by hand again is accepted but does nothing).
 */
function availableActions(run: RunRecord, policy: ReleasePolicy | null, now: Date): RunView['status']['actions'] {
  const out = {} as RunView['status']['actions'];
  for (const action of ACTIONS) {
    if (!policy) {
      out[action] = { allowed: false, code: 'policy_unreadable', reason: 'the pinned policy of this run cannot be read' };
      continue;
    }
    const r = applyAction(run, policy, action, { actor: 'dry-run', now });
    if (!r.ok) out[action] = { allowed: false, code: r.code, reason: r.message };
    else if (r.run === run) out[action] = { allowed: false, code: 'no_change', reason: action === 'pause' ? `release ${run.id} is already paused by hand` : `release ${run.id} is already being promoted` };
    else out[action] = { allowed: true };
  }
  return out;
}

/** One line per run for lists: history and the namespace overview. */
export function runSummary(run: RunRecord): Record<string, unknown> {
  return {
    id: run.id,
    gateway: run.gateway,
    phase: run.phase,
    source: run.source,
    target: run.target,
    policy: { name: run.policy.name, version: run.policy.version, hash: run.policy.hash },
    step: { index: run.step.index, name: run.step.name },
    attempt: run.attempt,
    createdAt: run.createdAt,
    createdBy: run.createdBy,
    updatedAt: run.updatedAt,
    pauseReasons: run.pauseReasons,
    outcome: run.outcome,
  };
}
