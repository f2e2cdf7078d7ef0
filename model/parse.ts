// Entry points: text (YAML or JSON) or already-parsed JSON → validated, normalized Gateway.
import { isMap, isScalar, parseDocument } from 'yaml';
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

function fail(source: string, message: string, path = ''): ParseResult {
  return { ok: false, errors: [{ source, path, message }] };
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

export function parseGateway(text: string, opts: ParseOptions): ParseResult {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_DOCUMENT_BYTES) return fail(opts.source, `the document is ${bytes} bytes, at most ${MAX_DOCUMENT_BYTES} (256 KiB) are allowed`);
  if (opts.format === 'json') {
    // JSON syntax first (YAML would accept more); duplicate keys are then found by the
    // YAML parser below, since JSON is YAML 1.2 and JSON.parse keeps the last duplicate silently.
    try {
      JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /position (\d+)/.exec(msg);
      return fail(opts.source, `invalid JSON${pos ? ` at ${lineCol(text, Number(pos[1]))}` : ''}: ${msg.replace(/ in JSON at position \d+.*$/s, '')}`);
    }
  }
  let doc: ReturnType<typeof parseDocument>;
  let data: unknown;
  try {
    doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, version: '1.2', strict: true });
    if (doc.errors.length > 0) {
      const kind = opts.format === 'json' ? 'invalid JSON' : 'invalid YAML';
      return {
        ok: false,
        errors: doc.errors.slice(0, 10).map((e) => {
          const p = e.linePos?.[0];
          const m = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
          return { source: opts.source, path: '', message: `${kind}${p ? ` at line ${p.line}, column ${p.col}` : ''}: ${m}` };
        }),
      };
    }
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return fail(opts.source, `invalid ${opts.format === 'json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  const routes = isMap(doc.contents) ? doc.contents.get('routes', true) : undefined;
  const routeOrder = isMap(routes) ? routes.items.map((item) => String(isScalar(item.key) ? item.key.value : item.key)) : undefined;
  return validate(data, { source: opts.source, expectedName: opts.expectedName, routeOrder });
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
    return fail(opts.source, `cannot validate the document: ${(err as Error).message}`);
  }
  if (!parsed.success) return { ok: false, errors: issuesToModelErrors(opts.source, parsed.error.issues) };
  return normalizeGateway(parsed.data, {
    source: opts.source,
    ...(opts.expectedName !== undefined ? { expectedName: opts.expectedName } : {}),
    ...(opts.routeOrder !== undefined ? { routeOrder: opts.routeOrder } : {}),
  });
}
