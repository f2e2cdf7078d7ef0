// OpenAPI 3.1 document generated from the route table and the model's zod schema (the same
// `gatewayJsonSchema()` the docs use), so the API description cannot drift from validation.
import { gatewayJsonSchema, type JsonSchema } from '../model/index.js';
import { releaseOpenApiComponents } from '../release/index.js';
import { API_ROUTES, type BodyKind, type ResponseKind } from './api-routes.js';

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const percent: JsonSchema = { oneOf: [{ type: 'integer', minimum: 0, maximum: 100 }, { type: 'string', pattern: '^[0-9]{1,3}%$' }] };
const nullable = (s: JsonSchema): JsonSchema => ({ oneOf: [s, { type: 'null' }] });

function components(): Record<string, JsonSchema> {
  // The zod output carries its own $schema (draft 2020-12, which OpenAPI 3.1 uses); drop it.
  const { $schema: _drop, ...gateway } = gatewayJsonSchema();
  return {
    Gateway: gateway,
    Error: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string', description: 'Stable snake_case code, e.g. version_conflict, port_conflict, store_unavailable.' }, message: { type: 'string' }, details: { type: 'array', items: {} } },
        },
      },
    },
    RouteEdit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        weight: nullable(percent),
        condition: nullable({ oneOf: [{ type: 'string' }, { type: 'object', properties: { condition: { type: 'string' } }, required: ['condition'], additionalProperties: false }] }),
        condition_strength: nullable(percent),
      },
    },
    Weights: { type: 'object', minProperties: 1, additionalProperties: nullable(percent), description: 'Route name → weight.' },
    NewToken: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'role'],
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' },
        role: { enum: ['admin', 'deployer', 'viewer'] },
        namespaces: { type: 'array', items: { type: 'string', description: '"org/env", "org/*" or "*"' } },
      },
    },
    RouteSummary: { type: 'object', properties: { name: { type: 'string' }, weight: { type: 'integer' }, condition: { type: ['string', 'null'] }, condition_strength: { type: 'integer' }, targets: { type: 'integer' } } },
    GatewaySummary: {
      type: 'object',
      required: ['name', 'version', 'format', 'valid'],
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        format: { enum: ['yaml', 'json'] },
        valid: { type: 'boolean' },
        port: { type: 'integer' },
        mode: { enum: ['http', 'tcp'] },
        virtual_hosts: { type: 'array', items: { type: 'string' } },
        routes: { type: 'array', items: ref('RouteSummary') },
        errors: { type: 'array', items: { type: 'string' } },
      },
    },
    GatewayList: { type: 'object', properties: { namespace: { type: 'string' }, gateways: { type: 'array', items: ref('GatewaySummary') }, problems: { type: 'array', items: { type: 'object' } } } },
    GatewayWritten: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        gateway: ref('GatewaySummary'),
        assigned: {
          type: 'object',
          description: 'What the control API filled in: a port from WEIR_PORT_RANGE (the definition had none), a virtual host from WEIR_VHOST_DOMAIN. Absent when nothing was.',
          properties: { port: { type: 'integer' }, virtual_host: { type: 'string' } },
        },
      },
    },
    GatewayStatus: {
      type: 'object',
      properties: {
        gateway: { type: 'string' },
        version: { type: 'string' },
        converged: { type: ['boolean', 'null'] },
        statusSource: { enum: ['nats', 'unavailable'] },
        reason: { type: 'string' },
        agents: {
          type: 'array',
          items: { type: 'object', properties: { agentId: { type: 'string' }, appliedVersion: { type: ['string', 'null'] }, problems: { type: 'array', items: { type: 'object' } }, lastSeenAt: { type: 'string' }, quiet: { type: 'boolean' } } },
        },
      },
    },
    TrafficStats: {
      type: 'object',
      required: ['requests', 'rate_per_s', 'response_time_ms', 'errors_5xx', 'error_ratio', 'health', 'latency_samples'],
      properties: {
        requests: { type: 'integer', description: 'HTTP responses (TCP: sessions started), exact: from HAProxy\'s counters' },
        rate_per_s: { type: 'number', description: 'requests / seconds covered' },
        response_time_ms: {
          type: 'object',
          description: 'Ta (active time) for HTTP, Tt for TCP, from the (possibly sampled) log lines; percentiles within 2 % (fixed-bucket histogram), avg exact over the samples; null when nothing was timed',
          properties: Object.fromEntries(['p50', 'p95', 'p99', 'avg'].map((k) => [k, { type: ['number', 'null'] }])),
        },
        errors_5xx: { type: 'integer', description: 'HTTP 5xx responses; for TCP, connection and response errors (HAProxy econ + eresp)' },
        error_ratio: { type: 'number' },
        health: { type: 'number', description: '1 − error_ratio, as in the agents\' weir-metrics-* documents' },
        latency_samples: { type: 'integer', description: 'Requests the response times come from (fewer than requests when log lines are sampled)' },
      },
    },
    TrafficMetrics: {
      allOf: [
        ref('TrafficStats'),
        {
          type: 'object',
          required: ['gateway', 'window_s', 'from', 'to', 'agents', 'source'],
          properties: {
            gateway: { type: 'string' },
            route: { type: 'string' },
            window_s: { type: 'integer', description: 'The span asked for, in whole agent windows' },
            from: { type: 'string', format: 'date-time', description: 'Start of the first window that answered' },
            to: { type: 'string', format: 'date-time', description: 'End of the last window that answered' },
            per_route: { type: 'array', description: 'Gateway endpoint: one entry per route of the definition (idle ones as zeros), then routes only the windows know', items: { allOf: [ref('TrafficStats'), { type: 'object', properties: { route: { type: 'string' } } }] } },
            agents: { type: 'array', description: 'Agents that reported at least one window in the span (an agent that stopped reporting is missing here, not counted as zero traffic)', items: { type: 'object', properties: { id: { type: 'string' }, windows: { type: 'integer' } } } },
            source: { enum: ['nats', 'elasticsearch'] },
          },
        },
      ],
    },
    TrafficPoint: { allOf: [ref('TrafficStats'), { type: 'object', required: ['t'], properties: { t: { type: 'string', format: 'date-time', description: 'Start of the step' } } }] },
    TrafficSeries: {
      type: 'object',
      description: 'With ?step=: one point per step, oldest first, the last step complete; steps without windows are zeros (check agents)',
      required: ['gateway', 'window_s', 'step_s', 'from', 'to', 'total', 'agents', 'source'],
      properties: {
        gateway: { type: 'string' },
        route: { type: 'string' },
        window_s: { type: 'integer' },
        step_s: { type: 'integer' },
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time' },
        total: { type: 'array', description: 'The gateway (or the route) per step', items: ref('TrafficPoint') },
        per_route: { type: 'array', description: 'Gateway endpoint: per route, the same steps', items: { type: 'object', properties: { route: { type: 'string' }, points: { type: 'array', items: ref('TrafficPoint') } } } },
        agents: { type: 'array', description: 'Per step, the agents that reported in it', items: { type: 'object', properties: { t: { type: 'string', format: 'date-time' }, agents: { type: 'array', items: { type: 'string' } } } } },
        source: { enum: ['nats', 'elasticsearch'] },
      },
    },
    AgentList: { type: 'object', properties: { namespace: { type: 'string' }, statusSource: { enum: ['nats', 'unavailable'] }, agents: { type: 'array', items: { type: 'object' } } } },
    TokenInfo: {
      type: 'object',
      properties: { id: { type: 'string' }, name: { type: 'string' }, role: { enum: ['admin', 'deployer', 'viewer'] }, namespaces: { type: 'array', items: { type: 'string' } }, createdAt: { type: 'string' }, createdBy: { type: 'string' } },
    },
    TokenList: { type: 'object', properties: { tokens: { type: 'array', items: ref('TokenInfo') } } },
    TokenCreated: { allOf: [ref('TokenInfo'), { type: 'object', properties: { token: { type: 'string', description: 'weir_<id>_<secret>; shown only here.' } } }] },
    ...releaseOpenApiComponents(),
  };
}

const BODY: Record<BodyKind, { schema: string; yaml: boolean }> = {
  gateway: { schema: 'Gateway', yaml: true },
  routeEdit: { schema: 'RouteEdit', yaml: false },
  weights: { schema: 'Weights', yaml: false },
  newToken: { schema: 'NewToken', yaml: false },
  releasePolicy: { schema: 'ReleasePolicy', yaml: true },
  releaseStart: { schema: 'ReleaseStart', yaml: false },
  releaseAction: { schema: 'ReleaseAction', yaml: false },
};

function response(kind: ResponseKind): JsonSchema {
  const json = (schema: string): JsonSchema => ({ 'application/json': { schema: ref(schema) } });
  switch (kind) {
    case 'gatewayList':
      return { description: 'The gateways', content: json('GatewayList') };
    case 'gatewayDocument':
      return {
        description: 'The stored definition',
        headers: { ETag: { schema: { type: 'string' }, description: 'The store version, quoted' } },
        content: { 'application/json': { schema: ref('Gateway') }, 'application/yaml': { schema: { type: 'string' } } },
      };
    case 'gatewayWritten':
      return { description: 'Written', headers: { ETag: { schema: { type: 'string' } } }, content: json('GatewayWritten') };
    case 'gatewayStatus':
      return { description: 'Convergence of the gateway over the agents', content: json('GatewayStatus') };
    case 'agentList':
      return { description: 'The agents', content: json('AgentList') };
    case 'trafficMetrics':
      return { description: 'Traffic metrics over the window (TrafficSeries when step is given)', content: { 'application/json': { schema: { oneOf: [ref('TrafficMetrics'), ref('TrafficSeries')] } } } };
    case 'releasePolicyList':
      return { description: 'The release policies', content: json('ReleasePolicyList') };
    case 'releasePolicyDocument':
      return {
        description: 'The stored policy',
        headers: { ETag: { schema: { type: 'string' }, description: 'The store version, quoted' } },
        content: { 'application/json': { schema: ref('ReleasePolicy') }, 'application/yaml': { schema: { type: 'string' } } },
      };
    case 'releasePolicyWritten':
      return { description: 'Written', headers: { ETag: { schema: { type: 'string' } } }, content: json('ReleasePolicyWritten') };
    case 'releaseRun':
      return { description: 'The release run with its status', content: json('ReleaseRun') };
    case 'releaseList':
      return { description: 'The current release of each gateway', content: json('ReleaseList') };
    case 'releaseHistory':
      return { description: 'The gateway\'s releases', content: json('ReleaseHistory') };
    case 'tokenList':
      return { description: 'The tokens', content: json('TokenList') };
    case 'tokenCreated':
      return { description: 'The new token', content: json('TokenCreated') };
    case 'health':
      return { description: 'Alive', content: { 'application/json': { schema: { type: 'object' } } } };
    case 'metrics':
      return { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } };
    case 'openapi':
      return { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } };
    case 'empty':
      return { description: 'No content' };
  }
}

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request: bad namespace or name, invalid body (the model\'s messages in details)',
  401: 'Missing or invalid bearer token',
  403: 'The token has no right to this operation or namespace',
  404: 'Not found',
  409: 'version_conflict (If-Match/If-None-Match or a concurrent write), port_conflict, port_reserved (an agent\'s own listener holds the port), virtual_host_conflict; releases: release_in_progress, release_finished, nothing_to_approve, not_paused, rollback_in_progress, release_not_current',
  413: 'Body too large',
  415: 'Unsupported content type',
  500: 'Internal error',
  503: 'store_unavailable: the config store cannot be reached; metrics_unavailable: neither NATS (WEIR_NATS_URL) nor Elasticsearch (WEIR_ELASTICSEARCH_URL) is configured, or the one used cannot answer',
};

export function openApiDocument(opts: { version?: string } = {}): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of API_ROUTES) {
    const path = r.url.replace(/:([a-z]+)/g, '{$1}');
    const params = [...r.url.matchAll(/:([a-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: m[1] === 'id' || m[1] === 'route' ? { type: 'string' } : { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' },
    }));
    const query = (r.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: { type: 'string', ...(q.pattern ? { pattern: q.pattern } : {}) } }));
    const headers = (r.preconditions ?? []).map((h) => ({ name: h, in: 'header', required: false, schema: { type: 'string' }, description: h === 'If-Match' ? '"<version>" or *' : '* (create only)' }));
    const responses: Record<string, JsonSchema> = {};
    for (const [status, kind] of Object.entries(r.responses)) responses[status] = response(kind as ResponseKind);
    const errs = new Set<number>(r.errors);
    if (r.access !== 'public') [401, 403].forEach((s) => errs.add(s));
    if (r.tag === 'gateways' || r.tag === 'releases') errs.add(503);
    for (const s of [...errs].sort()) responses[String(s)] = { description: ERROR_TEXT[s] ?? 'Error', content: { 'application/json': { schema: ref('Error') } } };
    const op: JsonSchema = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...params, ...query, ...headers],
      responses,
      ...(r.access === 'public' ? { security: [] } : {}),
      'x-weir-access': r.access,
    };
    if (r.body) {
      const b = BODY[r.body];
      const content: JsonSchema = { 'application/json': { schema: ref(b.schema) } };
      if (b.yaml) for (const t of ['application/yaml', 'application/x-yaml', 'text/yaml']) content[t] = { schema: ref(b.schema) };
      op.requestBody = { required: true, content };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Weir control API', version: opts.version ?? '1', description: 'Gateways per namespace (org/env), written to the config store that Weir agents render into HAProxy.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: [{ name: 'gateways' }, { name: 'releases' }, { name: 'agents' }, { name: 'tokens' }, { name: 'system' }],
    paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'weir_<id>_<secret>' } }, schemas: components() },
  };
}
