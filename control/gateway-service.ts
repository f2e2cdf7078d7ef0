// Gateway reads and writes for the HTTP layer: validation with the shared model, the
// namespace's cross-gateway rules, optimistic concurrency on store versions, audit and events.
// Everything the client did wrong is an ApiError; store failures map to 503/409/502.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../runtime/log.js';
import { namespaceKey, StoreUnavailableError, type GatewayStore, type Namespace, type StoreEntry, type StoreEntryProblem } from '../store/store.js';
import { InvalidStoreKeyError, isDnsLabel, VersionConflictError, type GatewayStoreWriter, type StoreFormat } from '../store/store-writer.js';
import { VaultRequestError } from '../store/vault-store.js';
import { checkNamespace, formatModelError, MAX_DOCUMENT_BYTES, parseGateway, type Gateway, type ModelError, type ParseResult } from '../model/index.js';
import { actor, type Principal } from './auth.js';
import { ApiError, badRequest, conflict, notFound } from './errors.js';
import type { AuditRecord, GatewayChangedEvent } from '../events/contract.js';
import { editRoutes, placeFields, toOrderedJson, type RouteEdit } from './gateway-text.js';
import { autoVirtualHost, freePort, rangeFor, unassignedPort, isHttpDefinition, type PortRangeRule } from './gateway-placement.js';
import type { ControlMetrics } from './metrics.js';
import { jsonSyntaxError } from './request-body.js';
import type { AgentStatusSource, AuditSink, ChangePublisher } from './seams.js';

export type Store = GatewayStore & GatewayStoreWriter;

/** A request body as received: the text and the format its content type named. */
export interface RawBody {
  format: StoreFormat;
  text: string;
}

/** Parsed If-Match / If-None-Match. `ifMatch: '*'` = must exist; `ifNoneMatch` = must not exist. */
export interface Preconditions {
  ifMatch?: string;
  ifNoneMatch?: true;
}

export interface WriteContext {
  ns: Namespace;
  principal: Principal;
  requestId: string;
}

export interface RouteSummary {
  name: string;
  weight: number;
  condition: string | null;
  condition_strength: number;
  targets: number;
}

export type GatewaySummary =
  | { name: string; version: string; format: StoreFormat; valid: true; port: number; mode: string; virtual_hosts: string[]; routes: RouteSummary[] }
  | { name: string; version: string; format: StoreFormat; valid: false; errors: string[] };

export interface GatewayServiceDeps {
  store: Store;
  audit: AuditSink;
  events?: ChangePublisher | undefined;
  metrics: ControlMetrics;
  log: Logger;
  /** How long a write waits for the publisher before moving on. */
  publishTimeoutMs?: number;
  /** Read-modify-write attempts when the client sent no If-Match. */
  casAttempts?: number;
  /** The agents' status (over NATS): a gateway may not take a port an agent's own listener holds. */
  agentStatus?: AgentStatusSource | undefined;
  /** WEIR_PORT_RANGE: where a gateway written without a port gets one; none = a port is required. */
  portRanges?: readonly PortRangeRule[];
  /** WEIR_VHOST_DOMAIN: every http gateway also answers <gateway>.<env>.<org>.<domain>. */
  vhostDomain?: string | undefined;
}

/** What the control API filled in on a write (the response says so). */
export interface Assigned {
  port?: number;
  virtual_host?: string;
}

export const entrySource = (name: string): string => name;

export function parseEntry(e: StoreEntry): ParseResult {
  return parseGateway(e.body, { source: entrySource(e.name), format: e.format, expectedName: e.name });
}

export function summarize(e: StoreEntry): GatewaySummary {
  const r = parseEntry(e);
  if (!r.ok) return { name: e.name, version: e.version, format: e.format, valid: false, errors: r.errors.map(formatModelError) };
  const g = r.gateway;
  return {
    name: e.name,
    version: e.version,
    format: e.format,
    valid: true,
    port: g.port,
    mode: g.mode,
    virtual_hosts: g.virtualHosts,
    routes: g.routes.map((rt) => ({ name: rt.name, weight: rt.weight, condition: rt.condition?.source ?? null, condition_strength: rt.conditionStrength, targets: rt.targets.length })),
  };
}

const modelDetails = (errors: readonly ModelError[]): unknown[] =>
  errors.map((e) => ({ source: e.source, path: e.path, message: e.message, ...(e.line !== undefined ? { line: e.line, column: e.column } : {}), text: formatModelError(e) }));

/** 400 with the model's messages; syntax errors get their own codes. */
export function invalidGateway(errors: readonly ModelError[]): ApiError {
  const first = errors[0];
  const syntax = first && first.path === '' ? /^invalid (JSON|YAML)\b/.exec(first.message) : null;
  const code = syntax ? `invalid_${(syntax[1] as string).toLowerCase()}` : 'invalid_gateway';
  const message = errors.length === 1 && first ? formatModelError(first) : `${errors.length} problems: ${errors.slice(0, 3).map(formatModelError).join('; ')}${errors.length > 3 ? '; …' : ''}`;
  return badRequest(code, message, modelDetails(errors));
}

export function checkGatewayName(name: string): void {
  if (!isDnsLabel(name)) throw badRequest('invalid_name', `${JSON.stringify(name.slice(0, 80))} is not a valid gateway name: use a lower-case DNS label (a-z, 0-9 and "-", 1–63 characters)`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class GatewayService {
  private readonly store: Store;
  private readonly casAttempts: number;
  private readonly publishTimeoutMs: number;
  /**
   * Serialises this replica's writes per namespace: two creates cannot both pass the port check,
   * and edits of one gateway do not collide with each other. Writers elsewhere (other replicas,
   * the CLI) are caught by the store's CAS and retried.
   */
  private readonly nsLocks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: GatewayServiceDeps) {
    this.store = deps.store;
    this.casAttempts = deps.casAttempts ?? 8;
    this.publishTimeoutMs = deps.publishTimeoutMs ?? 2000;
  }

  /** Runs a store call, mapping its failures to API errors and counting them. */
  async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError || err instanceof VersionConflictError) {
        if (err instanceof VersionConflictError) this.deps.metrics.storeErrors.inc({ op, kind: 'conflict' });
        throw err;
      }
      if (err instanceof InvalidStoreKeyError) throw badRequest(`invalid_${err.what === 'name' ? 'name' : 'namespace'}`, err.message);
      if (err instanceof StoreUnavailableError) {
        this.deps.metrics.storeErrors.inc({ op, kind: 'unavailable' });
        throw new ApiError(503, 'store_unavailable', err.message);
      }
      this.deps.metrics.storeErrors.inc({ op, kind: 'other' });
      this.deps.log.error({ err, op }, 'store call failed');
      const status = err instanceof VaultRequestError ? ` (store answered HTTP ${err.status})` : '';
      throw new ApiError(502, 'store_error', `the store refused or failed the ${op}${status}: ${(err as Error).message}`);
    }
  }

  /** All gateways of a namespace; a namespace the store has never seen reads as empty. */
  async snapshot(ns: Namespace): Promise<{ entries: StoreEntry[]; problems: StoreEntryProblem[] }> {
    return this.call('list', async () => {
      try {
        return await this.store.list(ns);
      } catch (err) {
        // The file store reports a missing namespace directory as unavailable; tell that apart
        // from an outage by asking which namespaces exist.
        if (err instanceof StoreUnavailableError && this.store.listNamespaces) {
          const known = await this.store.listNamespaces().catch(() => undefined);
          if (known && !known.some((k) => k.org === ns.org && k.env === ns.env)) return { entries: [], problems: [] };
        }
        throw err;
      }
    });
  }

  async list(ns: Namespace): Promise<{ namespace: string; gateways: GatewaySummary[]; problems: StoreEntryProblem[] }> {
    const snap = await this.snapshot(ns);
    return { namespace: namespaceKey(ns), gateways: snap.entries.map(summarize), problems: snap.problems.map((p) => ({ source: p.source.split('/').pop() ?? p.source, message: p.message })) };
  }

  async get(ns: Namespace, name: string): Promise<StoreEntry> {
    checkGatewayName(name);
    const e = await this.call('get', () => this.store.get(ns, name));
    if (!e) throw notFound('gateway_not_found', `gateway "${name}" does not exist in ${namespaceKey(ns)}`);
    return e;
  }

  /** Create or replace. Resolves `created` for 201 vs 200; `assigned` says what the API filled in (port, virtual host). */
  async put(ctx: WriteContext, name: string, body: RawBody, pre: Preconditions): Promise<{ created: boolean; version: string; gateway: Gateway; assigned: Assigned; text: string }> {
    checkGatewayName(name);
    // JSON syntax is checked here first so the error has a line and column on every Node version.
    const syntax = body.format === 'json' && Buffer.byteLength(body.text) <= MAX_DOCUMENT_BYTES ? jsonSyntaxError(body.text) : null;
    if (syntax) throw invalidGateway([{ source: entrySource(name), path: '', message: syntax }]);
    const assigned: Assigned = {};
    let text = body.text;
    const vhost = this.deps.vhostDomain !== undefined && isHttpDefinition(text) ? autoVirtualHost(name, ctx.ns, this.deps.vhostDomain) : null;
    if (vhost !== null) {
      const placed = placeFields(text, body.format, { virtualHost: vhost });
      if (placed !== text) assigned.virtual_host = vhost;
      text = placed;
    }
    const unassigned = unassignedPort(text);
    const parse = (t: string): Gateway => {
      const parsed = parseGateway(t, { source: entrySource(name), format: body.format, expectedName: name });
      if (!parsed.ok) throw invalidGateway(parsed.errors);
      return parsed.gateway;
    };
    // Every other error first, without the store: checked with a stand-in for the port to come.
    let gateway = unassigned ? null : parse(text);
    if (unassigned) {
      if (rangeFor(this.deps.portRanges ?? [], ctx.ns) === null) {
        const e: ModelError = { source: entrySource(name), path: 'port', message: `no port given, and WEIR_PORT_RANGE gives namespace ${namespaceKey(ctx.ns)} no range to assign one from: give a port between 1 and 65535` };
        throw invalidGateway([e]);
      }
      parse(placeFields(text, body.format, { port: unassigned.mode === 'tcp' ? '1/tcp' : 1 }));
    }
    return this.withNamespaceLock(ctx.ns, async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.call('get', () => this.store.get(ctx.ns, name));
        checkPreconditions(name, pre, current);
        let toWrite = text;
        if (unassigned) {
          const port = await this.assignPort(ctx.ns, name, current);
          toWrite = placeFields(text, body.format, { port: unassigned.mode === 'tcp' ? `${port}/tcp` : port });
          gateway = parse(toWrite);
          assigned.port = port;
        }
        const g = gateway as Gateway;
        this.checkReservedPorts(ctx.ns, g);
        await this.checkAgainstNamespace(ctx.ns, g);
        try {
          const { version } = await this.call('put', () => this.store.put(ctx.ns, name, toWrite, body.format, { ifVersion: current?.version ?? null }));
          await this.afterWrite(ctx, name, current?.version ?? null, version, current ? 'gateway.replace' : 'gateway.create');
          return { created: current === null, version, gateway: g, assigned, text: toWrite };
        } catch (err) {
          await this.onConflict(err, pre, attempt);
        }
      }
    });
  }

  /**
   * A port for a gateway written without one: the one it has if it exists, else the lowest of
   * the namespace's range that no gateway and no live agent's own listener holds.
   */
  private async assignPort(ns: Namespace, name: string, current: StoreEntry | null): Promise<number> {
    const range = rangeFor(this.deps.portRanges ?? [], ns);
    const snap = await this.snapshot(ns);
    const taken = new Set<number>();
    for (const e of snap.entries) {
      if (e.name === name) continue;
      const r = parseEntry(e);
      if (r.ok) taken.add(r.gateway.port);
    }
    for (const a of this.deps.agentStatus?.agents(ns) ?? []) if (!a.quiet) for (const r of a.reservedPorts ?? []) taken.add(r.port);
    // Its own port, unless another writer took it meanwhile (then this write moves it).
    const own = current ? parseEntry(current) : null;
    if (own?.ok && !taken.has(own.gateway.port)) return own.gateway.port;
    const port = range ? freePort(range, taken) : null;
    if (port === null) {
      const e: ModelError = { source: entrySource(name), path: 'port', message: `no free port left in ${range ? `${range.lo}-${range.hi}` : 'the range'} for namespace ${namespaceKey(ns)} (WEIR_PORT_RANGE): give a port` };
      throw conflict('port_range_exhausted', formatModelError(e), modelDetails([e]));
    }
    return port;
  }

  async delete(ctx: WriteContext, name: string, pre: Preconditions): Promise<void> {
    checkGatewayName(name);
    return this.withNamespaceLock(ctx.ns, () => this.deleteLocked(ctx, name, pre));
  }

  private async deleteLocked(ctx: WriteContext, name: string, pre: Preconditions): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.call('get', () => this.store.get(ctx.ns, name));
      if (!current) throw notFound('gateway_not_found', `gateway "${name}" does not exist in ${namespaceKey(ctx.ns)}`);
      checkPreconditions(name, pre, current);
      try {
        const removed = await this.call('delete', () => this.store.delete(ctx.ns, name, { ifVersion: current.version }));
        if (!removed) throw notFound('gateway_not_found', `gateway "${name}" does not exist in ${namespaceKey(ctx.ns)}`);
        await this.afterWrite(ctx, name, current.version, null, 'gateway.delete');
        return;
      } catch (err) {
        await this.onConflict(err, pre, attempt);
      }
    }
  }

  /**
   * Read-modify-write of route fields with CAS on the stored version. `unknownRoute` decides
   * how a route missing from the gateway is reported (404 on /routes/{route}, 400 on /weights).
   */
  async editRoutes(ctx: WriteContext, name: string, edits: ReadonlyMap<string, RouteEdit>, pre: Preconditions, unknownRoute: 404 | 400, action: string): Promise<{ version: string; gateway: GatewaySummary }> {
    checkGatewayName(name);
    return this.withNamespaceLock(ctx.ns, () => this.editRoutesLocked(ctx, name, edits, pre, unknownRoute, action));
  }

  private async editRoutesLocked(ctx: WriteContext, name: string, edits: ReadonlyMap<string, RouteEdit>, pre: Preconditions, unknownRoute: 404 | 400, action: string): Promise<{ version: string; gateway: GatewaySummary }> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(ctx.ns, name);
      checkPreconditions(name, pre, current);
      const edited = editRoutes(current.body, current.format, edits);
      if (!edited.ok) {
        if (edited.kind === 'unparsable') throw conflict('stored_gateway_invalid', `the stored gateway "${name}" cannot be edited route by route: ${edited.message}; replace it with PUT`);
        const list = edited.routes.map((r) => JSON.stringify(r)).join(', ');
        const msg = `gateway "${name}" has no route ${list}`;
        throw unknownRoute === 404 ? notFound('route_not_found', msg) : badRequest('unknown_route', msg);
      }
      const parsed = parseGateway(edited.body, { source: entrySource(name), format: current.format, expectedName: name });
      if (!parsed.ok) throw invalidGateway(parsed.errors);
      try {
        const { version } = await this.call('put', () => this.store.put(ctx.ns, name, edited.body, current.format, { ifVersion: current.version }));
        await this.afterWrite(ctx, name, current.version, version, action);
        return { version, gateway: summarize({ ...current, body: edited.body, version }) };
      } catch (err) {
        await this.onConflict(err, pre, attempt);
      }
    }
  }

  async status(ns: Namespace, name: string, source: AgentStatusSource | undefined): Promise<Record<string, unknown>> {
    const current = await this.get(ns, name);
    if (!source) {
      return {
        gateway: name,
        version: current.version,
        converged: null,
        statusSource: 'unavailable',
        reason: 'this control server has no agent status source: agents report status over NATS, which is not configured',
        agents: [],
      };
    }
    const agents = source.agents(ns).map((a) => ({
      agentId: a.agentId,
      appliedVersion: a.applied.find((x) => x.name === name)?.version ?? null,
      problems: a.problems.filter((p) => p.name === name).map((p) => ({ version: p.version, errors: p.errors })),
      lastSeenAt: a.lastSeenAt,
      quiet: a.quiet,
    }));
    const live = agents.filter((a) => !a.quiet);
    return {
      gateway: name,
      version: current.version,
      // With no agent listening nothing has applied the gateway: not converged.
      converged: live.length > 0 && live.every((a) => a.appliedVersion === current.version),
      statusSource: 'nats',
      agents,
    };
  }

  /**
   * Ports the namespace's live agents hold for themselves (their status events say which).
   * Without NATS the control API cannot know them, and the agents reject such a gateway.
   */
  private checkReservedPorts(ns: Namespace, gateway: Gateway): void {
    const holders = new Map<string, string[]>();
    for (const a of this.deps.agentStatus?.agents(ns) ?? []) {
      if (a.quiet) continue;
      for (const r of a.reservedPorts ?? []) {
        if (r.port !== gateway.port) continue;
        holders.set(r.holder, [...(holders.get(r.holder) ?? []), a.agentId]);
      }
    }
    if (holders.size === 0) return;
    const what = [...holders].map(([holder, ids]) => `${holder} on agent${ids.length > 1 ? 's' : ''} ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`).join('; ');
    const error: ModelError = { source: 'request', path: 'port', message: `port ${gateway.port} is reserved for ${what}` };
    throw conflict('port_reserved', formatModelError(error), modelDetails([error]));
  }

  /** The store's other gateways, as the agent would see them, must leave room for this one. */
  private async checkAgainstNamespace(ns: Namespace, gateway: Gateway): Promise<void> {
    const snap = await this.snapshot(ns);
    const others = snap.entries
      .filter((e) => e.name !== gateway.name)
      .map((e) => ({ e, r: parseEntry(e) }))
      .flatMap(({ e, r }) => (r.ok ? [{ source: entrySource(e.name), gateway: r.gateway }] : []));
    const result = checkNamespace([...others, { source: 'request', gateway }], { incumbents: new Set(others.map((o) => o.gateway.name)) });
    const mine = result.rejected.find((r) => r.source === 'request');
    if (!mine) return;
    const port = mine.errors.find((e) => e.path === 'port');
    const code = port ? 'port_conflict' : mine.errors.some((e) => e.path === 'virtual_hosts') ? 'virtual_host_conflict' : 'name_conflict';
    throw conflict(code, mine.errors.map(formatModelError).join('; '), modelDetails(mine.errors));
  }

  private async onConflict(err: unknown, pre: Preconditions, attempt: number): Promise<void> {
    if (!(err instanceof VersionConflictError)) throw err;
    if (pre.ifMatch !== undefined || pre.ifNoneMatch || attempt >= this.casAttempts) {
      throw conflict('version_conflict', `${err.message}${attempt >= this.casAttempts && pre.ifMatch === undefined ? ` (gave up after ${attempt} attempts)` : ''}`);
    }
    this.deps.metrics.casRetries.inc();
    // Jittered exponential backoff so writers on other replicas stop colliding in lockstep.
    await sleep(Math.floor(Math.random() * Math.min(200, 5 * 2 ** attempt)));
  }

  private async afterWrite(ctx: WriteContext, name: string, before: string | null, after: string | null, action: string): Promise<void> {
    const at = new Date().toISOString();
    const rec: AuditRecord = {
      id: randomUUID(),
      at,
      by: actor(ctx.principal),
      role: ctx.principal.role,
      action,
      target: `gateway/${ctx.ns.org}/${ctx.ns.env}/${name}`,
      beforeVersion: before,
      afterVersion: after,
      requestId: ctx.requestId,
    };
    // The write has happened: audit and event failures are reported, never turned into errors.
    // The change event goes first and both are awaited together: agents act on the event, and
    // it need not wait for the audit record's fsync.
    const announced = this.announce(ctx, name, after, at);
    const audited = this.deps.audit.record(ctx.ns, rec).catch((err: unknown) => {
      this.deps.metrics.auditErrors.inc();
      this.deps.log.error({ err, audit: rec }, 'audit record not written');
    });
    await Promise.all([announced, audited]);
  }

  private async announce(ctx: WriteContext, name: string, after: string | null, at: string): Promise<void> {
    const events = this.deps.events;
    if (!events) return;
    const ev: GatewayChangedEvent = { gateway: name, version: after, action: after === null ? 'delete' : 'put', by: ctx.principal.name, at };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        events.publishGatewayChanged(ctx.ns, ev),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`publisher did not answer within ${this.publishTimeoutMs} ms`)), this.publishTimeoutMs);
        }),
      ]);
    } catch (err) {
      this.deps.metrics.publishError('gateway_changed');
      this.deps.log.warn({ err, namespace: namespaceKey(ctx.ns), gateway: name }, 'gateway change not published');
    } finally {
      clearTimeout(timer);
    }
  }

  private async withNamespaceLock<T>(ns: Namespace, fn: () => Promise<T>): Promise<T> {
    const key = namespaceKey(ns);
    const prev = this.nsLocks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.nsLocks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.nsLocks.get(key) === tail) this.nsLocks.delete(key);
    }
  }
}

function checkPreconditions(name: string, pre: Preconditions, current: StoreEntry | null): void {
  if (pre.ifNoneMatch && current) throw conflict('version_conflict', `gateway "${name}" already exists (version ${current.version}) and If-None-Match: * was sent`);
  if (pre.ifMatch === undefined) return;
  if (!current) throw conflict('version_conflict', `gateway "${name}" does not exist, but If-Match: ${pre.ifMatch === '*' ? '*' : `"${pre.ifMatch}"`} was sent`);
  if (pre.ifMatch !== '*' && pre.ifMatch !== current.version) {
    throw conflict('version_conflict', `gateway "${name}" is at version ${current.version}, not ${pre.ifMatch} (If-Match); re-read and retry`);
  }
}

/** The stored text as JSON for GET (key order kept); the text itself when it is JSON. */
export function definitionAsJson(e: StoreEntry): string {
  if (e.format === 'json') return e.body;
  try {
    return toOrderedJson(e.body);
  } catch (err) {
    // Written around the API (by hand, or an older tool): the text is still readable as YAML.
    throw conflict('stored_gateway_invalid', `the stored gateway "${e.name}" is not valid YAML (${(err as Error).message}); read it with Accept: application/yaml and replace it with PUT`);
  }
}

