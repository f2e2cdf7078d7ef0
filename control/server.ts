// The control API over HTTP (fastify 5). Routes come from `api-routes.ts`; this file wires
// authentication, body parsing, errors, metrics and the handlers.
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../runtime/log.js';
import { isDnsLabel } from '../store/store-writer.js';
import { namespaceKey, type Namespace } from '../store/store.js';
import { API_ROUTES, methodsForPath, type RouteSpec } from './api-routes.js';
import { actor, allowed, authenticate, forbidden, type Access, type Principal } from './auth.js';
import { ApiError, badRequest, conflict, notFound, type ErrorBody } from './errors.js';
import type { AuditRecord } from '../events/contract.js';
import { definitionAsJson, GatewayService, parseEntry, summarize, type Assigned, type Store } from './gateway-service.js';
import { DEFAULT_PORT_RANGE, parsePortRanges, type PortRangeRule } from './gateway-placement.js';
import { ROUTE_EDIT_FIELDS, type RouteEdit } from './gateway-text.js';
import { agentHealth } from './agent-health.js';
import { AuditCursorError, type AuditLog } from './audit-read.js';
import { registerConsole } from './console-assets.js';
import { agentStatusFeed, storeWatchFeed } from './event-feeds.js';
import { EventHub, type EventFeed } from './event-hub.js';
import { EventStreams } from './event-stream.js';
import { ControlMetrics } from './metrics.js';
import { whoami } from './whoami.js';
import { openApiDocument } from './openapi.js';
import { decodeBody, DEFAULT_BODY_LIMIT, JSON_TYPES, parsePreconditions, requireBody, YAML_TYPES } from './request-body.js';
import { releaseHandlers } from './release-routes.js';
import { ReleaseService, type ReleaseDocumentStore, type ReleaseEventPublisher } from '../release/index.js';

export { DEFAULT_BODY_LIMIT };
import { TrafficMetricsQueryError, TrafficMetricsUnavailableError, type AgentStatusSource, type AgentStatusView, type AuditSink, type ChangePublisher, type TrafficMetricsSource } from './seams.js';
import { metricsReply, seriesReply } from './traffic-metrics-source.js';
import { checkGrant, checkTokenName, issueToken, ROLES, tokenInfo, TokenVerifier, type Role, type TokenStore } from './tokens.js';
import { CertificateService, viewOf } from './certificate-service.js';
import type { DocumentStore } from '../store/document-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    access?: Access;
    spec?: RouteSpec;
  }
}

export interface ControlServerOptions {
  store: Store;
  tokens: TokenStore;
  audit: AuditSink;
  events?: ChangePublisher;
  agentStatus?: AgentStatusSource;
  /**
   * Traffic metrics for `/gateways/{g}/metrics` (Elasticsearch, when WEIR_ELASTICSEARCH_URL is set). Not `metrics`:
   * that name is the Prometheus registry below. Without it those endpoints answer 503 metrics_unavailable.
   */
  trafficMetrics?: TrafficMetricsSource;
  logger: Logger;
  /** Largest accepted request body; bigger ones get 413. Default 512 KiB (a gateway is at most 256 KiB). */
  bodyLimitBytes?: number;
  /** Metrics registry holder; one is created when absent. Publishers report failures through it. */
  metrics?: ControlMetrics;
  /** How long a verified token is trusted without scrypt (revocation is still immediate). */
  tokenCacheTtlMs?: number;
  /** Read-modify-write attempts on version conflicts when the client sent no If-Match. */
  casAttempts?: number;
  publishTimeoutMs?: number;
  /** Pages of the audit log for `GET …/audit`; without it that endpoint answers 503 audit_unavailable. */
  auditLog?: AuditLog;
  /** Feeds of `GET …/events` besides the store's watch and the agent status source (e.g. NATS). */
  eventFeeds?: EventFeed[];
  /** Heartbeat of the event streams (default 15 s). */
  eventHeartbeatMs?: number;
  /** The console build served at /ui/ (dist/ui); null serves no console. Default: none. */
  consoleDir?: string | null;
  /** [edge] Serve HTTPS (WEIR_CONTROL_TLS_CERT/_KEY); plain HTTP when absent. */
  https?: { cert: string; key: string };
  /** WEIR_PORT_RANGE and WEIR_VHOST_DOMAIN: what the API fills in on a write (control/gateway-placement.ts). */
  portRanges?: readonly PortRangeRule[];
  vhostDomain?: string | undefined;
  /** Where release policies and runs live; default: the store itself when it holds documents. */
  releaseStore?: ReleaseDocumentStore;
  /** Release transitions to NATS (`weir.<org>.<env>.releases.<gateway>`). */
  releaseEvents?: ReleaseEventPublisher;
}

export interface ControlServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
  /** The bound port (0 before listen). */
  readonly port: number;
  readonly app: ControlApp;
  readonly metrics: ControlMetrics;
  /** The release API's service (absent when the store holds no documents); the controller listens to it. */
  readonly releases: ReleaseService | undefined;
  /** The gateway write path (the release controller writes steps through it). */
  readonly gateways: GatewayService;
}

export type ControlApp = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

function errorReply(reply: FastifyReply, err: ApiError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers ?? {})) reply.header(k, v);
  return reply.code(err.status).type('application/json; charset=utf-8').send(err.body() satisfies ErrorBody);
}

/** Fastify's own errors (body limit, content type, ...) in our error shape. */
function fromFrameworkError(err: { statusCode?: number; code?: string; message: string }): ApiError {
  const status = err.statusCode ?? 500;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'payload_too_large', err.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', `unsupported content type: send ${[...JSON_TYPES, ...YAML_TYPES].join(', ')} (YAML for gateway definitions only)`);
    case 'FST_ERR_BAD_URL':
      return new ApiError(400, 'bad_url', err.message);
  }
  if (status >= 400 && status < 500) return new ApiError(status, status === 413 ? 'payload_too_large' : 'bad_request', err.message);
  return new ApiError(500, 'internal_error', 'internal error; see the server log for the request id');
}

export function createControlServer(opts: ControlServerOptions): ControlServer {
  const log = opts.logger;
  const metrics = opts.metrics ?? new ControlMetrics();
  const verifier = new TokenVerifier(opts.tokens, opts.tokenCacheTtlMs !== undefined ? { cacheTtlMs: opts.tokenCacheTtlMs } : {});
  // [edge] Certificates live in the same store, when it holds documents besides gateways.
  const documents = 'getDocument' in opts.store && 'putDocument' in opts.store ? (opts.store as Store & DocumentStore) : null;
  let certificates: CertificateService | null = null;
  const gateways = new GatewayService({
    store: opts.store,
    audit: opts.audit,
    events: opts.events,
    metrics,
    log,
    ...(opts.casAttempts !== undefined ? { casAttempts: opts.casAttempts } : {}),
    ...(opts.agentStatus ? { agentStatus: opts.agentStatus } : {}),
    ...(opts.publishTimeoutMs !== undefined ? { publishTimeoutMs: opts.publishTimeoutMs } : {}),
    portRanges: opts.portRanges ?? parsePortRanges('WEIR_PORT_RANGE', DEFAULT_PORT_RANGE),
    vhostDomain: opts.vhostDomain,
    ...(documents ? { checkReferences: (ns: Namespace, g: Parameters<CertificateService['checkReferences']>[1]) => (certificates as CertificateService).checkReferences(ns, g) } : {}),
  });
  const releaseStore = opts.releaseStore ?? (isDocumentStore(opts.store) ? opts.store : undefined);
  const releases = releaseStore
    ? new ReleaseService({ store: releaseStore, gateways: opts.store, audit: opts.audit, events: opts.releaseEvents, logger: log.child({ component: 'releases' }) })
    : undefined;
  if (documents) {
    certificates = new CertificateService({
      store: documents,
      audit: opts.audit,
      events: opts.events,
      metrics,
      log,
      call: (op, fn) => gateways.call(op, fn),
      gateways: async (ns) => (await gateways.snapshot(ns)).entries.flatMap((e) => {
        const r = parseEntry(e);
        return r.ok ? [r.gateway] : [];
      }),
      ...(opts.publishTimeoutMs !== undefined ? { publishTimeoutMs: opts.publishTimeoutMs } : {}),
    });
  }
  const certs = (): CertificateService => {
    if (!certificates) throw new ApiError(501, 'not_supported', `this store (${opts.store.location}) holds gateways only, no certificates`);
    return certificates;
  };
  const openapi = JSON.stringify(openApiDocument());
  const hub = new EventHub([storeWatchFeed(opts.store), ...(opts.agentStatus ? [agentStatusFeed(opts.agentStatus)] : []), ...(opts.eventFeeds ?? [])], log);
  const streams = new EventStreams(hub, { registry: metrics.registry, ...(opts.eventHeartbeatMs !== undefined ? { heartbeatMs: opts.eventHeartbeatMs } : {}) });

  // [edge] The https option only changes the server object underneath: the app is typed as for http.
  const tlsOption = (opts.https ? { https: opts.https } : {}) as Record<string, never>;
  const app = Fastify({
    ...tlsOption,
    loggerInstance: log,
    // Requests are logged once, at debug, by our onResponse hook.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    // Node's 16 KiB header limit stays; longer params than a DNS label are invalid anyway.
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    return503OnClosing: true,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    frameworkErrors: (err, req, reply) => {
      reply.header('x-request-id', req.id);
      void errorReply(reply, fromFrameworkError(err));
    },
  });
  app.decorateRequest('principal', null);

  // Every accepted type is read as text; handlers decode it (a gateway PUT stores it verbatim).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, { format: 'json', text: body as string }));
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, { format: 'yaml', text: body as string }));

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const access = req.routeOptions.config.access;
    if (access === undefined || access === 'public') return;
    const principal = await authenticate(verifier, req.headers.authorization);
    req.principal = principal;
    const ns = namespaceParam(req);
    if (!allowed(principal, access, ns)) throw forbidden(principal, access, ns);
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observe(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
    log.debug({ reqId: req.id, method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  // Reads answer If-None-Match with 304 (a poller's fallback when the event stream is down):
  // handlers that set no ETag of their own get one from the body they send.
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.method !== 'GET' || reply.statusCode !== 200 || req.routeOptions.config.access !== 'read' || reply.hasHeader('etag')) return payload;
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    const tag = `W/"${createHash('sha256').update(payload).digest('base64url').slice(0, 22)}"`;
    reply.header('etag', tag);
    if (req.headers['if-none-match'] === tag) {
      reply.code(304);
      return '';
    }
    return payload;
  });

  app.addHook('preClose', async () => {
    streams.closeAll();
    await hub.close();
  });

  app.setErrorHandler((err, req, reply) => {
    const api = err instanceof ApiError ? err : fromFrameworkError(err as { statusCode?: number; code?: string; message: string });
    if (api.status >= 500 && !(err instanceof ApiError)) log.error({ err, reqId: req.id }, 'request failed');
    return errorReply(reply, api);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = (req.url.split('?')[0] ?? '').replace(/\/+$/, '') || '/';
    const methods = methodsForPath(path);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (methods.length > 0 && !(methods as string[]).includes(method)) {
      const allow = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
      return errorReply(reply, new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}; allowed: ${allow.join(', ')}`, undefined, { allow: allow.join(', ') }));
    }
    return errorReply(reply, notFound('not_found', `no such endpoint: ${req.method} ${path.slice(0, 200)}`));
  });

  const ctx = (req: FastifyRequest) => {
    const principal = req.principal;
    const ns = namespaceParam(req);
    if (!principal || !ns) throw new ApiError(500, 'internal_error', 'route without principal or namespace');
    return { ns, principal, requestId: req.id };
  };
  const param = (req: FastifyRequest, name: string): string => (req.params as Record<string, string>)[name] ?? '';

  const written = (reply: FastifyReply, status: number, name: string, version: string, gateway: unknown, assigned?: Assigned) =>
    reply
      .code(status)
      .header('etag', `"${version}"`)
      .send({ name, version, gateway, ...(assigned && Object.keys(assigned).length > 0 ? { assigned } : {}) });

  const handlers: Record<string, Handler> = {
    listGateways: async (req) => gateways.list(ctx(req).ns),

    getGateway: async (req, reply) => {
      const e = await gateways.get(ctx(req).ns, param(req, 'name'));
      const etag = `"${e.version}"`;
      reply.header('etag', etag).header('x-weir-format', e.format).header('vary', 'Accept');
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      if (/(application\/(x-)?yaml|text\/yaml)/.test(req.headers.accept ?? '')) return reply.type('application/yaml; charset=utf-8').send(e.body);
      return reply.type('application/json; charset=utf-8').send(definitionAsJson(e));
    },

    putGateway: async (req, reply) => {
      const spec = req.routeOptions.config.spec;
      const body = requireBody(req.body);
      const r = await gateways.put(ctx(req), param(req, 'name'), body, parsePreconditions(req.headers, spec?.preconditions ?? []));
      const summary = summarize({ name: r.gateway.name, source: '', format: body.format, body: r.text, version: r.version });
      return written(reply, r.created ? 201 : 200, r.gateway.name, r.version, summary, r.assigned);
    },

    deleteGateway: async (req, reply) => {
      await gateways.delete(ctx(req), param(req, 'name'), parsePreconditions(req.headers, ['If-Match']));
      return reply.code(204).send();
    },

    patchRoute: async (req, reply) => routeEdit(req, reply, 'merge'),
    putRoute: async (req, reply) => routeEdit(req, reply, 'replace'),

    putWeights: async (req, reply) => {
      const value = decodeBody(requireBody(req.body));
      if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0) {
        throw badRequest('invalid_request', 'expected a map of route name to weight, e.g. {"v1": 80, "v2": 20}');
      }
      const edits = new Map<string, RouteEdit>();
      for (const [route, w] of Object.entries(value as Record<string, unknown>)) {
        if (w !== null && typeof w !== 'number' && typeof w !== 'string') throw badRequest('invalid_request', `weight of route ${JSON.stringify(route)} must be a number, "NN%" or null`);
        edits.set(route, { weight: w });
      }
      const name = param(req, 'name');
      const r = await gateways.editRoutes(ctx(req), name, edits, parsePreconditions(req.headers, ['If-Match']), 400, 'gateway.weights');
      return written(reply, 200, name, r.version, r.gateway);
    },

    gatewayStatus: async (req) => gateways.status(ctx(req).ns, param(req, 'name'), opts.agentStatus),

    // [edge] certificates: the key goes in, never out.
    listCertificates: async (req) => certs().list(ctx(req).ns),
    getCertificate: async (req, reply) => {
      const e = await certs().get(ctx(req).ns, param(req, 'name'));
      const etag = `"${e.version}"`;
      reply.header('etag', etag);
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return viewOf(e);
    },
    putCertificate: async (req, reply) => {
      const spec = req.routeOptions.config.spec;
      const body = requireBody(req.body);
      if (body.format !== 'json') throw new ApiError(415, 'unsupported_media_type', 'send the certificate as JSON: {"certificate": "<PEM chain>", "key": "<PEM key>"}');
      const r = await certs().put(ctx(req), param(req, 'name'), decodeBody(body), parsePreconditions(req.headers, spec?.preconditions ?? []));
      return reply.code(r.created ? 201 : 200).header('etag', `"${r.view.version}"`).send(r.view);
    },
    deleteCertificate: async (req, reply) => {
      await certs().delete(ctx(req), param(req, 'name'), parsePreconditions(req.headers, ['If-Match']));
      return reply.code(204).send();
    },

    gatewayMetrics: async (req) => trafficMetrics(req, undefined),
    routeMetrics: async (req) => trafficMetrics(req, param(req, 'route')),

    listAgents: async (req) => {
      const ns = ctx(req).ns;
      if (!opts.agentStatus) return { namespace: namespaceKey(ns), statusSource: 'unavailable', reason: 'this control server has no agent status source: agents report status over NATS, which is not configured', agents: [] };
      return {
        namespace: namespaceKey(ns),
        statusSource: 'nats',
        agents: opts.agentStatus.agents(ns).map((a) => ({ ...a, health: agentHealth(a) })),
        // [guards] one agent id, several live processes: listed separately above, named here.
        duplicates: opts.agentStatus.duplicates?.(ns) ?? [],
      };
    },

    createToken: async (req, reply) => {
      const principal = req.principal as Principal;
      const value = decodeBody(requireBody(req.body));
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('invalid_request', 'expected {"name", "role", "namespaces"}');
      const v = value as Record<string, unknown>;
      const unknown = Object.keys(v).filter((k) => !['name', 'role', 'namespaces'].includes(k));
      if (unknown.length > 0) throw badRequest('invalid_request', `unknown field ${JSON.stringify(unknown[0])}`);
      if (typeof v.name !== 'string') throw badRequest('invalid_request', 'name: required, a string');
      const nameProblem = checkTokenName(v.name);
      if (nameProblem) throw badRequest('invalid_request', `name: ${nameProblem}`);
      if (typeof v.role !== 'string' || !ROLES.includes(v.role as Role)) throw badRequest('invalid_request', `role: must be one of ${ROLES.join(', ')}`);
      const role = v.role as Role;
      const namespaces = v.namespaces === undefined ? (role === 'admin' ? ['*'] : []) : v.namespaces;
      if (!Array.isArray(namespaces) || namespaces.some((n) => typeof n !== 'string') || namespaces.length > 100) throw badRequest('invalid_request', 'namespaces: a list of at most 100 grants ("org/env", "org/*", "*")');
      const grantProblems = (namespaces as string[]).map(checkGrant).filter((p): p is string => p !== null);
      if (grantProblems.length > 0) throw badRequest('invalid_request', `namespaces: ${grantProblems.join('; ')}`);
      if (role !== 'admin' && namespaces.length === 0) throw badRequest('invalid_request', `namespaces: a ${role} token needs at least one grant`);
      const { record, token } = await issueToken(opts.tokens, { name: v.name, role, namespaces: namespaces as string[], createdBy: actor(principal) });
      await auditToken(req, 'token.create', record.id, null, record.id);
      return reply.code(201).send({ ...tokenInfo(record), token });
    },

    listTokens: async () => ({ tokens: (await opts.tokens.list()).map(tokenInfo).sort((a, b) => a.createdAt.localeCompare(b.createdAt)) }),

    deleteToken: async (req, reply) => {
      const id = param(req, 'id');
      const all = await opts.tokens.list();
      const rec = all.find((t) => t.id === id);
      if (!rec) throw notFound('token_not_found', `no token with id ${JSON.stringify(id.slice(0, 64))}`);
      if (rec.role === 'admin' && all.filter((t) => t.role === 'admin').length === 1) throw conflict('last_admin', 'this is the last admin token; issue another admin token before revoking it');
      await opts.tokens.remove(id);
      verifier.forget(id);
      await auditToken(req, 'token.revoke', id, id, null);
      return reply.code(204).send();
    },

    whoami: async (req) => whoami(req.principal as Principal, opts.store),

    listAudit: async (req) => {
      const { ns } = ctx(req);
      if (!opts.auditLog) throw new ApiError(503, 'audit_unavailable', 'this control API has no readable audit log');
      const q = (req.query ?? {}) as Record<string, unknown>;
      const limit = q.limit === undefined ? 50 : typeof q.limit === 'string' && /^\d{1,3}$/.test(q.limit) ? Number(q.limit) : NaN;
      if (!(limit >= 1 && limit <= 200)) throw badRequest('invalid_limit', 'limit: a whole number from 1 to 200');
      if (q.before !== undefined && !(typeof q.before === 'string' && /^\d{1,15}$/.test(q.before))) throw badRequest('invalid_cursor', 'before: the `next` value of an earlier page');
      try {
        const page = await opts.auditLog.page(ns, { limit, ...(q.before !== undefined ? { before: q.before as string } : {}) });
        return { namespace: namespaceKey(ns), records: page.records, next: page.next };
      } catch (err) {
        if (err instanceof AuditCursorError) throw badRequest('invalid_cursor', err.message);
        throw err;
      }
    },

    streamEvents: async (req, reply) => {
      const { ns } = ctx(req);
      const header = req.headers.authorization;
      await streams.serve(req, reply, ns, async () => {
        try {
          return allowed(await authenticate(verifier, header), 'read', ns);
        } catch {
          return false;
        }
      });
      return reply;
    },

    openapi: async (_req, reply) => reply.type('application/json; charset=utf-8').send(openapi),
    healthz: async () => ({ status: 'ok', store: opts.store.kind }),
    metrics: async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    ...releaseHandlers(releases, { ctx, param }),
  };

  async function routeEdit(req: FastifyRequest, reply: FastifyReply, mode: 'merge' | 'replace'): Promise<unknown> {
    const value = decodeBody(requireBody(req.body));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('invalid_request', 'expected {"weight"?, "condition"?, "condition_strength"?}');
    const v = value as Record<string, unknown>;
    const unknown = Object.keys(v).filter((k) => !(ROUTE_EDIT_FIELDS as readonly string[]).includes(k));
    if (unknown.length > 0) throw badRequest('invalid_request', `unknown field ${JSON.stringify(unknown[0])}: only weight, condition and condition_strength can be changed here`);
    const edit: RouteEdit = {};
    for (const f of ROUTE_EDIT_FIELDS) {
      const x = v[f];
      const ok = x === undefined || x === null || typeof x === 'number' || typeof x === 'string' || (f === 'condition' && typeof x === 'object' && !Array.isArray(x));
      if (!ok) throw badRequest('invalid_request', `${f}: expected ${f === 'condition' ? 'a condition string' : 'a number or "NN%"'} or null`);
      // PUT replaces all three fields: absent ones are removed.
      const val = x === undefined && mode === 'replace' ? null : x;
      if (val !== undefined) (edit as Record<string, unknown>)[f] = val;
    }
    if (mode === 'merge' && Object.keys(edit).length === 0) throw badRequest('invalid_request', 'nothing to change: give weight, condition or condition_strength');
    const name = param(req, 'name');
    const r = await gateways.editRoutes(ctx(req), name, new Map([[param(req, 'route'), edit]]), parsePreconditions(req.headers, ['If-Match']), 404, 'gateway.route');
    return written(reply, 200, name, r.version, r.gateway);
  }

  async function trafficMetrics(req: FastifyRequest, route: string | undefined): Promise<unknown> {
    const { ns } = ctx(req);
    const query = req.query as Record<string, unknown> | undefined;
    const windowSeconds = parseWindow(query?.window);
    const stepSeconds = query?.step === undefined ? null : parseStep(query.step);
    const name = param(req, 'name');
    // The store decides what exists: metrics of a typo would be a plausible-looking zero.
    const entry = await gateways.get(ns, name);
    const parsed = parseEntry(entry);
    const defined = parsed.ok ? parsed.gateway.routes.map((r) => r.name) : null;
    if (route !== undefined && defined && !defined.includes(route)) throw notFound('route_not_found', `gateway "${name}" has no route ${JSON.stringify(route.slice(0, 80))} (routes: ${defined.join(', ')})`);
    const source = opts.trafficMetrics;
    if (!source) {
      throw new ApiError(503, 'metrics_unavailable', 'traffic metrics are read from the agents\' window aggregates, on NATS or in Elasticsearch, and this control API has neither: set WEIR_NATS_URL (the agents publish there) or WEIR_ELASTICSEARCH_URL (and WEIR_ELASTICSEARCH_API_KEY or _USERNAME/_PASSWORD, _CA as needed) to the cluster the agents ship to');
    }
    const q = { ns, gateway: name, ...(route !== undefined ? { route } : {}), windowSeconds };
    try {
      if (stepSeconds !== null) return seriesReply(await source.series({ ...q, stepSeconds }), name, route, defined);
      return metricsReply(await source.query(q), name, route, defined);
    } catch (err) {
      if (err instanceof TrafficMetricsUnavailableError) throw new ApiError(503, 'metrics_unavailable', err.message);
      if (err instanceof TrafficMetricsQueryError) throw badRequest(err.code, err.message);
      throw err;
    }
  }

  async function auditToken(req: FastifyRequest, action: string, id: string, before: string | null, after: string | null): Promise<void> {
    const p = req.principal as Principal;
    const rec: AuditRecord = { id: randomUUID(), at: new Date().toISOString(), by: actor(p), role: p.role, action, target: `token/${id}`, beforeVersion: before, afterVersion: after, requestId: req.id };
    try {
      await opts.audit.record(null, rec);
    } catch (err) {
      metrics.auditErrors.inc();
      log.error({ err, audit: rec }, 'audit record not written');
    }
  }

  for (const spec of API_ROUTES) {
    const handler = handlers[spec.operationId];
    if (!handler) throw new Error(`no handler for ${spec.operationId}`);
    app.route({ method: spec.method, url: spec.url, config: { access: spec.access, spec }, handler });
  }

  if (opts.consoleDir) registerConsole(app, { dir: opts.consoleDir });

  let boundPort = 0;
  return {
    app,
    metrics,
    releases,
    gateways,
    get port() {
      return boundPort;
    },
    async listen(host, port) {
      await app.listen({ host, port });
      const addr = app.server.address() as AddressInfo;
      boundPort = addr.port;
      log.info({ host, port: boundPort }, 'control API listening');
      return { host, port: boundPort };
    },
    async close() {
      await app.close();
    },
  };
}

function isDocumentStore(s: unknown): s is ReleaseDocumentStore {
  const o = s as Partial<ReleaseDocumentStore>;
  return typeof o.getDocument === 'function' && typeof o.putDocument === 'function' && typeof o.listDocuments === 'function' && typeof o.deleteDocument === 'function' && typeof o.watchDocuments === 'function';
}

/** org/env from the path; 400 unless both are DNS labels. Null on routes without a namespace. */
function namespaceParam(req: FastifyRequest): Namespace | null {
  const p = req.params as Record<string, string | undefined>;
  if (p.org === undefined && p.env === undefined) return null;
  const org = p.org ?? '';
  const env = p.env ?? '';
  for (const [what, v] of [['org', org], ['env', env]] as const) {
    if (!isDnsLabel(v)) throw badRequest('invalid_namespace', `${what} ${JSON.stringify(v.slice(0, 80))} is not a lower-case DNS label (a-z, 0-9, "-", 1–63 characters)`);
  }
  return { org, env };
}

const WINDOW_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };
const MAX_WINDOW_S = 24 * 3600;

/** `?window=Ns|Nm|Nh`, 1 s to 24 h, default 60 s; 400 otherwise. */
export function parseWindow(raw: unknown): number {
  if (raw === undefined || raw === '') return 60;
  const m = typeof raw === 'string' ? /^(\d{1,6})([smh])$/.exec(raw) : null;
  const seconds = m ? Number(m[1]) * (WINDOW_UNITS[m[2] as string] ?? 0) : 0;
  if (!m || seconds < 1 || seconds > MAX_WINDOW_S) {
    const shown = typeof raw === 'string' ? JSON.stringify(raw.slice(0, 40)) : 'given more than once';
    throw badRequest('invalid_window', `window ${shown}: use a number with s, m or h between 1s and 24h, e.g. 60s, 5m, 1h`);
  }
  return seconds;
}

/** `?step=` of the metrics endpoints (a series): Ns, Nm or Nh, 1 s to 1 h; a multiple of the window (checked by the source). */
export function parseStep(raw: unknown): number {
  const m = typeof raw === 'string' ? /^(\d{1,6})([smh])$/.exec(raw) : null;
  const seconds = m ? Number(m[1]) * (WINDOW_UNITS[m[2] as string] ?? 0) : 0;
  if (!m || seconds < 1 || seconds > 3600) {
    const shown = typeof raw === 'string' ? JSON.stringify(raw.slice(0, 40)) : 'given more than once';
    throw badRequest('invalid_step', `step ${shown}: use a number with s, m or h between 1s and 1h, e.g. 10s, 1m`);
  }
  return seconds;
}
