// Entry points: text (YAML or JSON) or already-parsed JSON → validated, normalized Gateway.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node } from 'yaml';
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

function fail(source: string, message: string, path = ''): ParseResult {
  return { ok: false, errors: [{ source, path, message }] };
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** A map key as text; Vamp's unquoted `[host:port]` key is a one-item flow sequence in YAML. */
function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (isSeq(key) && key.items.length === 1 && isScalar(key.items[0])) return `[${String(key.items[0].value)}]`;
  return String(key);
}

/** Field path → line and column of the value written there (of its key when it has no value; of the nearest enclosing node when it is absent). */
function locator(doc: Document.Parsed, lines: LineCounter): Locator {
  return (at, opts) => {
    let node: unknown = doc.contents;
    let found: Node | null = isNodeWithRange(node) ? node : null;
    at.forEach((seg, i) => {
      if (node === undefined) return;
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(seg));
        if (!pair) return void (node = undefined);
        const value: unknown = pair.value;
        const wantKey = opts?.key === true && i === at.length - 1;
        const target = !wantKey && isNodeWithRange(value) && !(isScalar(value) && value.value === null && value.range[0] === value.range[1]) ? value : pair.key;
        if (isNodeWithRange(target)) found = target;
        node = value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item: unknown = node.items[seg];
        if (!isNodeWithRange(item)) return void (node = undefined);
        found = item;
        node = item;
      } else node = undefined;
    });
    if (!found?.range) return undefined;
    const pos = lines.linePos(found.range[0]);
    return { line: pos.line, column: pos.col };
  };
}

function isNodeWithRange(n: unknown): n is Node & { range: [number, number, number] } {
  return typeof n === 'object' && n !== null && 'range' in n && Array.isArray((n as { range?: unknown }).range);
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
  let doc: Document.Parsed;
  let data: unknown;
  const lines = new LineCounter();
  try {
    doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, version: '1.2', strict: true, lineCounter: lines });
    if (doc.errors.length > 0) {
      const kind = opts.format === 'json' ? 'invalid JSON' : 'invalid YAML';
      const textLines = text.split('\n');
      return {
        ok: false,
        errors: doc.errors.slice(0, 10).map((e) => {
          const p = e.linePos?.[0];
          const m = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
          // The YAML parser cannot read a second unquoted flow-sequence key; Vamp users write `[host:port]:` keys.
          const hint = p && /^\s*\[/.test(textLines[p.line - 1] ?? '') ? ' (quote keys that start with "[", e.g. "[10.0.0.1:8080]":)' : '';
          return { source: opts.source, path: '', message: `${kind}${p ? ` at line ${p.line}, column ${p.col}` : ''}: ${m}${hint}` };
        }),
      };
    }
    stringifyFlowKeys(doc);
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return fail(opts.source, `invalid ${opts.format === 'json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  const routes = isMap(doc.contents) ? doc.contents.get('routes', true) : undefined;
  const routeOrder = isMap(routes) ? routes.items.map((item) => keyText(item.key)) : undefined;
  return validate(data, { source: opts.source, expectedName: opts.expectedName, routeOrder, locate: locator(doc, lines) });
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
    return fail(opts.source, `cannot validate the document: ${(err as Error).message}`);
  }
  if (!parsed.success) return { ok: false, errors: issuesToModelErrors(opts.source, parsed.error.issues, [], opts.locate) };
  return normalizeGateway(parsed.data, {
    source: opts.source,
    ...(opts.expectedName !== undefined ? { expectedName: opts.expectedName } : {}),
    ...(opts.routeOrder !== undefined ? { routeOrder: opts.routeOrder } : {}),
    ...(opts.locate !== undefined ? { locate: opts.locate } : {}),
  });
}
