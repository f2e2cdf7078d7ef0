// The committed reference doc must match what the schema generates; and the JSON Schema
// must describe the same document the parser accepts.
import { test, assert } from '../harness/uvu.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderGatewayReference } from '../../model/reference-doc.js';
import { gatewayJsonSchema } from '../../model/index.js';

/** The repository root, whether this runs from test/unit (tsx) or dist/test/unit (compiled). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'model'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

test('docs/GATEWAY-REFERENCE.md is up to date (regenerate: npx tsx scripts/gen-gateway-docs.ts)', () => {
  const committed = readFileSync(join(repoRoot(), 'docs', 'GATEWAY-REFERENCE.md'), 'utf8');
  assert.fixture(committed, renderGatewayReference());
});

test('the reference documents every field', () => {
  const doc = renderGatewayReference();
  for (const f of ['name', 'port', 'sticky', 'virtual_hosts', 'balance', 'metadata', 'routes', 'routes.<name>.weight', 'routes.<name>.condition', 'routes.<name>.condition_strength', 'routes.<name>.rewrites[].path', 'routes.<name>.rewrites[].match', 'routes.<name>.targets[].host'])
    assert.ok(doc.includes(`| \`${f}\` |`), f);
});

test('JSON Schema: strict objects, required fields, descriptions everywhere', () => {
  const s = gatewayJsonSchema() as { required?: string[]; additionalProperties?: unknown; properties: Record<string, { description?: string }> };
  assert.equal(s.required, ['port']);
  assert.is(s.additionalProperties, false);
  for (const [k, v] of Object.entries(s.properties)) assert.ok(typeof v.description === 'string' && v.description.length > 10, k);
  // The map form first; its values are a route object, "host:port" or null.
  const map = (s.properties.routes as unknown as { anyOf: Array<{ propertyNames: { pattern: string }; additionalProperties: { anyOf: Array<{ additionalProperties: unknown; properties: Record<string, { description?: string }> }> } }> }).anyOf[0]!;
  assert.ok(new RegExp(map.propertyNames.pattern).test('v1') && new RegExp(map.propertyNames.pattern).test('[10.0.0.1:80]') && !new RegExp(map.propertyNames.pattern).test('a/b'));
  const route = map.additionalProperties.anyOf[0]!;
  assert.is(route.additionalProperties, false);
  for (const [k, v] of Object.entries(route.properties)) assert.ok(typeof v.description === 'string', `routes.<name>.${k}`);
  JSON.stringify(s); // serialisable for the OpenAPI document
});
test.run();
