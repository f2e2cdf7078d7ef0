// The release API's operations, independent of HTTP: policies (validated, CAS, audited) and
// runs (start, read, operator actions). The control API maps its routes onto these; the
// controller's metadata trigger starts runs through the same `start`. Runs are only written to
// the store here; the controller (in this process or another) carries them out.
import { randomUUID } from 'node:crypto';
import { parseGateway, type Gateway, type ModelError } from '../model/index.js';
import { formatModelError } from '../model/index.js';
import type { AuditRecord } from '../events/contract.js';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import { namespaceKey, StoreUnavailableError, type Namespace } from '../store/store.js';
import { InvalidStoreKeyError, isDnsLabel, VersionConflictError } from '../store/store-writer.js';
import { parsePolicyText, validatePolicyInput, type ReleasePolicy } from './policy.js';
import type { GatewayReader, ReleaseAuditSink, ReleaseDocumentStore, ReleaseEventPublisher, StoredDocument } from './ports.js';
import { applyAction, createRun, newRunId, type Action } from './run-machine.js';
import { isTerminal, type RouteState, type RunRecord } from './run-record.js';
import { CorruptRunError, RunRepository } from './run-repository.js';
import { runSummary, runView, type RunView } from './run-view.js';

/** An API-level failure: the control API turns it into `{"error": {code, message, details}}`. */
export class ReleaseError extends Error {
  override readonly name = 'ReleaseError';
  constructor(
    readonly status: 400 | 404 | 409 | 502 | 503,
    readonly code: string,
    message: string,
    readonly details?: unknown[],
  ) {
    super(message);
  }
}

export interface ReleaseContext {
  ns: Namespace;
  /** `name (id)` of the token. */
  actor: string;
  role: string;
  requestId: string;
}

export interface PolicyBody {
  format: 'yaml' | 'json';
  text: string;
}

export interface PolicyPreconditions {
  ifMatch?: string;
  ifNoneMatch?: true;
}

export interface PolicySummary {
  name: string;
  version: string;
  format: 'yaml' | 'json';
  valid: boolean;
  /** Valid policies. */
  policyVersion?: number | null;
  hash?: string;
  steps?: Array<{ name: string; source: number; target: number }>;
  vamp?: boolean;
  errors?: string[];
}

export interface ReleaseServiceDeps {
  store: ReleaseDocumentStore;
  gateways: GatewayReader;
  audit?: ReleaseAuditSink | undefined;
  events?: ReleaseEventPublisher | undefined;
  logger?: Logger;
  now?: () => Date;
}

const modelDetails = (errors: readonly ModelError[]): unknown[] => errors.map((e) => ({ source: e.source, path: e.path, message: e.message, text: formatModelError(e) }));

export function invalidPolicy(errors: readonly ModelError[]): ReleaseError {
  const first = errors[0];
  const syntax = first && first.path === '' ? /^invalid (JSON|YAML)\b/.exec(first.message) : null;
  const code = syntax ? `invalid_${(syntax[1] as string).toLowerCase()}` : 'invalid_release_policy';
  const message = errors.length === 1 && first ? formatModelError(first) : `${errors.length} problems: ${errors.slice(0, 3).map(formatModelError).join('; ')}${errors.length > 3 ? '; …' : ''}`;
  return new ReleaseError(400, code, message, modelDetails(errors));
}

type Listener = (ns: Namespace, gateway: string) => void;

export class ReleaseService {
  readonly runs: RunRepository;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly deps: ReleaseServiceDeps) {
    this.log = deps.logger ?? silentLogger();
    this.now = deps.now ?? (() => new Date());
    this.runs = new RunRepository(deps.store, { events: deps.events, logger: this.log });
  }

  /** Called after every run write (the in-process controller reacts at once). */
  onRunChanged(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ---- policies ----

  async listPolicies(ns: Namespace): Promise<{ namespace: string; policies: PolicySummary[]; problems: Array<{ source: string; message: string }> }> {
    const snap = await this.call('list', () => this.deps.store.listDocuments(ns, 'release-policies'));
    return {
      namespace: namespaceKey(ns),
      policies: snap.entries.map((e) => summarizePolicy(e)).sort((a, b) => a.name.localeCompare(b.name)),
      problems: snap.problems.map((p) => ({ source: p.source.split('/').pop() ?? p.source, message: p.message })),
    };
  }

  async getPolicy(ns: Namespace, name: string): Promise<StoredDocument & { format: 'yaml' | 'json' }> {
    checkName(name, 'release policy');
    const e = await this.call('get', () => this.deps.store.getDocument(ns, 'release-policies', name));
    if (!e) throw new ReleaseError(404, 'release_policy_not_found', `release policy "${name}" does not exist in ${namespaceKey(ns)}`);
    return e as StoredDocument & { format: 'yaml' | 'json' };
  }

  async putPolicy(ctx: ReleaseContext, name: string, body: PolicyBody, pre: PolicyPreconditions): Promise<{ created: boolean; version: string; summary: PolicySummary; notes: string[] }> {
    checkName(name, 'release policy');
    const parsed = parsePolicyText(body.text, body.format, { expectedName: name });
    if (!parsed.ok) throw invalidPolicy(parsed.errors);
    for (let attempt = 1; ; attempt++) {
      const current = await this.call('get', () => this.deps.store.getDocument(ctx.ns, 'release-policies', name));
      checkPreconditions(`release policy "${name}"`, pre, current);
      try {
        const { version } = await this.call('put', () => this.deps.store.putDocument(ctx.ns, 'release-policies', name, body.text, body.format, { ifVersion: current?.version ?? null }));
        await this.audit(ctx, current ? 'release-policy.replace' : 'release-policy.create', `release-policy/${ctx.ns.org}/${ctx.ns.env}/${name}`, current?.version ?? null, version);
        return { created: current === null, version, summary: summaryOf(name, version, body.format, parsed.policy, parsed.vamp), notes: parsed.notes };
      } catch (err) {
        if (!(err instanceof VersionConflictError) || pre.ifMatch !== undefined || pre.ifNoneMatch || attempt >= 8) throw conflictFrom(err);
      }
    }
  }

  async deletePolicy(ctx: ReleaseContext, name: string, pre: PolicyPreconditions): Promise<void> {
    checkName(name, 'release policy');
    const current = await this.call('get', () => this.deps.store.getDocument(ctx.ns, 'release-policies', name));
    if (!current) throw new ReleaseError(404, 'release_policy_not_found', `release policy "${name}" does not exist in ${namespaceKey(ctx.ns)}`);
    checkPreconditions(`release policy "${name}"`, pre, current);
    try {
      const removed = await this.call('delete', () => this.deps.store.deleteDocument(ctx.ns, 'release-policies', name, { ifVersion: current.version }));
      if (!removed) throw new ReleaseError(404, 'release_policy_not_found', `release policy "${name}" does not exist in ${namespaceKey(ctx.ns)}`);
    } catch (err) {
      throw conflictFrom(err);
    }
    // Runs pinned a copy: deleting the policy never affects a release in progress.
    await this.audit(ctx, 'release-policy.delete', `release-policy/${ctx.ns.org}/${ctx.ns.env}/${name}`, current.version, null);
  }

  /** The policy a run would use; 400 when it does not exist or does not validate. */
  async resolvePolicy(ns: Namespace, name: string): Promise<ReleasePolicy> {
    if (!isDnsLabel(name)) throw new ReleaseError(400, 'invalid_request', `policy: ${JSON.stringify(name.slice(0, 80))} is not a policy name (a lower-case DNS label)`);
    const e = await this.call('get', () => this.deps.store.getDocument(ns, 'release-policies', name));
    if (!e) throw new ReleaseError(400, 'unknown_release_policy', `policy: no release policy "${name}" in ${namespaceKey(ns)}`);
    const r = e.format === 'yaml' || e.format === 'json' ? parsePolicyText(e.body, e.format, { expectedName: name }) : null;
    if (!r) throw new ReleaseError(409, 'stored_release_policy_invalid', `the stored release policy "${name}" is not YAML or JSON`);
    if (!r.ok) throw new ReleaseError(409, 'stored_release_policy_invalid', `the stored release policy "${name}" does not validate: ${r.errors.map(formatModelError).join('; ')}; replace it with PUT`, modelDetails(r.errors));
    return r.policy;
  }

  // ---- runs ----

  async start(ctx: ReleaseContext, gateway: string, req: unknown, trigger: 'api' | 'metadata' = 'api'): Promise<RunView> {
    checkName(gateway, 'gateway');
    const body = startBody(req);
    const policy = await this.resolvePolicy(ctx.ns, body.policy);
    const g = await this.gateway(ctx.ns, gateway);
    const routes = new Map(g.gateway.routes.map((r) => [r.name, r]));
    for (const [field, route] of [['source', body.source], ['target', body.target]] as const) {
      if (!routes.has(route)) throw new ReleaseError(400, 'unknown_route', `${field}: gateway "${gateway}" has no route ${JSON.stringify(route)} (routes: ${[...routes.keys()].join(', ')})`);
    }
    if (body.source === body.target) throw new ReleaseError(400, 'invalid_request', 'source and target must be different routes');
    const others = g.gateway.routes.filter((r) => r.name !== body.source && r.name !== body.target && r.weight > 0);
    if (others.length > 0) {
      throw new ReleaseError(400, 'other_routes_have_weight', `a release moves traffic between two routes; ${others.map((r) => `${r.name} has weight ${r.weight}%`).join(', ')}: set ${others.length > 1 ? 'them' : 'it'} to 0 first`);
    }
    const current = await this.currentOrNull(ctx.ns, gateway);
    if (current && (!isTerminal(current.run.phase) || current.run.finish.state === 'pending' || !current.run.history)) {
      throw new ReleaseError(409, 'release_in_progress', `gateway "${gateway}" has release ${current.run.id} in progress (${current.run.phase}); abort it or wait for it to finish`);
    }
    const now = this.now();
    const run = createRun({ id: newRunId(now), namespace: namespaceKey(ctx.ns), gateway, source: body.source, target: body.target, policy, snapshot: snapshotOf(g.gateway, g.version), trigger, actor: ctx.actor, now });
    try {
      await this.runs.save(ctx.ns, run, current?.version ?? null, null);
    } catch (err) {
      if (err instanceof VersionConflictError) throw new ReleaseError(409, 'release_in_progress', `another release of gateway "${gateway}" was started at the same moment`);
      throw this.mapStoreError(err, 'put');
    }
    await this.audit(ctx, 'release.start', `release/${ctx.ns.org}/${ctx.ns.env}/${gateway}/${run.id}`, current?.version ?? null, run.id);
    this.changed(ctx.ns, gateway);
    return runView(run, policy, now);
  }

  async current(ns: Namespace, gateway: string): Promise<RunView> {
    checkName(gateway, 'gateway');
    const cur = await this.currentOrNull(ns, gateway);
    if (!cur) throw new ReleaseError(404, 'release_not_found', `gateway "${gateway}" has no release in ${namespaceKey(ns)}`);
    return this.view(cur.run);
  }

  async get(ns: Namespace, gateway: string, id: string): Promise<RunView> {
    checkName(gateway, 'gateway');
    const found = await this.call('get', () => this.runs.find(ns, gateway, id));
    if (!found) throw new ReleaseError(404, 'release_not_found', `gateway "${gateway}" has no release ${JSON.stringify(id.slice(0, 80))}`);
    return this.view(found.run);
  }

  async history(ns: Namespace, gateway: string): Promise<{ gateway: string; current: Record<string, unknown> | null; releases: Array<Record<string, unknown>> }> {
    checkName(gateway, 'gateway');
    const [cur, past] = await Promise.all([this.currentOrNull(ns, gateway), this.call('list', () => this.runs.history(ns, gateway))]);
    // The current record also appears in the history once finished: list each attempt once.
    const seen = new Set<string>();
    const releases: Array<Record<string, unknown>> = [];
    for (const r of [...(cur ? [cur.run] : []), ...past]) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      releases.push(runSummary(r));
    }
    return { gateway, current: cur ? runSummary(cur.run) : null, releases };
  }

  /** Every gateway's current (or last) run in the namespace. */
  async list(ns: Namespace): Promise<{ namespace: string; releases: Array<Record<string, unknown>>; problems: Array<{ source: string; message: string }> }> {
    const r = await this.call('list', () => this.runs.listCurrent(ns));
    return { namespace: namespaceKey(ns), releases: r.runs.map((x) => runSummary(x.run)).sort((a, b) => String(a.gateway).localeCompare(String(b.gateway))), problems: r.problems };
  }

  async act(ctx: ReleaseContext, gateway: string, id: string, action: Action, body: unknown): Promise<RunView> {
    checkName(gateway, 'gateway');
    const args = actionBody(action, body);
    for (let attempt = 1; ; attempt++) {
      const cur = await this.currentOrNull(ctx.ns, gateway);
      if (!cur || cur.run.id !== id) {
        const past = await this.call('get', () => this.runs.find(ctx.ns, gateway, id));
        if (!past) throw new ReleaseError(404, 'release_not_found', `gateway "${gateway}" has no release ${JSON.stringify(id.slice(0, 80))}`);
        throw new ReleaseError(409, 'release_not_current', `release ${id} is no longer the current release of gateway "${gateway}"${cur ? ` (${cur.run.id} is)` : ''}`);
      }
      const policy = this.policyOf(cur.run);
      const snapshot = action === 'retry' ? await this.retrySnapshot(ctx.ns, cur.run) : undefined;
      const now = this.now();
      const r = applyAction(cur.run, policy, action, { actor: ctx.actor, now, ...(args.fromStep !== undefined ? { fromStep: args.fromStep } : {}), ...(args.reason !== undefined ? { reason: args.reason } : {}), ...(snapshot ? { snapshot } : {}) });
      if (!r.ok) throw new ReleaseError(r.status, r.code, r.message);
      if (r.run === cur.run) return this.view(cur.run);
      try {
        await this.runs.save(ctx.ns, r.run, cur.version, cur.run);
      } catch (err) {
        if (err instanceof VersionConflictError && attempt < 8) continue;
        throw this.mapStoreError(err, 'put');
      }
      await this.audit(ctx, `release.${action}`, `release/${ctx.ns.org}/${ctx.ns.env}/${gateway}/${id}`, cur.version, id);
      this.changed(ctx.ns, gateway);
      return runView(r.run, policy, now);
    }
  }

  // ---- helpers ----

  private async retrySnapshot(ns: Namespace, run: RunRecord): Promise<RunRecord['snapshot']> {
    const g = await this.gateway(ns, run.gateway);
    for (const route of [run.source, run.target]) {
      if (!g.gateway.routes.some((r) => r.name === route)) throw new ReleaseError(409, 'unknown_route', `gateway "${run.gateway}" no longer has route ${JSON.stringify(route)}; start a new release`);
    }
    return snapshotOf(g.gateway, g.version);
  }

  private policyOf(run: RunRecord): ReleasePolicy {
    try {
      return this.runs.policyOf(run);
    } catch (err) {
      throw new ReleaseError(409, 'stored_release_invalid', (err as Error).message);
    }
  }

  private view(run: RunRecord): RunView {
    let policy: ReleasePolicy | null = null;
    try {
      policy = this.runs.policyOf(run);
    } catch {
      policy = null;
    }
    return runView(run, policy, this.now());
  }

  async currentOrNull(ns: Namespace, gateway: string): Promise<{ run: RunRecord; version: string } | null> {
    return this.call('get', () => this.runs.current(ns, gateway));
  }

  private async gateway(ns: Namespace, name: string): Promise<{ gateway: Gateway; version: string }> {
    const e = await this.call('get', () => this.deps.gateways.get(ns, name));
    if (!e) throw new ReleaseError(404, 'gateway_not_found', `gateway "${name}" does not exist in ${namespaceKey(ns)}`);
    const r = e.format === 'yaml' || e.format === 'json' ? parseGateway(e.body, { source: name, format: e.format, expectedName: name }) : null;
    if (!r || !r.ok) throw new ReleaseError(409, 'stored_gateway_invalid', `the stored gateway "${name}" does not validate${r && !r.ok ? `: ${r.errors.map(formatModelError).join('; ')}` : ''}`);
    return { gateway: r.gateway, version: e.version };
  }

  private changed(ns: Namespace, gateway: string): void {
    for (const fn of this.listeners) {
      try {
        fn(ns, gateway);
      } catch (err) {
        this.log.warn({ err }, 'release change listener failed');
      }
    }
  }

  private async audit(ctx: ReleaseContext, action: string, target: string, before: string | null, after: string | null): Promise<void> {
    const sink = this.deps.audit;
    if (!sink) return;
    const rec: AuditRecord = { id: randomUUID(), at: this.now().toISOString(), by: ctx.actor, role: ctx.role, action, target, beforeVersion: before, afterVersion: after, requestId: ctx.requestId };
    try {
      await sink.record(ctx.ns, rec);
    } catch (err) {
      this.log.error({ err, audit: rec }, 'audit record not written');
    }
  }

  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.mapStoreError(err, op);
    }
  }

  private mapStoreError(err: unknown, op: string): Error {
    if (err instanceof ReleaseError || err instanceof VersionConflictError) return err;
    if (err instanceof InvalidStoreKeyError) return new ReleaseError(400, `invalid_${err.what === 'name' ? 'name' : 'namespace'}`, err.message);
    if (err instanceof StoreUnavailableError) return new ReleaseError(503, 'store_unavailable', err.message);
    if (err instanceof CorruptRunError) return new ReleaseError(409, 'stored_release_invalid', `${err.message}; remove it from the store to start a new release`);
    this.log.error({ err, op }, 'store call failed');
    return new ReleaseError(502, 'store_error', `the store refused or failed the ${op}: ${(err as Error).message}`);
  }
}

function checkName(name: string, what: string): void {
  if (!isDnsLabel(name)) throw new ReleaseError(400, 'invalid_name', `${JSON.stringify(name.slice(0, 80))} is not a valid ${what} name: use a lower-case DNS label (a-z, 0-9 and "-", 1–63 characters)`);
}

function checkPreconditions(what: string, pre: PolicyPreconditions, current: StoredDocument | null): void {
  if (pre.ifNoneMatch && current) throw new ReleaseError(409, 'version_conflict', `${what} already exists (version ${current.version}) and If-None-Match: * was sent`);
  if (pre.ifMatch === undefined) return;
  if (!current) throw new ReleaseError(409, 'version_conflict', `${what} does not exist, but If-Match was sent`);
  if (pre.ifMatch !== '*' && pre.ifMatch !== current.version) throw new ReleaseError(409, 'version_conflict', `${what} is at version ${current.version}, not ${pre.ifMatch} (If-Match); re-read and retry`);
}

function conflictFrom(err: unknown): Error {
  if (err instanceof VersionConflictError) return new ReleaseError(409, 'version_conflict', err.message);
  return err as Error;
}

function summaryOf(name: string, version: string, format: 'yaml' | 'json', p: ReleasePolicy, vamp: boolean): PolicySummary {
  return { name, version, format, valid: true, policyVersion: p.version, hash: p.hash, vamp, steps: p.steps.map((s) => ({ name: s.name, source: s.source.weight, target: s.target.weight })) };
}

export function summarizePolicy(e: StoredDocument): PolicySummary {
  const format = e.format === 'yaml' ? 'yaml' : 'json';
  const r = e.format === 'yaml' || e.format === 'json' ? parsePolicyText(e.body, e.format, { expectedName: e.name }) : null;
  if (!r || !r.ok) return { name: e.name, version: e.version, format, valid: false, errors: r && !r.ok ? r.errors.map(formatModelError) : ['not YAML or JSON'] };
  return summaryOf(e.name, e.version, format, r.policy, r.vamp);
}

export function snapshotOf(g: Gateway, version: string): RunRecord['snapshot'] {
  const routes: Record<string, RouteState> = {};
  for (const r of g.routes) routes[r.name] = { weight: r.weight, condition: r.condition?.source ?? null, conditionStrength: r.condition ? r.conditionStrength : null };
  return { gatewayVersion: version, routes };
}

function startBody(req: unknown): { policy: string; source: string; target: string } {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new ReleaseError(400, 'invalid_request', 'expected {"policy": "<name>", "source": "<route>", "target": "<route>"}');
  const v = req as Record<string, unknown>;
  const unknown = Object.keys(v).filter((k) => !['policy', 'source', 'target'].includes(k));
  if (unknown.length > 0) throw new ReleaseError(400, 'invalid_request', `unknown field ${JSON.stringify(unknown[0])}: a release takes policy, source and target`);
  for (const f of ['policy', 'source', 'target'] as const) {
    if (typeof v[f] !== 'string' || v[f] === '') throw new ReleaseError(400, 'invalid_request', `${f}: required, a ${f === 'policy' ? 'policy name' : 'route name'}`);
  }
  return { policy: v.policy as string, source: v.source as string, target: v.target as string };
}

function actionBody(action: Action, body: unknown): { fromStep?: number; reason?: string } {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new ReleaseError(400, 'invalid_request', `expected a JSON object${action === 'retry' ? ' such as {"fromStep": 1}' : ' such as {"reason": "..."}'}`);
  const v = body as Record<string, unknown>;
  const allowed = action === 'retry' ? ['fromStep', 'reason'] : ['reason'];
  const unknown = Object.keys(v).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ReleaseError(400, 'invalid_request', `unknown field ${JSON.stringify(unknown[0])}: ${action} takes ${allowed.join(' and ')}`);
  if (v.reason !== undefined && (typeof v.reason !== 'string' || v.reason.length > 500)) throw new ReleaseError(400, 'invalid_request', 'reason: a string of at most 500 characters');
  if (v.fromStep !== undefined && (!Number.isInteger(v.fromStep) || (v.fromStep as number) < 0)) throw new ReleaseError(400, 'invalid_request', 'fromStep: a step index (0 is the first step)');
  return { ...(v.fromStep !== undefined ? { fromStep: v.fromStep as number } : {}), ...(v.reason !== undefined ? { reason: v.reason as string } : {}) };
}

/** The text a `weir release-policy convert` prints: the Weir document and the translation notes. */
export function convertPolicyText(text: string, format: 'yaml' | 'json', expectedName?: string): { ok: true; policy: ReleasePolicy; vamp: boolean; notes: string[] } | { ok: false; errors: string[] } {
  const r = parsePolicyText(text, format, expectedName ? { expectedName } : {});
  if (!r.ok) return { ok: false, errors: r.errors.map(formatModelError) };
  return r;
}

export { validatePolicyInput };
