// One condition, one tick: Passed, Failed, Inconclusive or Error, from both sides of the same
// window. Thin evidence is never a verdict: a side the condition names with fewer than
// `minSamples` requests makes it Inconclusive, and a side with none is `onNoData`. A metrics
// backend that cannot answer is Error, never Failed.
import type { RouteAggregate } from '../metrics/window-source.js';
import { evaluate, type SideValues } from './expression.js';
import type { PolicyCondition } from './policy.js';
import type { ConditionResult, SideFigures } from './run-record.js';

/** What the judge sees of one side: its figures in the window, or nothing at all. */
export type SideReading = SideFigures | null;

export function sideFigures(route: string, agg: RouteAggregate | undefined, pooled: boolean): SideFigures {
  if (!agg) return { route, requests: 0, errors: 0, errorRate: 0, rate: 0, p50: null, p95: null, p99: null, health: 1, latencySamples: 0, latencyBounds: null, pooled };
  return { route, requests: agg.requests, errors: agg.errors, errorRate: agg.errorRate, rate: agg.rate, p50: agg.p50, p95: agg.p95, p99: agg.p99, health: agg.health, latencySamples: agg.latencySamples, latencyBounds: agg.latencyBounds ?? null, pooled };
}

const values = (f: SideReading): SideValues =>
  f
    ? { requests: f.requests, errors: f.errors, errorRate: f.errorRate, rate: f.rate, p50: f.p50, p95: f.p95, p99: f.p99, health: f.health, latencyBounds: f.latencyBounds ?? null }
    : { requests: null, errors: null, errorRate: null, rate: null, p50: null, p95: null, p99: null, health: null };

export function judgeCondition(cond: PolicyCondition, sides: { source: SideReading; target: SideReading }, baselines: Readonly<Record<string, number>>): ConditionResult {
  const samples = { source: cond.sides.includes('source') ? (sides.source?.requests ?? 0) : null, target: cond.sides.includes('target') ? (sides.target?.requests ?? 0) : null };
  const base = { name: cond.name, comparisons: [], samples, minSamples: cond.settings.minSamples };
  const empty = cond.sides.filter((s) => (sides[s]?.requests ?? 0) === 0);
  if (empty.length > 0) {
    const what = `no requests on ${empty.map((s) => `${s} (${sides[s]?.route ?? s})`).join(' and ')}${empty.some((s) => sides[s]?.pooled) ? ' in the earlier steps' : ''}`;
    switch (cond.settings.onNoData) {
      case 'pass':
        return { ...base, verdict: 'Passed', reason: `${what} (onNoData: pass)` };
      case 'fail':
        return { ...base, verdict: 'Failed', reason: `${what} (onNoData: fail)` };
      default:
        return { ...base, verdict: 'Inconclusive', reason: what };
    }
  }
  const thin = cond.sides.filter((s) => (sides[s]?.requests ?? 0) < cond.settings.minSamples);
  const env = { source: values(sides.source), target: values(sides.target), baselines: new Map(Object.entries(baselines)) };
  const r = evaluate(cond.expr, env);
  const comparisons = r.kind === 'value' ? r.comparisons : [];
  if (thin.length > 0) {
    return { ...base, comparisons, verdict: 'Inconclusive', reason: thin.map((s) => `${s} has ${sides[s]?.requests ?? 0} of ${cond.settings.minSamples} requests`).join(', ') };
  }
  if (r.kind === 'missing') return { ...base, verdict: 'Inconclusive', reason: `${r.what.join(', ')}: no timed requests in the window` };
  if (r.kind === 'undefined') return { ...base, verdict: 'Inconclusive', reason: r.reason };
  if (r.holds) return { ...base, comparisons, verdict: 'Passed', reason: describeComparisons(comparisons, true) };
  return { ...base, comparisons, verdict: 'Failed', reason: describeComparisons(comparisons, false) };
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : Number(n.toPrecision(4)).toString());

function describeComparisons(cs: readonly { text: string; left: number; op: string; right: number; holds: boolean }[], holds: boolean): string {
  const relevant = cs.filter((c) => c.holds === holds);
  const list = (relevant.length > 0 ? relevant : cs).slice(0, 3);
  return list.map((c) => `${c.text.split(c.op)[0]?.trim() ?? c.text} = ${fmt(c.left)} ${c.holds ? c.op : `not ${c.op}`} ${fmt(c.right)}`).join('; ');
}

/** Error for every condition when the metrics source could not answer. */
export function errorResult(cond: PolicyCondition, message: string): ConditionResult {
  return { name: cond.name, verdict: 'Error', reason: message, comparisons: [], samples: { source: null, target: null }, minSamples: cond.settings.minSamples };
}
