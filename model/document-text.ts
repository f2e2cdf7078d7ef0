// Document text (YAML or JSON) → plain data, shared by every kind of definition (gateways,
// release policies): a size limit, JSON syntax errors with line and column, duplicate keys
// refused (JSON.parse would keep the last one silently), aliases bounded.
import { parseDocument, type Document } from 'yaml';
import type { ModelError } from './errors.js';

export type DocumentTextResult = { ok: true; data: unknown; doc: Document } | { ok: false; errors: ModelError[] };

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

export function readDocumentText(text: string, opts: { source: string; format: 'yaml' | 'json'; maxBytes: number; maxBytesText: string }): DocumentTextResult {
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
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, version: '1.2', strict: true });
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
    return { ok: true, data: doc.toJS({ maxAliasCount: 100 }), doc };
  } catch (err) {
    return fail(`invalid ${opts.format === 'json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
}
