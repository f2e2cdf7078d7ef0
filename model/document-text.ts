// Document text (YAML or JSON) → plain data, shared by every kind of definition (gateways,
// release policies): a size limit, JSON syntax errors with line and column, duplicate keys
// refused (JSON.parse would keep the last one silently), aliases bounded; and where each field is,
// so errors can name a line and column.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Locator, ModelError } from './errors.js';

export type DocumentTextResult = { ok: true; data: unknown; doc: Document.Parsed; locate: Locator } | { ok: false; errors: ModelError[] };

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/**
 * `prepare` may adjust the parsed document before it becomes data (the gateway parser turns
 * Vamp's unquoted `[host:port]` keys into strings).
 */
export function readDocumentText(
  text: string,
  opts: { source: string; format: 'yaml' | 'json'; maxBytes: number; maxBytesText: string; prepare?: (doc: Document.Parsed) => void },
): DocumentTextResult {
  const fail = (message: string): DocumentTextResult => ({ ok: false, errors: [{ source: opts.source, path: '', message }] });
  const bytes = Buffer.byteLength(text);
  if (bytes > opts.maxBytes) return fail(`the document is ${bytes} bytes, at most ${opts.maxBytes} (${opts.maxBytesText}) are allowed`);
  if (opts.format === 'json') {
    // JSON syntax first (YAML would accept more); duplicate keys are then found by the
    // YAML parser below, since JSON is YAML 1.2 and JSON.parse keeps the last duplicate silently.
    try {
      JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /position (\d+)/.exec(msg);
      return fail(`invalid JSON${pos ? ` at ${lineCol(text, Number(pos[1]))}` : ''}: ${msg.replace(/ in JSON at position \d+.*$/s, '')}`);
    }
  }
  try {
    const lines = new LineCounter();
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, version: '1.2', strict: true, lineCounter: lines });
    if (doc.errors.length > 0) {
      const kind = opts.format === 'json' ? 'invalid JSON' : 'invalid YAML';
      const textLines = text.split('\n');
      return {
        ok: false,
        errors: doc.errors.slice(0, 10).map((e) => {
          const p = e.linePos?.[0];
          const m = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
          // The YAML parser reads an unquoted flow-sequence key only first in a map; Vamp users write `[host:port]:` keys.
          const hint = p && /^\s*\[/.test(textLines[p.line - 1] ?? '') ? ' (quote keys that start with "[", e.g. "[10.0.0.1:8080]":)' : '';
          return { source: opts.source, path: '', message: `${kind}${p ? ` at line ${p.line}, column ${p.col}` : ''}: ${m}${hint}` };
        }),
      };
    }
    opts.prepare?.(doc);
    return { ok: true, data: doc.toJS({ maxAliasCount: 100 }), doc, locate: locator(doc, lines) };
  } catch (err) {
    return fail(`invalid ${opts.format === 'json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** A map key as text; Vamp's unquoted `[host:port]` key is a one-item flow sequence in YAML. */
export function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (isSeq(key) && key.items.length === 1 && isScalar(key.items[0])) return `[${String(key.items[0].value)}]`;
  return String(key);
}

function isNodeWithRange(n: unknown): n is Node & { range: [number, number, number] } {
  return typeof n === 'object' && n !== null && 'range' in n && Array.isArray((n as { range?: unknown }).range);
}

/**
 * Field path → line and column of the value written there (of the key with `key: true`, or when
 * it has no value; of the nearest enclosing node when the field is absent).
 */
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
