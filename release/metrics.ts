// Prometheus series of the release controller. Labels are bounded: namespace and gateway (one
// current run each), condition names from the pinned policy, fixed enums for the rest.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { namespaceKey, type Namespace } from '../store/store.js';
import type { PolicyCondition } from './policy.js';
import { PHASES, VERDICTS, type Measurement, type RunRecord } from './run-record.js';

export class ReleaseMetrics {
  readonly registry: Registry;
  private readonly phase: Gauge<'namespace' | 'gateway' | 'phase'>;
  private readonly step: Gauge<'namespace' | 'gateway'>;
  private readonly conditionValue: Gauge<'namespace' | 'gateway' | 'condition' | 'side'>;
  private readonly conditionThreshold: Gauge<'namespace' | 'gateway' | 'condition'>;
  private readonly conditionVerdict: Gauge<'namespace' | 'gateway' | 'condition' | 'verdict'>;
  private readonly outcomes: Counter<'result' | 'reason'>;
  readonly ticks: Counter<'result'>;
  readonly hookCalls: Counter<'type' | 'verdict'>;
  readonly hookSeconds: Histogram<'type'>;
  readonly leader: Gauge;
  readonly drives: Counter<'result'>;
  /** Conditions exported per gateway, so a finished run's series can be removed. */
  private readonly exported = new Map<string, Set<string>>();

  constructor(registry?: Registry) {
    this.registry = registry ?? new Registry();
    const registers = [this.registry];
    this.phase = new Gauge({ name: 'weir_release_phase', help: 'Phase of the current (or last) release of a gateway: 1 for the phase it is in, 0 for the others.', labelNames: ['namespace', 'gateway', 'phase'], registers });
    this.step = new Gauge({ name: 'weir_release_step', help: 'Index (from 0) of the step the current release of a gateway is in.', labelNames: ['namespace', 'gateway'], registers });
    this.conditionValue = new Gauge({ name: 'weir_release_condition_value', help: "Last measured value of the metric a condition compares, per side (target, source), in base units.", labelNames: ['namespace', 'gateway', 'condition', 'side'], registers });
    this.conditionThreshold = new Gauge({ name: 'weir_release_condition_threshold', help: 'Last threshold of a condition (the right side of its first comparison).', labelNames: ['namespace', 'gateway', 'condition'], registers });
    this.conditionVerdict = new Gauge({ name: 'weir_release_condition_verdict', help: 'Last verdict of a condition: 1 for the verdict it has, 0 for the others.', labelNames: ['namespace', 'gateway', 'condition', 'verdict'], registers });
    this.outcomes = new Counter({ name: 'weir_release_outcomes_total', help: 'Finished releases by result (Succeeded, Failed, Aborted) and reason code.', labelNames: ['result', 'reason'], registers });
    this.ticks = new Counter({ name: 'weir_release_ticks_total', help: 'Evaluation ticks by result (measure, step-passed, fail, metrics-error).', labelNames: ['result'], registers });
    this.hookCalls = new Counter({ name: 'weir_release_hook_calls_total', help: 'Hook calls by type and verdict (Passed, Failed, Waiting, Error).', labelNames: ['type', 'verdict'], registers });
    this.hookSeconds = new Histogram({ name: 'weir_release_hook_duration_seconds', help: 'Hook call time including retries.', labelNames: ['type'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60], registers });
    this.leader = new Gauge({ name: 'weir_release_controller_leader', help: '1 while this process holds the release-controller lease.', registers });
    this.drives = new Counter({ name: 'weir_release_drives_total', help: 'Passes of the controller over one run, by result (idle, acted, conflict, error, fenced).', labelNames: ['result'], registers });
  }

  observeRun(ns: Namespace, run: RunRecord): void {
    const namespace = namespaceKey(ns);
    for (const p of PHASES) this.phase.set({ namespace, gateway: run.gateway, phase: p }, p === run.phase ? 1 : 0);
    this.step.set({ namespace, gateway: run.gateway }, run.step.index);
  }

  observeMeasurement(ns: Namespace, run: RunRecord, m: Measurement, conditions: readonly PolicyCondition[]): void {
    const namespace = namespaceKey(ns);
    const key = `${namespace}\u0000${run.gateway}`;
    const names = this.exported.get(key) ?? new Set<string>();
    this.exported.set(key, names);
    for (const r of m.conditions) {
      const c = conditions.find((x) => x.name === r.name);
      const labels = { namespace, gateway: run.gateway, condition: r.name };
      names.add(r.name);
      for (const v of VERDICTS) this.conditionVerdict.set({ ...labels, verdict: v }, v === r.verdict ? 1 : 0);
      const first = r.comparisons[0];
      if (first) this.conditionThreshold.set(labels, first.right);
      // The metric the condition's left side names, on both sides of the window.
      const expr = c?.expr;
      const left = expr && expr.kind === 'compare' ? expr.left : null;
      if (left && left.kind === 'metric') {
        for (const side of ['target', 'source'] as const) {
          const v = m[side]?.[left.metric];
          if (typeof v === 'number') this.conditionValue.set({ ...labels, side }, v);
        }
      } else if (first) {
        this.conditionValue.set({ ...labels, side: 'target' }, first.left);
      }
    }
  }

  /** A finished run: count it and drop its per-condition series. */
  finished(ns: Namespace, run: RunRecord): void {
    if (run.outcome) this.outcomes.inc({ result: run.outcome.result, reason: run.outcome.code });
    const namespace = namespaceKey(ns);
    const key = `${namespace}\u0000${run.gateway}`;
    for (const condition of this.exported.get(key) ?? []) {
      const labels = { namespace, gateway: run.gateway, condition };
      for (const side of ['target', 'source']) this.conditionValue.remove({ ...labels, side });
      this.conditionThreshold.remove(labels);
      for (const v of VERDICTS) this.conditionVerdict.remove({ ...labels, verdict: v });
    }
    this.exported.delete(key);
  }
}
