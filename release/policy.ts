// Release policy text or data → the validated, normalized `ReleasePolicy` the controller runs.
// Vamp's policy JSON is recognised and translated first (vamp-policy.ts). Every problem is a
// ModelError naming the policy, the field path and, inside expressions, the column.
import { createHash } from 'node:crypto';
import { compileCondition, formatModelError, readDocumentText, type ModelError } from '../model/index.js';
import { issuesToModelErrors } from '../model/errors.js';
import { formatDuration, parseDuration } from './duration.js';
import { parseExpression, type Expr, type Side } from './expression.js';
import {
  AGGREGATE_WINDOW_MS,
  ReleasePolicyInputSchema,
  type HookType,
  type OnError,
  type OnInconclusive,
  type OnNoData,
  type ReleasePolicyInput,
  type TransitionKind,
} from './policy-schema.js';
import { convertVampPolicy, isVampPolicy } from './vamp-policy.js';

export const MAX_POLICY_BYTES = 256 * 1024;

export interface ConditionSettings {
  minSamples: number;
  onNoData: OnNoData;
  onInconclusive: OnInconclusive;
  onError: OnError;
  failureLimit: number;
  inconclusiveLimit: number;
  consecutiveErrorLimit: number;
}

export const DEFAULT_SETTINGS: Readonly<ConditionSettings> = {
  minSamples: 100,
  onNoData: 'inconclusive',
  onInconclusive: 'pause',
  onError: 'pause',
  failureLimit: 0,
  inconclusiveLimit: 0,
  consecutiveErrorLimit: 4,
};

export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_PROGRESS_DEADLINE_MS = 600_000;
export const DEFAULT_HOOK_TIMEOUT_MS = 10_000;
export const MAX_HOOK_TIMEOUT_MS = 60_000;
export const DEFAULT_HOOK_RETRIES = 2;

export interface PolicyCondition {
  name: string;
  /** The expression as written. */
  value: string;
  expr: Expr;
  /** Sides the expression names (`health` alone names the target). */
  sides: Side[];
  gracePeriodMs: number;
  settings: ConditionSettings;
  scope: 'policy' | 'step';
}

export interface PolicyStep {
  index: number;
  name: string;
  source: { weight: number };
  target: { weight: number; condition: string | null; conditionStrength: number | null };
  endAfter: { durationMs: number; minSamples: number | null };
  gate: 'confirm' | null;
  /** Policy-wide conditions first, then the step's own. */
  conditions: PolicyCondition[];
}

export interface PolicyHook {
  name: string;
  type: HookType;
  url: string;
  timeoutMs: number;
  retries: number;
  steps: string[] | null;
  events: TransitionKind[] | null;
}

export interface ReleasePolicy {
  name: string;
  version: number | null;
  description: string | null;
  intervalMs: number;
  gracePeriodMs: number;
  progressDeadlineMs: number;
  defaults: ConditionSettings;
  /** Baseline values as conditions see them (durations in seconds). */
  baselines: Record<string, number>;
  steps: PolicyStep[];
  hooks: PolicyHook[];
  hookSecret: string | null;
  /** The Weir document (a Vamp policy after translation): what a run pins. */
  document: ReleasePolicyInput;
  /** sha256 of the canonical JSON of `document`. */
  hash: string;
}

export type PolicyParseResult = { ok: true; policy: ReleasePolicy; vamp: boolean; notes: string[] } | { ok: false; errors: ModelError[] };

export interface PolicyParseOptions {
  /** The name the URL, file or key gives; the document's `name` must match when it has one. */
  expectedName?: string;
  /** Overrides the error source (default `policy "<name>"`). */
  source?: string;
}

const sourceOf = (name: string | undefined, opts: PolicyParseOptions): string => opts.source ?? (name ? `policy ${JSON.stringify(name)}` : 'policy');

export function parsePolicyText(text: string, format: 'yaml' | 'json', opts: PolicyParseOptions = {}): PolicyParseResult {
  const source = sourceOf(opts.expectedName, opts);
  const read = readDocumentText(text, { source, format, maxBytes: MAX_POLICY_BYTES, maxBytesText: '256 KiB' });
  if (!read.ok) return read;
  return validatePolicyInput(read.data, opts);
}

/** Parsed data (a JSON body, a stored document) → policy; Vamp documents are translated first. */
export function validatePolicyInput(data: unknown, opts: PolicyParseOptions = {}): PolicyParseResult {
  const named = typeof data === 'object' && data !== null && typeof (data as { name?: unknown }).name === 'string' ? ((data as { name: string }).name as string) : undefined;
  const source = sourceOf(opts.expectedName ?? named, opts);
  let input: unknown = data;
  let notes: string[] = [];
  const vamp = isVampPolicy(data);
  if (vamp) {
    const c = convertVampPolicy(data, source);
    if (!c.ok) return c;
    input = c.policy;
    notes = c.notes;
  }
  let parsed: ReturnType<typeof ReleasePolicyInputSchema.safeParse>;
  try {
    parsed = ReleasePolicyInputSchema.safeParse(input, { reportInput: true });
  } catch (err) {
    return { ok: false, errors: [{ source, path: '', message: `cannot validate the document: ${(err as Error).message}` }] };
  }
  if (!parsed.success) return { ok: false, errors: issuesToModelErrors(source, parsed.error.issues) };
  const r = normalizePolicy(parsed.data, source, opts.expectedName);
  if (!r.ok) return r;
  return { ok: true, policy: r.policy, vamp, notes };
}

class Collector {
  readonly errors: ModelError[] = [];
  constructor(readonly source: string) {}
  add(path: string, message: string): void {
    this.errors.push({ source: this.source, path, message });
  }
  duration(path: string, text: string | undefined, fallback: number): number {
    if (text === undefined) return fallback;
    const d = parseDuration(text);
    if (!d.ok) {
      this.add(path, d.message);
      return fallback;
    }
    return d.ms;
  }
}

const pct = (v: number | string): number => (typeof v === 'number' ? v : Number.parseInt(v, 10));

function normalizePolicy(doc: ReleasePolicyInput, source: string, expectedName: string | undefined): { ok: true; policy: ReleasePolicy } | { ok: false; errors: ModelError[] } {
  const c = new Collector(source);
  const name = doc.name ?? expectedName;
  if (doc.name !== undefined && expectedName !== undefined && doc.name !== expectedName) c.add('name', `the document is named ${JSON.stringify(doc.name)} but is stored as ${JSON.stringify(expectedName)}`);
  if (name === undefined) c.add('name', 'required field is missing (or give the name in the URL or file name)');

  const intervalMs = c.duration('interval', doc.interval, DEFAULT_INTERVAL_MS);
  if (doc.interval !== undefined && (intervalMs < AGGREGATE_WINDOW_MS || intervalMs % AGGREGATE_WINDOW_MS !== 0)) {
    c.add('interval', `${JSON.stringify(doc.interval)} is not a multiple of the ${AGGREGATE_WINDOW_MS / 1000} s aggregate window (10s, 20s, 30s, 1m, …)`);
  }
  const gracePeriodMs = c.duration('gracePeriod', doc.gracePeriod, 0);
  const progressDeadlineMs = c.duration('progressDeadline', doc.progressDeadline, DEFAULT_PROGRESS_DEADLINE_MS);
  if (doc.progressDeadline !== undefined && progressDeadlineMs < intervalMs) c.add('progressDeadline', `must be at least the interval (${formatDuration(intervalMs)})`);

  const defaults: ConditionSettings = { ...DEFAULT_SETTINGS, ...stripUndefined(doc.defaults ?? {}) };

  // Baselines: numbers, percentages or durations (seconds in expressions; ms for endAfter).
  const baselines: Record<string, number> = {};
  const baselineMs = new Map<string, number>();
  (doc.baselines ?? []).forEach((b, i) => {
    const at = `baselines[${i}]`;
    if (Object.hasOwn(baselines, b.name)) c.add(`${at}.name`, `baseline ${JSON.stringify(b.name)} is defined twice`);
    if (typeof b.value === 'number') {
      baselines[b.name] = b.value;
      return;
    }
    const pm = /^(-?\d+(?:\.\d+)?)%$/.exec(b.value.trim());
    if (pm) {
      baselines[b.name] = Number(pm[1]) / 100;
      return;
    }
    if (/^-?\d+(?:\.\d+)?$/.test(b.value.trim())) {
      baselines[b.name] = Number(b.value);
      return;
    }
    const d = parseDuration(b.value);
    if (!d.ok) {
      c.add(`${at}.value`, `${JSON.stringify(b.value.slice(0, 40))} is neither a number, a percentage ("97%") nor a duration ("5m")`);
      return;
    }
    baselines[b.name] = d.ms / 1000;
    baselineMs.set(b.name, d.ms);
  });
  const baselineNames = new Set(Object.keys(baselines));

  const conditionOf = (cond: NonNullable<ReleasePolicyInput['conditions']>[number], at: string, fallbackName: string, scope: 'policy' | 'step'): PolicyCondition | null => {
    const parsed = parseExpression(cond.value, { baselines: baselineNames });
    if (!parsed.ok) {
      c.add(`${at}.value`, `column ${parsed.error.column}: ${parsed.error.message}`);
      return null;
    }
    const { name: _n, value: _v, gracePeriod, ...overrides } = cond;
    return {
      name: cond.name ?? fallbackName,
      value: cond.value,
      expr: parsed.expr,
      sides: parsed.sides,
      gracePeriodMs: c.duration(`${at}.gracePeriod`, gracePeriod, gracePeriodMs),
      settings: { ...defaults, ...stripUndefined(overrides) },
      scope,
    };
  };
  const policyConditions = (doc.conditions ?? []).map((cond, i) => conditionOf(cond, `conditions[${i}]`, `condition-${i}`, 'policy')).filter((x): x is PolicyCondition => x !== null);

  const stepNames = new Set<string>();
  const steps: PolicyStep[] = doc.steps.map((s, i) => {
    const at = `steps[${i}]`;
    const stepName = s.name ?? `step-${i}`;
    if (stepNames.has(stepName)) c.add(`${at}.name`, `step ${JSON.stringify(stepName)} is defined twice`);
    stepNames.add(stepName);
    const sw = pct(s.source.weight);
    const tw = pct(s.target.weight);
    if (sw + tw !== 100) c.add(`${at}.target.weight`, `source ${sw}% + target ${tw}% = ${sw + tw}%, must be 100% (a release moves traffic between its two routes)`);
    let condition: string | null = null;
    if (s.target.condition !== undefined) {
      const compiled = compileCondition(s.target.condition);
      if (!compiled.ok) c.add(`${at}.target.condition`, compiled.message);
      condition = s.target.condition;
    }
    if (s.target.conditionStrength !== undefined && condition === null) c.add(`${at}.target.conditionStrength`, 'conditionStrength needs a condition');
    let durationMs = intervalMs;
    const d = s.endAfter?.duration;
    if (d !== undefined) {
      const ref = /^baselines\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(d.trim());
      if (ref) {
        const ms = baselineMs.get(ref[1] as string);
        if (ms === undefined) c.add(`${at}.endAfter.duration`, baselineNames.has(ref[1] as string) ? `baseline ${JSON.stringify(ref[1])} is not a duration` : `unknown baseline ${JSON.stringify(ref[1])}`);
        else durationMs = ms;
      } else {
        durationMs = c.duration(`${at}.endAfter.duration`, d, intervalMs);
      }
    }
    const own = (s.conditions ?? []).map((cond, j) => conditionOf(cond, `${at}.conditions[${j}]`, `${stepName}-condition-${j}`, 'step')).filter((x): x is PolicyCondition => x !== null);
    const all = [...policyConditions, ...own];
    const seen = new Set<string>();
    for (const [j, cond] of own.entries()) {
      if (policyConditions.some((p) => p.name === cond.name) || seen.has(cond.name)) c.add(`${at}.conditions[${j}].name`, `condition ${JSON.stringify(cond.name)} is defined twice for this step`);
      seen.add(cond.name);
    }
    return {
      index: i,
      name: stepName,
      source: { weight: sw },
      target: { weight: tw, condition, conditionStrength: s.target.conditionStrength === undefined ? (condition === null ? null : 100) : pct(s.target.conditionStrength) },
      endAfter: { durationMs, minSamples: s.endAfter?.minSamples ?? null },
      gate: s.gate ?? null,
      conditions: all,
    };
  });
  const pnames = new Set<string>();
  policyConditions.forEach((p, i) => {
    if (pnames.has(p.name)) c.add(`conditions[${i}].name`, `condition ${JSON.stringify(p.name)} is defined twice`);
    pnames.add(p.name);
  });

  const hookNames = new Set<string>();
  const hooks: PolicyHook[] = (doc.hooks ?? []).map((h, i) => {
    const at = `hooks[${i}]`;
    if (hookNames.has(h.name)) c.add(`${at}.name`, `hook ${JSON.stringify(h.name)} is defined twice`);
    hookNames.add(h.name);
    let url: URL | null = null;
    try {
      url = new URL(h.url);
    } catch {
      c.add(`${at}.url`, `${JSON.stringify(h.url.slice(0, 80))} is not a URL`);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') c.add(`${at}.url`, `${JSON.stringify(url.protocol)} is not allowed: hooks are http:// or https:// URLs`);
    if (url && (url.username || url.password)) c.add(`${at}.url`, 'credentials in the URL are not allowed (they would be stored in the policy); sign with hookSecret instead');
    const timeoutMs = c.duration(`${at}.timeout`, h.timeout, DEFAULT_HOOK_TIMEOUT_MS);
    if (timeoutMs < 100 || timeoutMs > MAX_HOOK_TIMEOUT_MS) c.add(`${at}.timeout`, 'a hook timeout is between 100ms and 60s');
    if (h.type === 'step-check' && timeoutMs >= intervalMs) c.add(`${at}.timeout`, `a step-check hook's timeout (${formatDuration(timeoutMs)}) must be below the interval (${formatDuration(intervalMs)}): it is called every tick`);
    if (h.steps !== undefined) {
      if (h.type !== 'confirm-step' && h.type !== 'step-check') c.add(`${at}.steps`, `only confirm-step and step-check hooks take steps (this is ${h.type})`);
      h.steps.forEach((sn, j) => {
        if (!stepNames.has(sn)) c.add(`${at}.steps[${j}]`, `no step named ${JSON.stringify(sn)} (steps: ${[...stepNames].join(', ')})`);
      });
    }
    if (h.events !== undefined && h.type !== 'event') c.add(`${at}.events`, `only event hooks take events (this is ${h.type})`);
    return { name: h.name, type: h.type, url: h.url, timeoutMs, retries: h.retries ?? DEFAULT_HOOK_RETRIES, steps: h.steps ?? null, events: h.events ?? null };
  });
  if (hooks.length > 0 && doc.hookSecret === undefined) c.add('hookSecret', 'required when the policy has hooks: env:<VARIABLE> or file:/path of the HMAC key that signs hook bodies');
  if (hooks.some((h) => h.type === 'confirm-step') && !steps.some((s) => s.gate === 'confirm')) {
    const i = hooks.findIndex((h) => h.type === 'confirm-step');
    c.add(`hooks[${i}].type`, 'a confirm-step hook needs a step with gate: confirm');
  }

  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  const document: ReleasePolicyInput = { ...doc, name: name as string };
  return {
    ok: true,
    policy: {
      name: name as string,
      version: doc.version ?? null,
      description: doc.description ?? null,
      intervalMs,
      gracePeriodMs,
      progressDeadlineMs,
      defaults,
      baselines,
      steps,
      hooks,
      hookSecret: doc.hookSecret ?? null,
      document,
      hash: policyHash(document),
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** JSON with object keys sorted, so equal documents hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function policyHash(doc: ReleasePolicyInput): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('hex');
}

/** `policy "canary": steps[1].target.weight: …` lines, for CLI and API messages. */
export const formatPolicyErrors = (errors: readonly ModelError[]): string[] => errors.map(formatModelError);
