// Request bodies: every accepted content type is read as text (the original text is what a
// gateway PUT stores) and decoded per endpoint. JSON errors carry line and column.
import { parseDocument } from 'yaml';
import { ApiError, badRequest } from './errors.js';
import type { Preconditions, RawBody } from './gateway-service.js';

/** Default request body limit: room for the model's 256 KiB document limit plus slack. */
export const DEFAULT_BODY_LIMIT = 512 * 1024;

export const JSON_TYPES = ['application/json', 'application/merge-patch+json'];
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

export function isRawBody(v: unknown): v is RawBody {
  return typeof v === 'object' && v !== null && typeof (v as RawBody).text === 'string' && ((v as RawBody).format === 'json' || (v as RawBody).format === 'yaml');
}

export function requireBody(v: unknown): RawBody {
  if (!isRawBody(v)) throw badRequest('missing_body', 'this request needs a body: send Content-Type: application/json (or application/yaml where accepted)');
  return v;
}

function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  return `line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')}`;
}

/**
 * The JSON syntax error of `text` with line and column, or null when it parses. Node 20's
 * JSON.parse gives no position for many errors; the YAML parser (JSON is YAML 1.2) then locates it.
 */
export function jsonSyntaxError(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    const msg = (err as Error).message.replace(/, "[\s\S]*" is not valid JSON$/, '').replace(/ in JSON at position \d+.*$/s, '');
    const pos = /position (\d+)/.exec((err as Error).message);
    let at = pos ? lineCol(text, Number(pos[1])) : '';
    if (!at) {
      const p = parseDocument(text, { version: '1.2' }).errors[0]?.linePos?.[0];
      if (p) at = `line ${p.line}, column ${p.col}`;
      else if (text.trim() !== '') at = lineCol(text, text.length);
    }
    return `invalid JSON${at ? ` at ${at}` : ''}: ${msg}`;
  }
}

/** Decodes a JSON or YAML body to a value (duplicate keys are errors in both). */
export function decodeBody(raw: RawBody): unknown {
  if (raw.format === 'json') {
    const syntax = jsonSyntaxError(raw.text);
    if (syntax) throw badRequest('invalid_json', syntax);
  }
  // JSON goes through the YAML parser too: it rejects duplicate keys, which JSON.parse keeps silently.
  try {
    const doc = parseDocument(raw.text, { uniqueKeys: true, version: '1.2', prettyErrors: true });
    const e = doc.errors[0];
    if (e) {
      const p = e.linePos?.[0];
      const kind = raw.format === 'json' ? 'json' : 'yaml';
      throw badRequest(`invalid_${kind}`, `invalid ${kind.toUpperCase()}${p ? ` at line ${p.line}, column ${p.col}` : ''}: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw badRequest(`invalid_${raw.format}`, `invalid ${raw.format.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`);
  }
}

const ETAG = /^"([^"]{1,200})"$/;

/** If-Match: "<version>" or *; If-None-Match: * only. Weak or listed tags are refused (400). */
export function parsePreconditions(headers: Record<string, string | string[] | undefined>, allowed: ReadonlyArray<'If-Match' | 'If-None-Match'>): Preconditions {
  const out: Preconditions = {};
  const one = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const im = one('if-match')?.trim();
  if (im !== undefined && im !== '') {
    if (!allowed.includes('If-Match')) throw badRequest('precondition_not_supported', 'If-Match is not supported here');
    if (im === '*') out.ifMatch = '*';
    else {
      const m = ETAG.exec(im);
      if (!m) throw badRequest('invalid_precondition', `If-Match must be one strong entity tag such as "3" (the ETag of a GET) or *, got ${JSON.stringify(im.slice(0, 100))}`);
      out.ifMatch = m[1] as string;
    }
  }
  const inm = one('if-none-match')?.trim();
  if (inm !== undefined && inm !== '') {
    if (!allowed.includes('If-None-Match') || inm !== '*') throw badRequest('invalid_precondition', 'If-None-Match: * (create only) is the only form accepted on writes');
    out.ifNoneMatch = true;
  }
  if (out.ifMatch !== undefined && out.ifNoneMatch) throw badRequest('invalid_precondition', 'send If-Match or If-None-Match, not both');
  return out;
}
