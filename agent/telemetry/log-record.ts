import { createHash } from 'node:crypto';
import { scanRecord, splitBackend } from './fast-record.js';

/** Lines above this are rejected: HAProxy is configured with `len 8192`, so anything this big is not ours. */
export const MAX_LINE_BYTES = 64 * 1024;

export interface Timings {
  /** All in milliseconds; HAProxy reports -1 for a phase that never completed. TCP records carry -1 for Tq/Tr/Ta. */
  Tq: number;
  Tw: number;
  Tc: number;
  Tr: number;
  Ta: number;
  Tt: number;
}

export interface TrafficRecord {
  time: Date;
  id: string;
  clientIp: string;
  clientPort: number;
  frontend: string;
  backend: string;
  server: string;
  /** From backend `<gateway>:<route>`; null when the request got no backend (`<NOSRV>`) or the name has no `:`. */
  gateway: string | null;
  route: string | null;
  mode: 'http' | 'tcp';
  timings: Timings;
  /** HTTP status; -1 for TCP records or when no response was sent. */
  status: number;
  bytesIn: number;
  bytesOut: number;
  terminationState: string;
  connections: { active: number; frontend: number; backend: number; server: number; retries: number };
  queues: { server: number; backend: number };
  /** Null for TCP records. */
  method: string | null;
  requestLine: string | null;
}

/** Bounded set: these become a metric label. */
/** `haproxy_event`: HAProxy's own messages (server up/down, proxy start) on the same log target; not traffic, not garbage. */
export type ParseFailureReason = 'empty' | 'oversized' | 'no_payload' | 'haproxy_event' | 'invalid_json' | 'missing_field' | 'bad_field';

export type ParseOutcome =
  | { ok: true; record: TrafficRecord; payload: string; repaired: boolean }
  | { ok: false; reason: ParseFailureReason; detail: string };

const fail = (reason: ParseFailureReason, detail: string): ParseOutcome => ({ ok: false, reason, detail });

/**
 * Strips an RFC 5424 or RFC 3164 syslog header (with or without `<PRI>`) and returns the JSON payload,
 * or null when there is no `{` payload. A bare payload (rsyslog `%msg%` files) passes through.
 */
export function syslogPayload(line: string): string | null {
  let s = line;
  let i = 0;
  if (s.charCodeAt(0) === 60 /* < */) {
    const end = s.indexOf('>');
    if (end < 2 || end > 4) return null;
    i = end + 1;
  }
  // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
  if (s.startsWith('1 ', i)) {
    let pos = i + 2;
    for (let field = 0; field < 5; field += 1) {
      const sp = s.indexOf(' ', pos);
      if (sp < 0) return null;
      pos = sp + 1;
    }
    if (s.charCodeAt(pos) === 45 /* - */) pos += 1;
    else if (s.charCodeAt(pos) === 91 /* [ */) {
      // Structured data: elements end at an unescaped `]` not followed by another `[`.
      while (pos < s.length && s.charCodeAt(pos) === 91) {
        let j = pos + 1;
        while (j < s.length && !(s[j] === ']' && s[j - 1] !== '\\')) j += 1;
        pos = j + 1;
      }
    } else return null;
    if (s.charCodeAt(pos) === 32) pos += 1;
    if (s.charCodeAt(pos) === 0xfeff) pos += 1; // BOM allowed before MSG by RFC 5424 §6.4
    s = s.slice(pos);
  } else {
    // RFC 3164 (`Mmm dd hh:mm:ss [host] tag[pid]: msg`): header tokens never contain `{`.
    const brace = s.indexOf('{', i);
    if (brace < 0) return null;
    s = s.slice(brace);
  }
  s = s.replace(/[\r\n\0]+$/, '');
  return s.charCodeAt(0) === 123 ? s : null;
}

/**
 * `%{+Q}r` quotes the request line but does not JSON-escape `\` (HAProxy encodes `"` as `#22` but leaves `\`),
 * so a URI with a backslash breaks JSON.parse. `r` is last in the format and everything before it is safe,
 * so cut it out and re-encode it.
 */
function repairRequestLine(payload: string): unknown {
  const marker = ',"r":"';
  const at = payload.indexOf(marker);
  const end = payload.lastIndexOf('"}');
  if (at < 0 || end < at + marker.length - 1) return undefined;
  const raw = payload.slice(at + marker.length, end);
  try {
    return JSON.parse(`${payload.slice(0, at)},"r":${JSON.stringify(raw)}}`);
  } catch {
    return undefined;
  }
}

type Json = Record<string, unknown>;

class FieldError extends Error {
  constructor(
    readonly reason: 'missing_field' | 'bad_field',
    message: string,
  ) {
    super(message);
  }
}

function num(o: Json, key: string, fallback?: number): number {
  const v = o[key];
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new FieldError('missing_field', `field "${key}" missing`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FieldError('bad_field', `field "${key}" is not a number`);
  return v;
}

function str(o: Json, key: string): string {
  const v = o[key];
  if (v === undefined) throw new FieldError('missing_field', `field "${key}" missing`);
  if (typeof v !== 'string') throw new FieldError('bad_field', `field "${key}" is not a string`);
  return v;
}

function toRecord(o: Json): TrafficRecord {
  const t = num(o, 't');
  const backend = str(o, 'b');
  const isHttp = 'ST' in o || 'tsc' in o || 'r' in o;
  let method: string | null = null;
  let requestLine: string | null = null;
  if (isHttp) {
    requestLine = str(o, 'r');
    const hm = o.HM;
    if (typeof hm === 'string' && hm !== '' && hm !== '-') method = hm;
    else {
      const sp = requestLine.indexOf(' ');
      method = sp > 0 ? requestLine.slice(0, sp) : null;
    }
  }
  const time = new Date(Math.round(t * 1000));
  if (Number.isNaN(time.getTime())) throw new FieldError('bad_field', `field "t" (${t}) is not a valid time`);
  return {
    time,
    id: str(o, 'id'),
    clientIp: str(o, 'ci'),
    clientPort: num(o, 'cp'),
    frontend: str(o, 'ft'),
    backend,
    server: str(o, 's'),
    ...splitBackend(backend),
    mode: isHttp ? 'http' : 'tcp',
    timings: {
      Tq: num(o, 'Tq', isHttp ? undefined : -1),
      Tw: num(o, 'Tw'),
      Tc: num(o, 'Tc'),
      Tr: num(o, 'Tr', isHttp ? undefined : -1),
      Ta: num(o, 'Ta', isHttp ? undefined : -1),
      Tt: num(o, 'Tt'),
    },
    status: isHttp ? num(o, 'ST') : -1,
    bytesIn: num(o, 'U'),
    bytesOut: num(o, 'B'),
    terminationState: isHttp ? str(o, 'tsc') : str(o, 'ts'),
    connections: { active: num(o, 'ac'), frontend: num(o, 'fc'), backend: num(o, 'bc'), server: num(o, 'sc'), retries: num(o, 'rc') },
    queues: { server: num(o, 'sq'), backend: num(o, 'bq') },
    method,
    requestLine,
  };
}

/** Parses one syslog line (or bare JSON payload) in the Weir log format. Never throws. */
export function parseLogLine(line: string): ParseOutcome {
  if (line.length > MAX_LINE_BYTES || (line.length > MAX_LINE_BYTES / 3 && Buffer.byteLength(line) > MAX_LINE_BYTES)) {
    return fail('oversized', `line of ${line.length} chars exceeds ${MAX_LINE_BYTES} bytes`);
  }
  if (line.trim() === '') return fail('empty', 'empty line');
  const payload = syslogPayload(line);
  if (payload === null) {
    // A well-formed syslog header with a text message is one of HAProxy's own event lines.
    const event = /^<\d{1,3}>(?:1 \S+ \S+ \S+ \S+ \S+ (?:-|\[.*?\]) |[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ )(.*)$/.exec(line);
    if (event) return fail('haproxy_event', (event[1] ?? '').slice(0, 200));
    return fail('no_payload', `no JSON payload in line starting ${JSON.stringify(line.slice(0, 40))}`);
  }
  // Weir's own format, scanned without JSON.parse; anything else (or anything odd) takes the general path.
  const fast = scanRecord(payload);
  if (fast) return { ok: true, record: fast, payload, repaired: false };
  return parsePayloadJson(payload);
}

/** The general path: any key order, JSON escapes, the request-line repair; names what is wrong. Never throws. */
export function parsePayloadJson(payload: string): ParseOutcome {
  let parsed: unknown;
  let repaired = false;
  // HAProxy never emits JSON escapes, so any `\` is a literal from the URI: JSON.parse would either fail or,
  // worse, silently decode it (`\b` → backspace). Such payloads always take the repair path.
  if (payload.includes('\\')) {
    parsed = repairRequestLine(payload);
    repaired = true;
  } else {
    try {
      parsed = JSON.parse(payload);
    } catch {
      parsed = repairRequestLine(payload);
      repaired = true;
    }
  }
  if (parsed === undefined) return fail('invalid_json', `payload is not JSON (starts ${JSON.stringify(payload.slice(0, 40))})`);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('invalid_json', 'payload is not a JSON object');
  try {
    return { ok: true, record: toRecord(parsed as Json), payload, repaired };
  } catch (err) {
    if (err instanceof FieldError) return fail(err.reason, err.message);
    return fail('bad_field', err instanceof Error ? err.message : String(err));
  }
}

export interface Namespace {
  org: string;
  env: string;
}

/**
 * Stable Elasticsearch `_id`: the same line in the same namespace always hashes the same, so a re-sent line hits
 * `create` → 409 instead of a second document. Pass the outcome's `payload` (not the syslog line) so the UDP and
 * file paths agree on identity regardless of syslog header timestamps.
 */
export function documentId(record: TrafficRecord, payload: string, ns: Namespace): string {
  return createHash('sha256').update(`${ns.org}\u0000${ns.env}\u0000${record.id}\u0000${payload}`).digest('base64url').slice(0, 32);
}

export interface EcsDocument {
  '@timestamp': string;
  event: { id: string; kind: 'event'; category: string[]; dataset: 'weir.traffic'; outcome: 'success' | 'failure' | 'unknown'; duration?: number };
  source: { ip: string; port: number };
  http?: { request: { method?: string; id: string }; response: { status_code?: number; bytes: number } };
  url?: { original: string };
  network: { transport: 'tcp'; protocol?: 'http' };
  weir: { gateway: string | null; route: string | null; namespace: string; org: string; env: string; mode: 'http' | 'tcp' };
  agent: { id: string; type: 'weir' };
  haproxy: {
    request_id: string;
    frontend_name: string;
    backend_name: string;
    server_name: string;
    termination_state: string;
    bytes_read: number;
    bytes_uploaded: number;
    time_request_ms: number;
    time_queue_ms: number;
    time_connect_ms: number;
    time_response_ms: number;
    time_active_ms: number;
    time_total_ms: number;
    connections: TrafficRecord['connections'];
    server_queue: number;
    backend_queue: number;
  };
}

/** ECS-style document (field names follow Filebeat's HAProxy module where it has one). */
export function toEcsDocument(record: TrafficRecord, ns: Namespace, agentId: string, eventId?: string): EcsDocument {
  const http = record.mode === 'http';
  const outcome = !http ? (record.terminationState.startsWith('--') ? 'success' : 'unknown') : record.status < 0 ? 'failure' : record.status < 400 ? 'success' : 'failure';
  const requestLine = record.requestLine ?? '';
  // `GET /path HTTP/1.1` → `/path`; keep the whole line when it has no recognisable shape (e.g. `<BADREQ>`).
  const parts = requestLine.split(' ');
  const uri = parts.length >= 2 ? parts.slice(1, parts.length >= 3 ? -1 : undefined).join(' ') : requestLine;
  const doc: EcsDocument = {
    '@timestamp': record.time.toISOString(),
    event: { id: eventId ?? record.id, kind: 'event', category: http ? ['web', 'network'] : ['network'], dataset: 'weir.traffic', outcome },
    source: { ip: record.clientIp, port: record.clientPort },
    network: http ? { transport: 'tcp', protocol: 'http' } : { transport: 'tcp' },
    weir: { gateway: record.gateway, route: record.route, namespace: `${ns.org}-${ns.env}`, org: ns.org, env: ns.env, mode: record.mode },
    agent: { id: agentId, type: 'weir' },
    haproxy: {
      request_id: record.id,
      frontend_name: record.frontend,
      backend_name: record.backend,
      server_name: record.server,
      termination_state: record.terminationState,
      bytes_read: record.bytesOut,
      bytes_uploaded: record.bytesIn,
      time_request_ms: record.timings.Tq,
      time_queue_ms: record.timings.Tw,
      time_connect_ms: record.timings.Tc,
      time_response_ms: record.timings.Tr,
      time_active_ms: record.timings.Ta,
      time_total_ms: record.timings.Tt,
      connections: record.connections,
      server_queue: record.queues.server,
      backend_queue: record.queues.backend,
    },
  };
  if (record.timings.Tt >= 0) doc.event.duration = record.timings.Tt * 1_000_000;
  if (http) {
    doc.http = {
      request: { id: record.id, ...(record.method !== null ? { method: record.method } : {}) },
      response: { bytes: record.bytesOut, ...(record.status >= 0 ? { status_code: record.status } : {}) },
    };
    doc.url = { original: uri };
  }
  return doc;
}

export class NamespaceError extends Error {
  override name = 'NamespaceError';
}

/**
 * org/env become part of ES index names, which must be lower case and free of `\ / * ? " < > | , # :` and spaces
 * (ES "Create index API", path parameters). Checked once at setup so `indexName` cannot produce a rejected name.
 */
export function validateNamespace(ns: Namespace): void {
  for (const [k, v] of Object.entries(ns)) {
    if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(v)) throw new NamespaceError(`telemetry namespace ${k} ${JSON.stringify(v)}: use 1-63 of [a-z0-9_.-], starting with a letter or digit`);
  }
}

/** `weir-logs-<org>-<env>-YYYY.MM.DD`, by the UTC day of the record. */
export function indexName(ns: Namespace, time: Date): string {
  const d = time.toISOString();
  return `weir-logs-${ns.org}-${ns.env}-${d.slice(0, 4)}.${d.slice(5, 7)}.${d.slice(8, 10)}`;
}
