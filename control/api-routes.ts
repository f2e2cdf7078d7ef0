// The HTTP API as data: one entry per operation. The server registers handlers from this
// table and the OpenAPI document is generated from it, so the two cannot drift apart.
import type { Access } from './auth.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Named bodies and responses; `openapi.ts` maps them to component schemas. */
export type BodyKind = 'gateway' | 'routeEdit' | 'weights' | 'newToken';
export type ResponseKind =
  | 'gatewayList'
  | 'gatewayDocument'
  | 'gatewayWritten'
  | 'gatewayStatus'
  | 'agentList'
  | 'trafficMetrics'
  | 'tokenList'
  | 'tokenCreated'
  | 'health'
  | 'metrics'
  | 'openapi'
  | 'empty';

export interface RouteSpec {
  operationId: string;
  method: Method;
  /** fastify syntax: `:param`. */
  url: string;
  access: Access;
  summary: string;
  tag: 'gateways' | 'agents' | 'tokens' | 'system';
  body?: BodyKind;
  /** Which write preconditions the operation honours. */
  preconditions?: Array<'If-Match' | 'If-None-Match'>;
  responses: Partial<Record<200 | 201 | 204 | 304, ResponseKind>>;
  /** Query parameters (all optional). */
  query?: Array<{ name: string; description: string; pattern?: string }>;
  /** Error statuses the operation can answer besides 401/403/500/503. */
  errors: number[];
}

const NS = '/api/v1/namespaces/:org/:env';

/** `?window=` of the metrics endpoints: 1 s to 24 h. */
export const WINDOW_PARAM = { name: 'window', description: 'How far back from the last closed window: Ns, Nm or Nh, 1s to 24h, rounded up to whole agent windows (10 s). Default 60s.', pattern: '^[0-9]+[smh]$' };
/** `?step=`: answer a series (one point per step) instead of one figure for the window. */
export const STEP_PARAM = { name: 'step', description: 'Answer a time series (TrafficSeries): one point per step, a multiple of the agents\' window (10 s), at most 1000 steps. Ns, Nm or Nh up to 1h.', pattern: '^[0-9]+[smh]$' };

export const API_ROUTES: readonly RouteSpec[] = [
  { operationId: 'listGateways', method: 'GET', url: `${NS}/gateways`, access: 'read', tag: 'gateways', summary: 'List the gateways of a namespace: name, version, port and a summary of the routes.', responses: { 200: 'gatewayList' }, errors: [400] },
  { operationId: 'getGateway', method: 'GET', url: `${NS}/gateways/:name`, access: 'read', tag: 'gateways', summary: 'The stored definition: JSON by default, the original text with Accept: application/yaml. ETag: "<version>".', responses: { 200: 'gatewayDocument', 304: 'empty' }, errors: [400, 404] },
  { operationId: 'putGateway', method: 'PUT', url: `${NS}/gateways/:name`, access: 'write', tag: 'gateways', body: 'gateway', preconditions: ['If-Match', 'If-None-Match'], summary: 'Create (201) or replace (200) a gateway from JSON or YAML. The text is stored as sent.', responses: { 200: 'gatewayWritten', 201: 'gatewayWritten' }, errors: [400, 409, 413, 415] },
  { operationId: 'deleteGateway', method: 'DELETE', url: `${NS}/gateways/:name`, access: 'write', tag: 'gateways', preconditions: ['If-Match'], summary: 'Delete a gateway.', responses: { 204: 'empty' }, errors: [400, 404, 409] },
  { operationId: 'patchRoute', method: 'PATCH', url: `${NS}/gateways/:name/routes/:route`, access: 'write', tag: 'gateways', body: 'routeEdit', preconditions: ['If-Match'], summary: 'Change weight, condition or condition_strength of one route; fields left out stay, null removes a field.', responses: { 200: 'gatewayWritten' }, errors: [400, 404, 409, 413, 415] },
  { operationId: 'putRoute', method: 'PUT', url: `${NS}/gateways/:name/routes/:route`, access: 'write', tag: 'gateways', body: 'routeEdit', preconditions: ['If-Match'], summary: 'Set weight, condition and condition_strength of one route; fields left out are removed.', responses: { 200: 'gatewayWritten' }, errors: [400, 404, 409, 413, 415] },
  { operationId: 'putWeights', method: 'PUT', url: `${NS}/gateways/:name/weights`, access: 'write', tag: 'gateways', body: 'weights', preconditions: ['If-Match'], summary: 'Set the weights of several routes in one atomic write, e.g. {"v1": 80, "v2": 20}.', responses: { 200: 'gatewayWritten' }, errors: [400, 404, 409, 413, 415] },
  { operationId: 'gatewayStatus', method: 'GET', url: `${NS}/gateways/:name/status`, access: 'read', tag: 'gateways', summary: 'Per agent of the environment: the version applied, problems with this gateway, last heard from; and whether all live agents converged.', responses: { 200: 'gatewayStatus' }, errors: [400, 404] },
  { operationId: 'gatewayMetrics', method: 'GET', url: `${NS}/gateways/:name/metrics`, access: 'read', tag: 'gateways', query: [WINDOW_PARAM, STEP_PARAM], summary: 'Traffic over the last window from the agents\' window aggregates (NATS, or Elasticsearch when configured): exact requests and 5xx from HAProxy\'s counters, rate, response time percentiles, health (1 − error ratio), the agents that reported; split per route. With step: a series per step (the console\'s charts).', responses: { 200: 'trafficMetrics' }, errors: [400, 404] },
  { operationId: 'routeMetrics', method: 'GET', url: `${NS}/gateways/:name/routes/:route/metrics`, access: 'read', tag: 'gateways', query: [WINDOW_PARAM, STEP_PARAM], summary: 'The same for one route of the gateway.', responses: { 200: 'trafficMetrics' }, errors: [400, 404] },
  { operationId: 'listAgents', method: 'GET', url: `${NS}/agents`, access: 'read', tag: 'agents', summary: 'The agents of the environment with their health.', responses: { 200: 'agentList' }, errors: [400] },
  { operationId: 'createToken', method: 'POST', url: '/api/v1/tokens', access: 'admin', tag: 'tokens', body: 'newToken', summary: 'Issue a token; the secret is in this response only.', responses: { 201: 'tokenCreated' }, errors: [400, 413, 415] },
  { operationId: 'listTokens', method: 'GET', url: '/api/v1/tokens', access: 'admin', tag: 'tokens', summary: 'All tokens, without secrets.', responses: { 200: 'tokenList' }, errors: [] },
  { operationId: 'deleteToken', method: 'DELETE', url: '/api/v1/tokens/:id', access: 'admin', tag: 'tokens', summary: 'Revoke a token, effective at once.', responses: { 204: 'empty' }, errors: [404, 409] },
  { operationId: 'openapi', method: 'GET', url: '/api/v1/openapi.json', access: 'public', tag: 'system', summary: 'This document.', responses: { 200: 'openapi' }, errors: [] },
  { operationId: 'healthz', method: 'GET', url: '/healthz', access: 'public', tag: 'system', summary: 'Liveness: 200 while the server runs.', responses: { 200: 'health' }, errors: [] },
  { operationId: 'metrics', method: 'GET', url: '/metrics', access: 'public', tag: 'system', summary: 'Prometheus metrics.', responses: { 200: 'metrics' }, errors: [] },
];

/** Regexes for the 405 check: which methods exist for a path. */
export function methodsForPath(path: string): Method[] {
  const out = new Set<Method>();
  for (const r of API_ROUTES) {
    const re = new RegExp(`^${r.url.replace(/[.]/g, '\\.').replace(/:[a-z]+/g, '[^/]+')}/?$`);
    if (re.test(path)) out.add(r.method);
  }
  return [...out];
}
