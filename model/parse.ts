// Entry points: text (YAML or JSON) or already-parsed JSON → validated, normalized Gateway.
import { isMap, isScalar } from 'yaml';
import { readDocumentText } from './document-text.js';
import { GatewayInputSchema } from './schema.js';
import { issuesToModelErrors, type ModelError } from './errors.js';
import { normalizeGateway, type ParseResult } from './normalize.js';

export type { ParseResult } from './normalize.js';

export const MAX_DOCUMENT_BYTES = 256 * 1024;

export interface ParseOptions {
  /** Shown in errors: file name, "control API", ... */
  source: string;
  format: 'yaml' | 'json';
  /** Name implied by the file name or key; used when the document has no `name`, must match when it has. */
  expectedName?: string;
}

export function parseGateway(text: string, opts: ParseOptions): ParseResult {
  const read = readDocumentText(text, { source: opts.source, format: opts.format, maxBytes: MAX_DOCUMENT_BYTES, maxBytesText: '256 KiB' });
  if (!read.ok) return { ok: false, errors: read.errors };
  const doc = read.doc;
  const routes = isMap(doc.contents) ? doc.contents.get('routes', true) : undefined;
  const routeOrder = isMap(routes) ? routes.items.map((item) => String(isScalar(item.key) ? item.key.value : item.key)) : undefined;
  return validate(read.data, { source: opts.source, expectedName: opts.expectedName, routeOrder });
}

/** For input that is already parsed (the control API's JSON body). */
export function validateGatewayInput(input: unknown, opts: { source: string; expectedName?: string }): ParseResult {
  return validate(input, { source: opts.source, expectedName: opts.expectedName });
}

function validate(input: unknown, opts: { source: string; expectedName?: string | undefined; routeOrder?: readonly string[] | undefined }): ParseResult {
  let parsed: ReturnType<typeof GatewayInputSchema.safeParse>;
  try {
    parsed = GatewayInputSchema.safeParse(input, { reportInput: true });
  } catch (err) {
    // Deeply nested input can exhaust the stack in recursive validation.
    return { ok: false, errors: [{ source: opts.source, path: '', message: `cannot validate the document: ${(err as Error).message}` }] };
  }
  if (!parsed.success) return { ok: false, errors: issuesToModelErrors(opts.source, parsed.error.issues) };
  return normalizeGateway(parsed.data, {
    source: opts.source,
    ...(opts.expectedName !== undefined ? { expectedName: opts.expectedName } : {}),
    ...(opts.routeOrder !== undefined ? { routeOrder: opts.routeOrder } : {}),
  });
}
