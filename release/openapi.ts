// The release API's OpenAPI components, generated from the same zod schemas that validate
// policies and run records, so the documented shapes cannot drift from the code.
import { z } from 'zod';
import { ReleasePolicyInputSchema } from './policy-schema.js';
import { RunViewSchema } from './run-view.js';
import { ACTIONS } from './run-machine.js';
import { PHASES } from './run-record.js';

type JsonSchema = Record<string, unknown>;

const strip = (s: JsonSchema): JsonSchema => {
  const { $schema: _drop, ...rest } = s;
  return rest;
};

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

export function releaseOpenApiComponents(): Record<string, JsonSchema> {
  const summary: JsonSchema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      gateway: { type: 'string' },
      phase: { enum: [...PHASES] },
      source: { type: 'string' },
      target: { type: 'string' },
      policy: { type: 'object', properties: { name: { type: 'string' }, version: { type: ['integer', 'null'] }, hash: { type: 'string' } } },
      step: { type: 'object', properties: { index: { type: 'integer' }, name: { type: 'string' } } },
      attempt: { type: 'integer' },
      createdAt: { type: 'string' },
      createdBy: { type: 'string' },
      updatedAt: { type: 'string' },
      pauseReasons: { type: 'array', items: { type: 'object' } },
      outcome: { type: ['object', 'null'] },
    },
  };
  const policySummary: JsonSchema = {
    type: 'object',
    required: ['name', 'version', 'format', 'valid'],
    properties: {
      name: { type: 'string' },
      version: { type: 'string', description: 'The store version (ETag)' },
      format: { enum: ['yaml', 'json'] },
      valid: { type: 'boolean' },
      policyVersion: { type: ['integer', 'null'], description: 'The document\'s own `version` field' },
      hash: { type: 'string', description: 'sha256 of the canonical policy JSON; a run pins it' },
      vamp: { type: 'boolean', description: 'The document is Vamp\'s policy JSON, translated' },
      steps: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, source: { type: 'integer' }, target: { type: 'integer' } } } },
      errors: { type: 'array', items: { type: 'string' } },
    },
  };
  return {
    ReleasePolicy: strip(z.toJSONSchema(ReleasePolicyInputSchema, { io: 'input', target: 'draft-2020-12' }) as JsonSchema),
    ReleasePolicySummary: policySummary,
    ReleasePolicyList: { type: 'object', properties: { namespace: { type: 'string' }, policies: { type: 'array', items: ref('ReleasePolicySummary') }, problems: { type: 'array', items: { type: 'object' } } } },
    ReleasePolicyWritten: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, policy: ref('ReleasePolicySummary'), notes: { type: 'array', items: { type: 'string' }, description: 'How a Vamp document was translated' } } },
    ReleaseRun: strip(z.toJSONSchema(RunViewSchema, { io: 'output', target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema),
    ReleaseSummary: summary,
    ReleaseList: { type: 'object', properties: { namespace: { type: 'string' }, releases: { type: 'array', items: ref('ReleaseSummary') }, problems: { type: 'array', items: { type: 'object' } } } },
    ReleaseHistory: { type: 'object', properties: { gateway: { type: 'string' }, current: { oneOf: [ref('ReleaseSummary'), { type: 'null' }] }, releases: { type: 'array', items: ref('ReleaseSummary') } } },
    ReleaseStart: {
      type: 'object',
      additionalProperties: false,
      required: ['policy', 'source', 'target'],
      properties: { policy: { type: 'string', description: 'A release policy of the namespace' }, source: { type: 'string', description: 'The route traffic moves from' }, target: { type: 'string', description: 'The route being released' } },
    },
    ReleaseAction: {
      type: 'object',
      additionalProperties: false,
      properties: { reason: { type: 'string', maxLength: 500, description: 'Recorded in the run\'s history' }, fromStep: { type: 'integer', minimum: 0, description: 'retry only: the step to start from (default: the step it ended in)' } },
      description: `Optional body of ${ACTIONS.join(', ')}`,
    },
  };
}
