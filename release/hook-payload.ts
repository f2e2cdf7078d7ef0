// The JSON body every hook receives (the contract in docs/RELEASES.md): which release, which
// policy (name, version, hash), the routes, the phase, the step with its weights, the last
// verdicts, and why the hook is called.
import type { HookType } from './policy-schema.js';
import type { ReleasePolicy } from './policy.js';
import type { RunRecord, Transition } from './run-record.js';

export interface HookPayload {
  type: HookType;
  hook: string;
  releaseId: string;
  attempt: number;
  namespace: string;
  gateway: string;
  policy: { name: string; version: number | null; hash: string };
  sourceRoute: string;
  targetRoute: string;
  phase: string;
  step: { index: number; name: string; count: number; weights: { source: number; target: number } };
  conditions: Array<{ name: string; value: string; verdict: string; reason: string }>;
  reason: string;
  /** event hooks: the transition; null otherwise. */
  transition: Transition | null;
  outcome: RunRecord['outcome'];
  metadata: { sentAt: string; idempotencyKey: string };
}

export function hookPayload(run: RunRecord, policy: ReleasePolicy, hook: { name: string; type: HookType }, reason: string, idempotencyKey: string, now: Date, transition: Transition | null = null): HookPayload {
  const idx = transition?.step ?? run.step.index;
  const step = policy.steps[idx];
  const last = [...run.measurements].reverse().find((m) => m.step === idx);
  return {
    type: hook.type,
    hook: hook.name,
    releaseId: run.id,
    attempt: run.attempt,
    namespace: run.namespace,
    gateway: run.gateway,
    policy: { name: run.policy.name, version: run.policy.version, hash: run.policy.hash },
    sourceRoute: run.source,
    targetRoute: run.target,
    phase: transition?.to ?? run.phase,
    step: { index: idx, name: step?.name ?? run.step.name, count: policy.steps.length, weights: { source: step?.source.weight ?? 0, target: step?.target.weight ?? 0 } },
    conditions: (step?.conditions ?? []).map((c) => {
      const r = last?.conditions.find((x) => x.name === c.name);
      return { name: c.name, value: c.value, verdict: r?.verdict ?? 'Pending', reason: r?.reason ?? '' };
    }),
    reason,
    transition,
    outcome: run.outcome,
    metadata: { sentAt: now.toISOString(), idempotencyKey },
  };
}
