// Public entry point of release/: what the control API (its routes) and the composition roots
// (cli/) use. Everything else in release/ is internal.
export { ReleaseService, ReleaseError, convertPolicyText, summarizePolicy, type ReleaseContext, type PolicyBody, type PolicyPreconditions, type PolicySummary, type ReleaseServiceDeps } from './release-service.js';
export { ACTIONS, type Action } from './run-machine.js';
export { runView, runSummary, RunViewSchema, type RunView } from './run-view.js';
export { releaseOpenApiComponents } from './openapi.js';
export { releasePolicyJsonSchema, ReleasePolicyInputSchema } from './policy-schema.js';
export { parsePolicyText, validatePolicyInput, type ReleasePolicy } from './policy.js';
export { ReleaseController, DEFAULT_CONTROLLER_SETTINGS, type ReleaseControllerDeps, type ReleaseControllerSettings } from './controller/controller.js';
export { ReleaseMetrics } from './metrics.js';
export { HookCaller, signBody, SIGNATURE_HEADER } from './hook-caller.js';
export { GatewayWriteError, type AgentAckSource, type GatewayReader, type GatewayRouteWriter, type Leadership, type ReleaseAuditSink, type ReleaseDocumentStore, type ReleaseEventPublisher, type RouteWrite } from './ports.js';
export { isTerminal, PHASES, PAUSE_REASONS, type Phase, type RunRecord } from './run-record.js';
