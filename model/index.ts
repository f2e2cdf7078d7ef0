// Public API of the gateway model.
export type { AclLiteral, CompiledCondition, Gateway, PortMode, Rewrite, Route, Sticky, Target } from './gateway.js';
export { readDocumentText, type DocumentTextResult } from './document-text.js';
export { parseGateway, validateGatewayInput, MAX_DOCUMENT_BYTES, type ParseOptions, type ParseResult } from './parse.js';
export { formatModelError, formatPath, type ModelError } from './errors.js';
export { compileCondition, parseCondition, type CompileResult, type ConditionAst } from './condition.js';
export { fillWeights, type WeightResult } from './weights.js';
export { checkNamespace, type Candidate, type NamespaceOptions, type NamespaceResult } from './namespace.js';
export { gatewayJsonSchema, type JsonSchema } from './json-schema.js';
export { GatewayInputSchema, type GatewayInput } from './schema.js';
export { defaultBalance, targetRouteName } from './normalize.js';
