// The HTTP API as data: one entry per operation. The server registers handlers from this
// table and the OpenAPI document is generated from it, so the two cannot drift apart.
import type { Access } from './auth.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Named bodies and responses; `openapi.ts` maps them to component schemas. */
export type BodyKind = 'gateway' | 'routeEdit' | 'weights' | 'newToken' | 'releasePolicy' | 'releaseStart' | 'releaseAction';
export type ResponseKind =
  | 'gatewayList'
  | 'gatewayDocument'
  | 'gatewayWritten'
  | 'gatewayStatus'
  | 'agentList'
  | 'trafficMetrics'
  | 'releasePolicyList'
  | 'releasePolicyDocument'
  | 'releasePolicyWritten'
  | 'releaseRun'
  | 'releaseList'
  | 'releaseHistory'
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
  tag: 'gateways' | 'releases' | 'agents' | 'tokens' | 'system';
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

const RELEASE_ACTION_TEXT: Record<'approve' | 'pause' | 'resume' | 'abort' | 'promote' | 'retry', string> = {
  approve: 'Open a `gate: confirm` (or a confirm hook that asked to wait), or accept a step that is Inconclusive or past its progress deadline.',
  pause: 'Pause: the controller stops judging and shifting until resume.',
  resume: 'Clear a manual pause, a ManualChange (the step\'s weights are written again and judged afresh), a metrics or hook error, an Inconclusive pause (its count restarts) or an exceeded deadline.',
  abort: 'Stop and restore the routes from before the release.',
  promote: 'Skip the remaining steps: the target gets 100 %, the source stays at 0 %.',
  retry: 'Start a Failed or Aborted release again, from `fromStep` (default: the step it ended in), with the same pinned policy.',
};

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
  // Release policies and runs (release/; handlers in release-routes.ts).
  { operationId: 'listReleasePolicies', method: 'GET', url: `${NS}/release-policies`, access: 'read', tag: 'releases', summary: 'The release policies of a namespace: name, version, hash, steps; invalid ones with their errors.', responses: { 200: 'releasePolicyList' }, errors: [400] },
  { operationId: 'getReleasePolicy', method: 'GET', url: `${NS}/release-policies/:name`, access: 'read', tag: 'releases', summary: 'The stored policy: JSON by default, the original text with Accept: application/yaml. ETag: "<version>".', responses: { 200: 'releasePolicyDocument', 304: 'empty' }, errors: [400, 404] },
  { operationId: 'putReleasePolicy', method: 'PUT', url: `${NS}/release-policies/:name`, access: 'write', tag: 'releases', body: 'releasePolicy', preconditions: ['If-Match', 'If-None-Match'], summary: 'Create (201) or replace (200) a release policy from JSON or YAML, Weir\'s model or Vamp\'s policy JSON (translated; the notes say how). Runs in progress keep the copy they pinned.', responses: { 200: 'releasePolicyWritten', 201: 'releasePolicyWritten' }, errors: [400, 409, 413, 415] },
  { operationId: 'deleteReleasePolicy', method: 'DELETE', url: `${NS}/release-policies/:name`, access: 'write', tag: 'releases', preconditions: ['If-Match'], summary: 'Delete a release policy (runs in progress keep their copy).', responses: { 204: 'empty' }, errors: [400, 404, 409] },
  { operationId: 'listReleases', method: 'GET', url: `${NS}/releases`, access: 'read', tag: 'releases', summary: 'The current (or last) release of every gateway of the namespace.', responses: { 200: 'releaseList' }, errors: [400] },
  { operationId: 'startRelease', method: 'POST', url: `${NS}/gateways/:name/releases`, access: 'write', tag: 'releases', body: 'releaseStart', summary: 'Start a release of `target` from `source` with a policy: 201 with the run; 409 when the gateway has one in progress; 400 when a route or the policy is missing.', responses: { 201: 'releaseRun' }, errors: [400, 404, 409, 413, 415] },
  { operationId: 'listGatewayReleases', method: 'GET', url: `${NS}/gateways/:name/releases`, access: 'read', tag: 'releases', summary: 'The gateway\'s releases, newest first: the current one and the history.', responses: { 200: 'releaseHistory' }, errors: [400] },
  { operationId: 'currentRelease', method: 'GET', url: `${NS}/gateways/:name/releases/current`, access: 'read', tag: 'releases', summary: 'The gateway\'s current (or last) release with its status: step, time left, samples per side, each condition\'s last values, threshold and verdict, pause reasons.', responses: { 200: 'releaseRun' }, errors: [400, 404] },
  { operationId: 'getRelease', method: 'GET', url: `${NS}/gateways/:name/releases/:id`, access: 'read', tag: 'releases', summary: 'One release by id, current or from the history.', responses: { 200: 'releaseRun' }, errors: [400, 404] },
  ...(['approve', 'pause', 'resume', 'abort', 'promote', 'retry'] as const).map(
    (action): RouteSpec => ({
      operationId: `${action}Release`,
      method: 'POST',
      url: `${NS}/gateways/:name/releases/:id/${action}`,
      access: 'write',
      tag: 'releases',
      body: 'releaseAction',
      summary: RELEASE_ACTION_TEXT[action],
      responses: { 200: 'releaseRun' },
      errors: [400, 404, 409, 413, 415],
    }),
  ),
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
