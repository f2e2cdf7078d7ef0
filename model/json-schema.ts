// JSON Schema of the gateway document, generated from the zod schema (for OpenAPI and docs).
import { z } from 'zod';
import { GatewayInputSchema } from './schema.js';

export type JsonSchema = { [key: string]: unknown };

/** The input side (what users write). Refinements that JSON Schema cannot express are omitted. */
export function gatewayJsonSchema(): JsonSchema {
  return z.toJSONSchema(GatewayInputSchema, { io: 'input', target: 'draft-2020-12' }) as JsonSchema;
}
