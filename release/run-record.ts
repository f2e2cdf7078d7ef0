// The run record: one per gateway at `<org>/<env>/releases/<gateway>` (the current or last run),
// a copy per finished attempt in `release-history/<gateway>.<id>`. Written with compare-and-set
// by the API (start, actions) and the controller (everything else). It holds all a controller
// needs to resume after a restart: the pinned policy, the rollback snapshot, the step and when
// it started, pause reasons, counters, the last measurements and the transition history.
// The zod schema is the one source for parsing stored records, the TypeScript types and the
// OpenAPI component.
import { z } from 'zod';
import { TRANSITION_KINDS } from './policy-schema.js';

export const RUN_SCHEMA_VERSION = 1;
export const MAX_MEASUREMENTS = 20;
export const MAX_TRANSITIONS = 500;

export const PHASES = ['Pending', 'Progressing', 'Paused', 'Succeeded', 'Failed', 'Aborted'] as const;
export type Phase = (typeof PHASES)[number];
export const TERMINAL_PHASES: readonly Phase[] = ['Succeeded', 'Failed', 'Aborted'];
export const isTerminal = (p: Phase): boolean => TERMINAL_PHASES.includes(p);

export const PAUSE_REASONS = [
  'Manual',
  'AwaitingApproval',
  'Inconclusive',
  'MetricsUnavailable',
  'HookError',
  'HookWaiting',
  'ManualChange',
  'AgentsNotConverged',
  'ProgressDeadlineExceeded',
  'GatewayWriteFailed',
] as const;
export type PauseReasonCode = (typeof PAUSE_REASONS)[number];

/** Why a run ended, as a short code: `passed`, `promoted`; `condition-failed`, `hook-failed`, `inconclusive`, `hook-error`; `aborted`, `gateway-deleted`. */
export const OUTCOME_CODES = ['passed', 'promoted', 'condition-failed', 'hook-failed', 'inconclusive', 'hook-error', 'aborted', 'gateway-deleted'] as const;
export type OutcomeCode = (typeof OUTCOME_CODES)[number];

export const VERDICTS = ['Passed', 'Failed', 'Inconclusive', 'Error'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Where a step is: waiting at its gate, writing its weights, waiting for the agents, being judged. */
export const STAGES = ['Gate', 'Shift', 'Ack', 'Measure'] as const;
export type Stage = (typeof STAGES)[number];

const iso = z.string().describe('RFC 3339 time');
const nullableNumber = z.number().nullable();

export const SideFiguresSchema = z
  .object({
    route: z.string(),
    requests: z.number(),
    errors: z.number(),
    errorRate: z.number(),
    rate: z.number(),
    p50: nullableNumber,
    p95: nullableNumber,
    p99: nullableNumber,
    health: z.number(),
    latencySamples: z.number(),
    /** 95 % intervals of p50/p95/p99 in seconds (what lower()/upper() of a percentile read); absent in records from before they were kept. */
    latencyBounds: z.object({ p50: z.tuple([z.number(), z.number()]), p95: z.tuple([z.number(), z.number()]), p99: z.tuple([z.number(), z.number()]) }).nullable().optional(),
    /** True when the figures are the route's pooled traffic from earlier steps (it has no weight in this step). */
    pooled: z.boolean(),
  })
  .describe('One route\'s traffic in the judged window: counts, rates, latency percentiles in seconds (null without timed requests).');
export type SideFigures = z.infer<typeof SideFiguresSchema>;

export const ComparisonSchema = z.object({ text: z.string(), left: z.number(), op: z.string(), right: z.number(), holds: z.boolean() });

export const ConditionResultSchema = z
  .object({
    name: z.string(),
    verdict: z.enum(VERDICTS),
    reason: z.string(),
    /** Each comparison of the expression with both sides evaluated: value (left), threshold (right). */
    comparisons: z.array(ComparisonSchema),
    /** Requests each named side had in this condition's window. */
    samples: z.object({ source: z.number().nullable(), target: z.number().nullable() }),
    minSamples: z.number(),
  })
  .describe('One condition at one tick.');
export type ConditionResult = z.infer<typeof ConditionResultSchema>;

export const HookResultSchema = z.object({ name: z.string(), verdict: z.enum([...VERDICTS, 'Waiting']), status: z.number().nullable(), detail: z.string() });
export type HookResult = z.infer<typeof HookResultSchema>;

export const MeasurementSchema = z
  .object({
    at: iso,
    step: z.number(),
    window: z.object({ from: iso, to: iso }),
    source: SideFiguresSchema.nullable(),
    target: SideFiguresSchema.nullable(),
    /** Agents that contributed windows to this measurement vs live agents of the namespace. */
    agents: z.object({ contributed: z.number(), live: z.number().nullable(), ids: z.array(z.string()) }),
    conditions: z.array(ConditionResultSchema),
    hooks: z.array(HookResultSchema),
    /** Set when the metrics source could not answer: every condition is then Error. */
    error: z.string().nullable(),
  })
  .describe('One evaluation tick: both sides of the same window and every verdict.');
export type Measurement = z.infer<typeof MeasurementSchema>;

export const CountersSchema = z.object({ passed: z.number(), failed: z.number(), inconclusive: z.number(), errors: z.number(), consecutiveErrors: z.number() });
export type Counters = z.infer<typeof CountersSchema>;

export const PauseReasonSchema = z.object({ reason: z.enum(PAUSE_REASONS), since: iso, detail: z.string() }).describe('Why the run is paused, since when; the run is Paused while any reason is present.');
export type PauseReason = z.infer<typeof PauseReasonSchema>;

export const TransitionSchema = z
  .object({
    at: iso,
    kind: z.enum(TRANSITION_KINDS),
    from: z.enum(PHASES),
    to: z.enum(PHASES),
    step: z.number(),
    actor: z.string(),
    reason: z.string(),
  })
  .describe('One entry of the run\'s history: who did what, when and why.');
export type Transition = z.infer<typeof TransitionSchema>;

export const RouteStateSchema = z.object({ weight: z.number(), condition: z.string().nullable(), conditionStrength: z.number().nullable() });
export type RouteState = z.infer<typeof RouteStateSchema>;

export const StepStateSchema = z.object({
  index: z.number(),
  name: z.string(),
  stage: z.enum(STAGES),
  /** When the step (its gate) was entered. */
  enteredAt: iso,
  /** The gate was opened (approve, or every confirm hook answered 2xx). */
  gateOpen: z.boolean(),
  /** `approve` accepted the step while it was Inconclusive or past its deadline: it ends at the next tick. */
  accepted: z.boolean(),
  /** The progress deadline counts from here (the shift, the start, or the last resume). */
  deadlineFrom: iso.nullable(),
  /** When the controller wrote the step's routes, and the gateway version that write produced. */
  shiftedAt: iso.nullable(),
  weightsVersion: z.string().nullable(),
  /** When every live agent had applied `weightsVersion`: the step's clock starts here. */
  startedAt: iso.nullable(),
  /** Figures of a side with no traffic in this step: its pooled traffic from the earlier steps. */
  pooled: z.object({ from: iso, to: iso, source: SideFiguresSchema.nullable(), target: SideFiguresSchema.nullable() }).nullable(),
  counters: z.record(z.string(), CountersSchema),
  /** End of the last judged window (a restarted controller does not judge it twice). */
  lastTickTo: iso.nullable(),
  /** The step changes the target's condition: agents reload HAProxy instead of a runtime update. */
  reload: z.boolean(),
});
export type StepState = z.infer<typeof StepStateSchema>;

export const RunRecordSchema = z
  .object({
    schema: z.literal(RUN_SCHEMA_VERSION),
    id: z.string(),
    namespace: z.string(),
    gateway: z.string(),
    source: z.string().describe('The route traffic moves from (the running version).'),
    target: z.string().describe('The route being released.'),
    policy: z.object({ name: z.string(), version: z.number().nullable(), hash: z.string(), document: z.record(z.string(), z.unknown()) }).describe('The policy as it was when the run started: later edits never change a running release.'),
    trigger: z.enum(['api', 'metadata']),
    createdAt: iso,
    createdBy: z.string(),
    updatedAt: iso,
    attempt: z.number().describe('1, plus one per retry.'),
    phase: z.enum(PHASES),
    step: StepStateSchema,
    pauseReasons: z.array(PauseReasonSchema),
    snapshot: z.object({ gatewayVersion: z.string(), routes: z.record(z.string(), RouteStateSchema) }).describe('The routes before the release: what a failure or abort restores.'),
    /** `pending`: the controller still has to restore the snapshot (Failed/Aborted) or write the final weights (Succeeded). */
    finish: z.object({ state: z.enum(['none', 'pending', 'done']), at: iso.nullable() }),
    outcome: z
      .object({ result: z.enum(['Succeeded', 'Failed', 'Aborted']), code: z.enum(OUTCOME_CODES).describe('Why, as a bounded code (the reason label of weir_release_outcomes_total).'), reason: z.string(), at: iso })
      .nullable(),
    /** Set by `promote`: skip the remaining steps and analysis. */
    promote: z.boolean(),
    measurements: z.array(MeasurementSchema),
    transitions: z.array(TransitionSchema),
    /** How many of `transitions` the event hooks were sent (at least once: a restart re-sends the rest). */
    eventHooksSent: z.number(),
    /** Post-release hooks are re-sent until delivered (or given up on) after a restart. */
    postReleaseHooks: z.enum(['none', 'pending', 'done']),
    /** The controller lease epoch of the last controller write: an older controller backs off (fencing). */
    controllerEpoch: z.number(),
    history: z.boolean().describe('Copied to release-history after its last transition.'),
  })
  .describe('A release run as stored.');
export type RunRecord = z.infer<typeof RunRecordSchema>;

export type RunParseResult = { ok: true; run: RunRecord } | { ok: false; message: string };

export function parseRunRecord(body: string): RunParseResult {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    return { ok: false, message: `not JSON: ${(err as Error).message}` };
  }
  const r = RunRecordSchema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues[0];
    return { ok: false, message: `not a release run record${first ? `: ${first.path.join('.')}: ${first.message}` : ''}` };
  }
  return { ok: true, run: r.data };
}

export const historyName = (gateway: string, id: string): string => `${gateway}.${id}`;
