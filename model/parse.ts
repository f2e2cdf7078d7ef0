// Entry points: text (YAML or JSON) or already-parsed JSON → validated, normalized Gateway.
import { isMap, isScalar, isSeq, Scalar, type Document } from 'yaml';
import { keyText, readDocumentText } from './document-text.js';
import { GatewayInputSchema } from './schema.js';
import { issuesToModelErrors, type Locator, type ModelError } from './errors.js';
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

/** Route keys written `[host:port]` without quotes become the string Vamp reads them as. */
function stringifyFlowKeys(doc: Document.Parsed): void {
  const routes = isMap(doc.contents) ? doc.contents.get('routes', true) : undefined;
  const maps = isMap(routes) ? [routes] : isSeq(routes) ? routes.items.filter(isMap) : [];
  for (const m of maps) {
    for (const pair of m.items) {
      if (isSeq(pair.key) && pair.key.items.length === 1 && isScalar(pair.key.items[0])) {
        const s = new Scalar(keyText(pair.key));
        s.range = pair.key.range;
        pair.key = s;
      }
    }
  }
}

export function parseGateway(text: string, opts: ParseOptions): ParseResult {
  const read = readDocumentText(text, { source: opts.source, format: opts.format, maxBytes: MAX_DOCUMENT_BYTES, maxBytesText: '256 KiB', prepare: stringifyFlowKeys });
  if (!read.ok) return { ok: false, errors: read.errors };
  const doc = read.doc;
  const routes = isMap(doc.contents) ? doc.contents.get('routes', true) : undefined;
  const routeOrder = isMap(routes) ? routes.items.map((item) => keyText(item.key)) : undefined;
  return validate(read.data, { source: opts.source, expectedName: opts.expectedName, routeOrder, locate: read.locate });
}

/** For input that is already parsed (the control API's JSON body). */
export function validateGatewayInput(input: unknown, opts: { source: string; expectedName?: string }): ParseResult {
  return validate(input, { source: opts.source, expectedName: opts.expectedName });
}

function validate(input: unknown, opts: { source: string; expectedName?: string | undefined; routeOrder?: readonly string[] | undefined; locate?: Locator }): ParseResult {
  let parsed: ReturnType<typeof GatewayInputSchema.safeParse>;
  try {
    parsed = GatewayInputSchema.safeParse(input, { reportInput: true });
  } catch (err) {
    // Deeply nested input can exhaust the stack in recursive validation.
    const e: ModelError = { source: opts.source, path: '', message: `cannot validate the document: ${(err as Error).message}` };
    return { ok: false, errors: [e] };
  }
  if (!parsed.success) return { ok: false, errors: issuesToModelErrors(opts.source, parsed.error.issues, [], opts.locate) };
  return normalizeGateway(parsed.data, {
    source: opts.source,
    ...(opts.expectedName !== undefined ? { expectedName: opts.expectedName } : {}),
    ...(opts.routeOrder !== undefined ? { routeOrder: opts.routeOrder } : {}),
    ...(opts.locate !== undefined ? { locate: opts.locate } : {}),
  });
}
