// One evaluation tick's measurement: both routes' traffic in the same window (from the step's
// start plus its grace period to the tick), pooled earlier-step figures for a route that has
// no weight in this step, every condition judged, every step-check hook asked.
import type { Namespace } from '../../store/store.js';
import { MetricsUnavailableError, type TrafficWindowSource, type WindowAggregates } from '../../metrics/window-source.js';
import { hookPayload } from '../hook-payload.js';
import type { HookCaller } from '../hook-caller.js';
import { errorResult, judgeCondition, sideFigures, type SideReading } from '../judge.js';
import type { PolicyStep, ReleasePolicy } from '../policy.js';
import type { AgentAckSource } from '../ports.js';
import type { ConditionResult, HookResult, Measurement, RunRecord, SideFigures } from '../run-record.js';

export interface MeasurerDeps {
  /** null: no metrics source configured; every tick is then an Error (never a failure). */
  source: TrafficWindowSource | null;
  agents?: AgentAckSource | undefined;
  hooks: HookCaller;
}

/** Which routes carry traffic of their own in a step (a weight, or the target's condition). */
export function trafficSides(step: PolicyStep): { source: boolean; target: boolean } {
  return { source: step.source.weight > 0, target: step.target.weight > 0 || step.target.condition !== null };
}

export class Measurer {
  constructor(private readonly deps: MeasurerDeps) {}

  /**
   * The figures of routes without traffic in this step, pooled over the run's earlier steps:
   * from the first step's start to this step's shift. Computed once per step and kept in the run.
   */
  async pooled(ns: Namespace, run: RunRecord, step: PolicyStep): Promise<NonNullable<RunRecord['step']['pooled']>> {
    const first = run.transitions.find((t) => t.kind === 'step-started' && Date.parse(t.at) >= Date.parse(lastAttemptStart(run)));
    const from = first?.at ?? run.step.startedAt ?? run.createdAt;
    const to = run.step.shiftedAt ?? run.step.startedAt ?? from;
    const sides = trafficSides(step);
    if (Date.parse(to) <= Date.parse(from)) return { from, to, source: sides.source ? null : sideFigures(run.source, undefined, true), target: sides.target ? null : sideFigures(run.target, undefined, true) };
    const agg = await this.aggregate(ns, run.gateway, new Date(from), new Date(to));
    return { from, to, source: sides.source ? null : sideFigures(run.source, agg.routes[run.source], true), target: sides.target ? null : sideFigures(run.target, agg.routes[run.target], true) };
  }

  /**
   * One tick's measurement, and whether every live agent's windows up to `to` are in (reports
   * reach the source a moment after a window closes; a tick judged before then sees too little).
   */
  async measure(ns: Namespace, run: RunRecord, policy: ReleasePolicy, to: Date, now: Date, opts: { force?: boolean } = {}): Promise<{ measurement: Measurement; complete: boolean }> {
    const { m, complete } = await this.measureOnce(ns, run, policy, to, now, opts.force === true);
    return { measurement: m, complete };
  }

  private async measureOnce(ns: Namespace, run: RunRecord, policy: ReleasePolicy, to: Date, now: Date, force: boolean): Promise<{ m: Measurement; complete: boolean }> {
    const step = policy.steps[run.step.index] as PolicyStep;
    const startedAt = Date.parse(run.step.startedAt as string);
    const sides = trafficSides(step);
    const pooled = run.step.pooled;
    const liveAgents = this.deps.agents ? this.deps.agents.agents(ns).filter((a) => !a.quiet) : null;
    const live = liveAgents ? liveAgents.length : null;
    const defaultFrom = new Date(startedAt + policy.gracePeriodMs);
    const base: Omit<Measurement, 'conditions' | 'hooks' | 'error' | 'source' | 'target' | 'agents'> = { at: now.toISOString(), step: step.index, window: { from: defaultFrom.toISOString(), to: to.toISOString() } };

    // One query per distinct window start (conditions may have their own grace period).
    const starts = [...new Set([policy.gracePeriodMs, ...step.conditions.map((c) => c.gracePeriodMs)])];
    const byGrace = new Map<number, WindowAggregates>();
    try {
      await Promise.all(
        starts.map(async (grace) => {
          const from = new Date(startedAt + grace);
          byGrace.set(grace, from.getTime() < to.getTime() ? await this.aggregate(ns, run.gateway, from, to) : emptyAggregates(from, to));
        }),
      );
    } catch (err) {
      const message = err instanceof MetricsUnavailableError ? err.message : `metrics query failed: ${(err as Error).message}`;
      const hooks = await this.stepChecks(run, policy, step, to, now);
      return { m: { ...base, source: null, target: null, agents: { contributed: 0, live, ids: [] }, conditions: step.conditions.map((c) => errorResult(c, message)), hooks, error: message }, complete: true };
    }
    const readings = (agg: WindowAggregates): { source: SideReading; target: SideReading } => ({
      source: sides.source ? sideFigures(run.source, agg.routes[run.source], false) : (pooled?.source ?? sideFigures(run.source, undefined, true)),
      target: sides.target ? sideFigures(run.target, agg.routes[run.target], false) : (pooled?.target ?? sideFigures(run.target, undefined, true)),
    });
    const main = byGrace.get(policy.gracePeriodMs) as WindowAggregates;
    const expected = Math.round((main.to.getTime() - main.from.getTime()) / (main.windowSeconds * 1000));
    const complete = !liveAgents || expected <= 0 || liveAgents.every((a) => (main.agents.find((x) => x.id === a.agentId)?.windows ?? 0) >= expected);
    if (!complete && !force) return { m: { ...base, source: null, target: null, agents: { contributed: main.agents.length, live, ids: [] }, conditions: [], hooks: [], error: null }, complete };
    const hooks = await this.stepChecks(run, policy, step, to, now);
    const mainSides = readings(main);
    const conditions: ConditionResult[] = step.conditions.map((c) => judgeCondition(c, readings(byGrace.get(c.gracePeriodMs) as WindowAggregates), policy.baselines));
    const m: Measurement = {
      ...base,
      source: mainSides.source as SideFigures,
      target: mainSides.target as SideFigures,
      agents: { contributed: main.agents.length, live, ids: main.agents.map((a) => a.id).slice(0, 50) },
      conditions,
      hooks,
      error: null,
    };
    return { m, complete };
  }

  private async aggregate(ns: Namespace, gateway: string, from: Date, to: Date): Promise<WindowAggregates> {
    if (!this.deps.source) throw new MetricsUnavailableError('none', 'no metrics source is configured for the release controller (agents publish window aggregates on NATS: set WEIR_NATS_URL; or set WEIR_ELASTICSEARCH_URL)');
    return this.deps.source.aggregate({ ns, gateway, from, to });
  }

  private async stepChecks(run: RunRecord, policy: ReleasePolicy, step: PolicyStep, to: Date, now: Date): Promise<HookResult[]> {
    const checks = policy.hooks.filter((h) => h.type === 'step-check' && (h.steps === null || h.steps.includes(step.name)));
    return Promise.all(
      checks.map(async (h) => {
        const key = `${run.id}:${run.attempt}:${step.index}:${h.name}:${to.getTime()}`;
        const out = await this.deps.hooks.call(h, policy.hookSecret, hookPayload(run, policy, h, `tick of step ${step.name} (window to ${to.toISOString()})`, key, now), key);
        return { name: h.name, verdict: out.verdict, status: out.status, detail: out.detail };
      }),
    );
  }
}

function emptyAggregates(from: Date, to: Date): WindowAggregates {
  return { from, to, windowSeconds: 10, routes: {}, agents: [] };
}

/** When the current attempt began (its creation or its last retry). */
export function lastAttemptStart(run: RunRecord): string {
  for (let i = run.transitions.length - 1; i >= 0; i--) {
    const t = run.transitions[i] as RunRecord['transitions'][number];
    if (t.kind === 'retried' || t.kind === 'created') return t.at;
  }
  return run.createdAt;
}
