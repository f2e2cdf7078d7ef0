// The routes a run wants the gateway to have: a step's weights (and the target's condition in
// a condition step), the final split on success, the snapshot on failure; and what differs
// between those and the gateway as stored (a person's edit pauses the run).
import type { Gateway } from '../../model/index.js';
import type { PolicyStep } from '../policy.js';
import type { RouteWrite } from '../ports.js';
import type { RunRecord } from '../run-record.js';

export type DesiredRoutes = Record<string, RouteWrite>;

const kept = (run: RunRecord, route: string): Pick<RouteWrite, 'condition' | 'conditionStrength'> => {
  const s = run.snapshot.routes[route];
  return { condition: s?.condition ?? null, conditionStrength: s?.conditionStrength ?? null };
};

export function stepRoutes(run: RunRecord, step: PolicyStep): DesiredRoutes {
  const target: RouteWrite =
    step.target.condition !== null
      ? { weight: step.target.weight, condition: step.target.condition, conditionStrength: step.target.conditionStrength ?? 100 }
      : { weight: step.target.weight, ...kept(run, run.target) };
  return { [run.source]: { weight: step.source.weight, ...kept(run, run.source) }, [run.target]: target };
}

/** Success: everything on the target, the source kept at weight 0 for an instant manual rollback. */
export function finalRoutes(run: RunRecord): DesiredRoutes {
  return { [run.source]: { weight: 0, ...kept(run, run.source) }, [run.target]: { weight: 100, ...kept(run, run.target) } };
}

/** Failure or abort: the routes exactly as they were before the release (those that still exist). */
export function snapshotRoutes(run: RunRecord, gateway: Gateway): DesiredRoutes {
  const out: DesiredRoutes = {};
  for (const r of gateway.routes) {
    const s = run.snapshot.routes[r.name];
    if (s) out[r.name] = { weight: s.weight, condition: s.condition, conditionStrength: s.conditionStrength };
  }
  // Weights must add up to 100: a route added since the snapshot (not in it) takes what is left.
  for (const r of gateway.routes) if (!run.snapshot.routes[r.name]) out[r.name] = { weight: 0, condition: r.condition?.source ?? null, conditionStrength: r.condition ? r.conditionStrength : null };
  const sum = Object.values(out).reduce((a, r) => a + r.weight, 0);
  const src = out[run.source];
  if (sum !== 100 && src) src.weight = Math.max(0, Math.min(100, src.weight + 100 - sum));
  return out;
}

/** Human-readable differences between the stored gateway and what the run wants; empty when they match. */
export function routeDifferences(gateway: Gateway, want: DesiredRoutes): string[] {
  const out: string[] = [];
  for (const [name, w] of Object.entries(want)) {
    const r = gateway.routes.find((x) => x.name === name);
    if (!r) {
      out.push(`route ${name} was removed`);
      continue;
    }
    if (r.weight !== w.weight) out.push(`${name} has weight ${r.weight}%, the step says ${w.weight}%`);
    const cond = r.condition?.source ?? null;
    if (cond !== w.condition) out.push(`${name} has condition ${JSON.stringify(cond)}, the step says ${JSON.stringify(w.condition)}`);
    else if (cond !== null && r.conditionStrength !== (w.conditionStrength ?? 100)) out.push(`${name} has condition strength ${r.conditionStrength}%, the step says ${w.conditionStrength ?? 100}%`);
  }
  return out;
}
