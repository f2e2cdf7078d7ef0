// The release policy document (YAML or JSON): the one source for what is accepted, the policy
// types, the OpenAPI component and docs/RELEASE-REFERENCE.md. Field syntax is checked here;
// cross-field rules (weights add up, expressions name known baselines, hook steps exist, the
// interval is a multiple of the aggregate window) are checked in policy.ts, which produces the
// `ReleasePolicy` the controller runs.
import { z } from 'zod';
import { RELEASE_TRANSITION_KINDS } from '../events/contract.js';
import { MAX_EXPRESSION_LENGTH, METRICS } from './expression.js';

export const POLICY_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Step, condition, hook and baseline names: short words usable in messages, metrics labels and keys. */
export const ITEM_NAME = /^[A-Za-z0-9]([A-Za-z0-9_-]{0,62})$/;
export const BASELINE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
export const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:\/[^\u0000-\u001f]{1,1023})$/;

export const MAX_STEPS = 32;
export const MAX_CONDITIONS = 32;
export const MAX_HOOKS = 16;
export const MAX_BASELINES = 64;
/** The aggregate window agents close and publish; `interval` must be a multiple of it. */
export const AGGREGATE_WINDOW_MS = 10_000;

export const HOOK_TYPES = ['confirm-release', 'confirm-step', 'confirm-promotion', 'step-check', 'event', 'post-release'] as const;
export type HookType = (typeof HOOK_TYPES)[number];
export const GATING_HOOK_TYPES: readonly HookType[] = ['confirm-release', 'confirm-step', 'confirm-promotion', 'step-check'];

/** What an `event` hook can subscribe to: one per kind of transition in a run's history. */
export const TRANSITION_KINDS = RELEASE_TRANSITION_KINDS;
export type TransitionKind = (typeof TRANSITION_KINDS)[number];

const str = (what = 'a string') => z.string({ error: `expected ${what}` });

const DurationText = (what: string) => str(`a duration such as 30s, 1m30s or 500ms`).max(40, { error: 'a duration is at most 40 characters' }).describe(what);

const percent = (what: string) =>
  z
    .union(
      [
        z.int({ error: `${what} must be a whole number 0–100` }).min(0, { error: `${what} must be between 0 and 100` }).max(100, { error: `${what} must be between 0 and 100` }),
        str()
          .regex(/^[0-9]{1,3}%$/, { error: `${what} must be a whole number 0–100 or "NN%"`, abort: true })
          .refine((s) => Number.parseInt(s, 10) <= 100, { error: `${what} must be between 0 and 100` }),
      ],
      { error: `${what} must be a whole number 0–100 or "NN%"` },
    )
    .describe(`${what[0]?.toUpperCase()}${what.slice(1)}: a whole percentage, 0–100 or "NN%".`);

const count = (what: string, max: number) => z.int({ error: `expected a whole number (${what})` }).min(0, { error: `${what} cannot be negative` }).max(max, { error: `${what} is at most ${max}` });

export const OnNoDataSchema = z.enum(['inconclusive', 'pass', 'fail'], { error: 'expected "inconclusive", "pass" or "fail"' }).describe('What a condition is when a side it names had no request at all in the window: `inconclusive` (default), `pass` (Vamp\'s behaviour) or `fail` (Kayenta\'s mustHaveData).');
export const OnInconclusiveSchema = z.enum(['pause', 'fail', 'continue'], { error: 'expected "pause", "fail" or "continue"' }).describe('Once a step could end but a condition is still Inconclusive more than `inconclusiveLimit` times: `pause` (default; resumes by itself when the evidence comes), `fail` (roll back) or `continue` (end the step as if it passed).');
export const OnErrorSchema = z.enum(['pause', 'fail'], { error: 'expected "pause" or "fail"' }).describe('After more than `consecutiveErrorLimit` consecutive Errors: `pause` (default) or `fail`. `fail` applies to hook errors only: an unreachable metrics backend always pauses, it never rolls a release back.');

const settingsShape = {
  minSamples: z.int({ error: 'expected a whole number of requests' }).min(1, { error: 'minSamples must be at least 1' }).max(1_000_000_000).optional().describe('Requests each side a condition names must have in the window before a verdict is possible; fewer make the condition Inconclusive. Default 100.'),
  onNoData: OnNoDataSchema.optional(),
  onInconclusive: OnInconclusiveSchema.optional(),
  failureLimit: count('failureLimit', 1000).optional().describe('Failed ticks a condition may have within one step before the release fails and rolls back (0, the default: the first failure).'),
  inconclusiveLimit: count('inconclusiveLimit', 1000).optional().describe('Inconclusive ticks tolerated once the step could end, before `onInconclusive` applies (default 0).'),
};

export const DefaultsSchema = z
  .strictObject({
    ...settingsShape,
    onError: OnErrorSchema.optional(),
    consecutiveErrorLimit: count('consecutiveErrorLimit', 1000).optional().describe('Consecutive Error ticks (metrics backend down, hook unreachable) before `onError` applies (default 4). Errors never count as failures.'),
  })
  .describe('Settings every condition inherits unless it sets its own.');

export const BaselineSchema = z
  .strictObject({
    name: str().regex(BASELINE_NAME, { error: 'a baseline name is a word of letters, digits and "_" (used as baselines.<name>)' }).describe('Referenced as `baselines.<name>` in conditions and `endAfter.duration`.'),
    metric: z.enum(METRICS, { error: `expected one of ${METRICS.join(', ')}` }).optional().describe('The metric the value is meant for (Vamp); informational.'),
    value: z.union([z.number().refine(Number.isFinite, { error: 'expected a finite number' }), str().max(40)], { error: 'expected a number, a percentage ("97%") or a duration ("5m")' }).describe('A number, a percentage ("97%" = 0.97) or a duration ("5m" = 300 in conditions, seconds).'),
  })
  .describe('A named constant (Vamp baselines).');

export const ConditionSchema = z
  .strictObject({
    name: str().regex(ITEM_NAME, { error: 'a condition name is letters, digits, "_" and "-", at most 63' }).optional().describe('Shown in status, events and metrics; default `condition-<n>`.'),
    value: str('an expression').max(MAX_EXPRESSION_LENGTH, { error: `an expression is at most ${MAX_EXPRESSION_LENGTH} characters` }).describe('A comparison over both sides of the same window, e.g. `target.errorRate <= source.errorRate * 1.2 + 0.001`; see "Expressions" below.'),
    gracePeriod: DurationText('Excluded at the start of each step for this condition, instead of the policy\'s `gracePeriod`.').optional(),
    ...settingsShape,
  })
  .describe('A check evaluated at every tick.');

export const StepSchema = z
  .strictObject({
    name: str().regex(ITEM_NAME, { error: 'a step name is letters, digits, "_" and "-", at most 63' }).optional().describe('Default `step-<n>` (n from 0).'),
    source: z.strictObject({ weight: percent('source weight') }, { error: 'expected {weight}' }).describe('The route traffic comes from (the running version).'),
    target: z
      .strictObject(
        {
          weight: percent('target weight'),
          condition: str('a condition').max(4096).optional().describe('A gateway condition (Vamp DSL or `< raw ACL >`) set on the target route for this step, e.g. `user-agent = iPhone`. Changing a condition reloads HAProxy (weights do not).'),
          conditionStrength: percent('condition strength').optional(),
        },
        { error: 'expected {weight, condition?, conditionStrength?}' },
      )
      .describe('The route being released.'),
    endAfter: z
      .strictObject(
        {
          duration: DurationText('How long the step lasts at least, from when every live agent applied its weights: a duration or `baselines.<name>`.').optional(),
          minSamples: z.int().min(1).max(1_000_000_000).optional().describe('Requests each side with traffic in this step must have had in the step\'s window.'),
        },
        { error: 'expected {duration?, minSamples?}' },
      )
      .optional()
      .describe('When the step may end (both must hold when both are given); it ends once this holds and every condition passed. Default: one `interval`.'),
    gate: z.literal('confirm', { error: 'gate must be "confirm"' }).optional().describe('Wait before entering the step until it is approved (`weir release approve`) or every `confirm-step` hook answers 2xx.'),
    conditions: z.array(ConditionSchema).max(MAX_CONDITIONS, { error: `at most ${MAX_CONDITIONS} conditions` }).optional().describe('Checked in this step besides the policy-wide ones.'),
  })
  .describe('One traffic split, held until it is judged.');

export const HookSchema = z
  .strictObject({
    name: str().regex(ITEM_NAME, { error: 'a hook name is letters, digits, "_" and "-", at most 63' }).describe('Unique in the policy; part of the Idempotency-Key.'),
    type: z.enum(HOOK_TYPES, { error: `expected one of ${HOOK_TYPES.join(', ')}` }).describe('When it is called and whether it gates: confirm-release (before the first step), confirm-step (steps with `gate: confirm`), confirm-promotion (before the last step), step-check (every tick of a step), event (every transition), post-release (Succeeded, Failed or Aborted).'),
    url: str('an http(s) URL').max(2048).describe('http:// or https:// URL that receives a JSON POST.'),
    timeout: DurationText('Per attempt; default 10s, at most 60s. A step-check hook\'s must be below the interval.').optional(),
    retries: count('retries', 5).optional().describe('Extra attempts after a timeout or a connection error (default 2), with the same Idempotency-Key.'),
    steps: z.array(str()).max(MAX_STEPS).optional().describe('confirm-step and step-check only: the step names it applies to (default: all).'),
    events: z.array(z.enum(TRANSITION_KINDS, { error: `expected one of ${TRANSITION_KINDS.join(', ')}` })).max(TRANSITION_KINDS.length).optional().describe('event only: the transitions it is sent (default: all).'),
  })
  .describe('An HTTP callback; the body is signed (HMAC-SHA256) with `hookSecret`.');

export const ReleasePolicyInputSchema = z
  .strictObject(
    {
      name: str()
        .regex(POLICY_NAME, { error: 'a policy name is a lower-case DNS label (a-z, 0-9, "-", 1–63 characters)' })
        .optional()
        .describe('Policy name: a lower-case DNS label. Optional when the name is given by the URL or file; if both are given they must match.'),
      version: z.int().min(0).max(2 ** 31).optional().describe('Your own revision number, shown in runs and hook bodies. A run pins the policy by content hash anyway.'),
      description: str().max(1024).optional().describe('Free text for people, at most 1024 characters.'),
      interval: DurationText('How often conditions are evaluated: a multiple of the 10 s aggregate window. Default 30s.').optional(),
      gracePeriod: DurationText('Excluded at the start of every step (warm-up). Default 0s.').optional(),
      progressDeadline: DurationText('How long a step may wait for every agent to apply its weights, or beyond its `endAfter.duration` for conclusive evidence, before the run pauses with ProgressDeadlineExceeded. Default 10m.').optional(),
      defaults: DefaultsSchema.optional(),
      baselines: z.array(BaselineSchema).max(MAX_BASELINES, { error: `at most ${MAX_BASELINES} baselines` }).optional().describe('Named constants for conditions and durations (Vamp\'s baselines).'),
      conditions: z.array(ConditionSchema).max(MAX_CONDITIONS, { error: `at most ${MAX_CONDITIONS} conditions` }).optional().describe('Checked in every step.'),
      steps: z.array(StepSchema, { error: 'expected a list of steps' }).min(1, { error: 'a policy needs at least one step' }).max(MAX_STEPS, { error: `at most ${MAX_STEPS} steps` }).describe(`The traffic splits in order (1–${MAX_STEPS}); a run succeeds after the last and leaves the target at 100 %.`),
      hooks: z.array(HookSchema).max(MAX_HOOKS, { error: `at most ${MAX_HOOKS} hooks` }).optional().describe(`HTTP callbacks (at most ${MAX_HOOKS}).`),
      hookSecret: str()
        .regex(SECRET_REF, { error: 'expected a secret reference: env:<VARIABLE> or file:/absolute/path' })
        .optional()
        .describe('Where the controller reads the HMAC key that signs hook bodies: `env:NAME` (an environment variable of the controller) or `file:/path` (e.g. a mounted Kubernetes Secret). Required when there are hooks; the secret itself is never stored in the policy.'),
    },
    { error: 'expected a release policy (a map with steps)' },
  )
  .describe('A release policy: how a new route (the target) takes over traffic from the running one (the source), step by step, judged against it in the same window.');

export type ReleasePolicyInput = z.input<typeof ReleasePolicyInputSchema>;
export type ConditionInput = z.input<typeof ConditionSchema>;
export type StepInput = z.input<typeof StepSchema>;
export type HookInput = z.input<typeof HookSchema>;
export type OnNoData = z.infer<typeof OnNoDataSchema>;
export type OnInconclusive = z.infer<typeof OnInconclusiveSchema>;
export type OnError = z.infer<typeof OnErrorSchema>;

export function releasePolicyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ReleasePolicyInputSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
