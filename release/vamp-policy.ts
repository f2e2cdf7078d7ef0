// Vamp's release policy JSON (vamp-demo hotfix-policy.json / policy-minor.json, and the older
// forklift schema with `duration` per step) translated into the Weir model. Every Vamp field
// either maps onto a Weir field or is reported in `notes`; unknown fields are errors, as in Weir
// documents. The translation is what `weir release-policy convert` prints.
import type { ModelError } from '../model/index.js';
import { METRICS } from './expression.js';
import type { ReleasePolicyInput } from './policy-schema.js';

export type VampConversion = { ok: true; policy: ReleasePolicyInput; notes: string[] } | { ok: false; errors: ModelError[] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A Vamp document: `endAfter.value` strings, a per-step `duration`, `metrics[]` or `maxStartRetries`. */
export function isVampPolicy(data: unknown): boolean {
  if (!isObj(data)) return false;
  if ('metrics' in data || 'maxStartRetries' in data) return true;
  const steps = data.steps;
  if (!Array.isArray(steps)) return false;
  return steps.some((s) => isObj(s) && ('duration' in s || (isObj(s.endAfter) && 'value' in s.endAfter)));
}

const TOP = ['name', 'gracePeriod', 'steps', 'metrics', 'baselines', 'conditions', 'maxStartRetries'];
const STEP = ['endAfter', 'duration', 'source', 'target', 'conditions'];
const SIDE = ['weight', 'condition', 'conditionStrength'];
const CONDITION = ['value', 'gracePeriod'];
const METRIC = ['name', 'value'];
const METRIC_VALUE = ['source', 'index', 'tags'];
const BASELINE = ['name', 'metric', 'value'];

export function convertVampPolicy(data: unknown, source: string): VampConversion {
  const errors: ModelError[] = [];
  const notes: string[] = [];
  const err = (path: string, message: string): void => {
    errors.push({ source, path, message });
  };
  const strict = (o: Obj, allowed: readonly string[], path: string): void => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) err(path === '' ? k : `${path}.${k}`, `unknown field ${JSON.stringify(k)} in a Vamp policy`);
  };
  if (!isObj(data)) return { ok: false, errors: [{ source, path: '', message: 'expected a release policy (a map with steps)' }] };
  strict(data, TOP, '');
  const out: Obj = {};
  if (data.name !== undefined) out.name = data.name;
  if (data.gracePeriod !== undefined) out.gracePeriod = data.gracePeriod;
  if (data.maxStartRetries !== undefined) {
    notes.push(`maxStartRetries (${JSON.stringify(data.maxStartRetries)}): Weir has no start retries; a step whose weights no agent applies pauses after progressDeadline instead`);
  }
  // Vamp judges "no traffic" as healthy (health counts 5xx), so a Vamp policy keeps that.
  out.defaults = { onNoData: 'pass' };
  notes.push('defaults.onNoData: pass — as in Vamp, a window without requests does not hold a step back (Weir\'s own default is inconclusive)');

  const conditions = (list: unknown, path: string): unknown => {
    if (list === undefined) return undefined;
    if (!Array.isArray(list)) {
      err(path, 'expected a list of conditions');
      return undefined;
    }
    return list.map((c, i) => {
      const at = `${path}[${i}]`;
      if (!isObj(c)) {
        err(at, 'expected {value, gracePeriod?}');
        return c;
      }
      strict(c, CONDITION, at);
      return { value: c.value, ...(c.gracePeriod !== undefined ? { gracePeriod: c.gracePeriod } : {}) };
    });
  };
  const topConditions = conditions(data.conditions, 'conditions');
  if (topConditions !== undefined) out.conditions = topConditions;

  if (!Array.isArray(data.steps)) err('steps', data.steps === undefined ? 'required field is missing' : 'expected a list of steps');
  else {
    out.steps = data.steps.map((s, i) => {
      const at = `steps[${i}]`;
      if (!isObj(s)) {
        err(at, 'expected a step');
        return s;
      }
      strict(s, STEP, at);
      const step: Obj = {};
      for (const side of ['source', 'target'] as const) {
        const v = s[side];
        if (!isObj(v)) {
          err(`${at}.${side}`, v === undefined ? 'required field is missing' : 'expected {weight, condition?, conditionStrength?}');
          continue;
        }
        strict(v, SIDE, `${at}.${side}`);
        if (side === 'source' && (v.condition !== undefined || v.conditionStrength !== undefined)) {
          err(`${at}.source.condition`, 'a condition on the source route is not supported: a release moves traffic to the target; put the condition on target');
        }
        step[side] = side === 'source' ? { weight: v.weight } : { weight: v.weight, ...(v.condition !== undefined ? { condition: v.condition } : {}), ...(v.conditionStrength !== undefined ? { conditionStrength: v.conditionStrength } : {}) };
      }
      let duration: unknown;
      if (s.endAfter !== undefined) {
        if (!isObj(s.endAfter)) err(`${at}.endAfter`, 'expected {value: "duration == <duration>"}');
        else {
          strict(s.endAfter, ['value'], `${at}.endAfter`);
          const m = typeof s.endAfter.value === 'string' ? /^\s*duration\s*(?:==|>=)\s*(\S+)\s*$/.exec(s.endAfter.value) : null;
          if (!m) err(`${at}.endAfter.value`, `${JSON.stringify(s.endAfter.value)}: Vamp's endAfter is "duration == <duration>" or "duration == baselines.<name>"`);
          else duration = m[1];
        }
      }
      if (s.duration !== undefined) {
        if (duration !== undefined) err(`${at}.duration`, 'both endAfter and duration are given; keep one');
        duration = s.duration;
      }
      if (duration !== undefined) step.endAfter = { duration };
      const sc = conditions(s.conditions, `${at}.conditions`);
      if (sc !== undefined) step.conditions = sc;
      return step;
    });
  }

  if (data.metrics !== undefined) {
    if (!Array.isArray(data.metrics)) err('metrics', 'expected a list of metrics');
    else
      data.metrics.forEach((m, i) => {
        const at = `metrics[${i}]`;
        if (!isObj(m)) return err(at, 'expected {name, value: {source, index, tags}}');
        strict(m, METRIC, at);
        if (isObj(m.value)) strict(m.value, METRIC_VALUE, `${at}.value`);
        const name = m.name;
        if (typeof name !== 'string' || !(METRICS as readonly string[]).includes(name)) {
          return err(`${at}.name`, `${JSON.stringify(name)} is not a metric Weir measures: ${METRICS.join(', ')}`);
        }
        const where = isObj(m.value) && typeof m.value.index === 'string' ? ` (Vamp read it from ${m.value.index})` : '';
        notes.push(`metrics[${i}] ${name}${where}: Weir judges ${name} from the agents' window aggregates of the release's own routes${name === 'health' ? '; health is 1 − errorRate (Vamp\'s was 0 or 1 per window)' : ''}`);
      });
  }

  if (data.baselines !== undefined) {
    if (!Array.isArray(data.baselines)) err('baselines', 'expected a list of baselines');
    else
      out.baselines = data.baselines.map((b, i) => {
        const at = `baselines[${i}]`;
        if (!isObj(b)) {
          err(at, 'expected {name, metric?, value}');
          return b;
        }
        strict(b, BASELINE, at);
        return { name: b.name, ...(b.metric !== undefined ? { metric: b.metric } : {}), value: b.value };
      });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, policy: out as ReleasePolicyInput, notes };
}
