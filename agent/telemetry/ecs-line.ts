/**
 * A traffic record → the two NDJSON lines of its bulk `create` (action + ECS document), written directly as a
 * string: the same document `toEcsDocument` describes, byte for byte what `JSON.stringify` would give (tested),
 * without building the object and serialising it again (that was most of a line's cost).
 *
 * `_id`: the agent's key (a short hash of namespace and agent id, computed once) + HAProxy's request id (the
 * log-format's unique id: client address and port, frontend address and port, accept second, the worker's
 * request counter and pid — unique per request per worker). Deterministic without a hash per line: a line
 * read or sent again (retry, spool replay, file re-read) is the same document, a 409 on `create`.
 */
import { createHash } from 'node:crypto';
import type { Namespace, TrafficRecord } from './log-record.js';

/** Characters a JSON string cannot hold raw (and lone surrogates, which JSON.stringify escapes). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const q = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);
const qn = (s: string | null): string => (s === null ? 'null' : q(s));

export interface EcsLineContext {
  ns: Namespace;
  agentId: string;
}

/** The per-agent part of every `_id`. */
export function agentIdKey(ns: Namespace, agentId: string): string {
  return createHash('sha256').update(`${ns.org}\u0000${ns.env}\u0000${agentId}`).digest('base64url').slice(0, 11);
}

export const logDocumentId = (key: string, record: TrafficRecord): string => `${key}.${record.id}`;

/** Builds bulk lines for one agent: constant parts (namespace, agent) are encoded once. */
export class EcsLineWriter {
  private readonly key: string;
  private readonly weirTail: string;
  private readonly agentPart: string;
  private readonly indexPrefix: string;
  private dayCache = { day: '', index: '' };

  constructor(ctx: EcsLineContext) {
    const { ns, agentId } = ctx;
    this.key = agentIdKey(ns, agentId);
    this.weirTail = `,"namespace":${q(`${ns.org}-${ns.env}`)},"org":${q(ns.org)},"env":${q(ns.env)}`;
    this.agentPart = `"agent":{"id":${q(agentId)},"type":"weir"}`;
    this.indexPrefix = `weir-logs-${ns.org}-${ns.env}-`;
  }

  /** The document's `_id` (also its `event.id`). */
  id(record: TrafficRecord): string {
    return logDocumentId(this.key, record);
  }

  /** Action line + document line, each ending in `\n`. */
  line(record: TrafficRecord): string {
    const iso = record.time.toISOString();
    const day = iso.slice(0, 10);
    if (day !== this.dayCache.day) this.dayCache = { day, index: `${this.indexPrefix}${day.slice(0, 4)}.${day.slice(5, 7)}.${day.slice(8, 10)}` };
    const id = q(logDocumentId(this.key, record));
    const http = record.mode === 'http';
    const t = record.timings;
    const outcome = !http ? (record.terminationState.startsWith('--') ? 'success' : 'unknown') : record.status < 0 ? 'failure' : record.status < 400 ? 'success' : 'failure';
    const c = record.connections;
    let doc =
      `{"@timestamp":"${iso}","event":{"id":${id},"kind":"event","category":${http ? '["web","network"]' : '["network"]'},"dataset":"weir.traffic","outcome":"${outcome}"` +
      (t.Tt >= 0 ? `,"duration":${t.Tt * 1_000_000}` : '') +
      `},"source":{"ip":${q(record.clientIp)},"port":${record.clientPort}},"network":${http ? '{"transport":"tcp","protocol":"http"}' : '{"transport":"tcp"}'}` +
      `,"weir":{"gateway":${qn(record.gateway)},"route":${qn(record.route)}${this.weirTail},"mode":"${record.mode}"},${this.agentPart}` +
      `,"haproxy":{"request_id":${q(record.id)},"frontend_name":${q(record.frontend)},"backend_name":${q(record.backend)},"server_name":${q(record.server)},"termination_state":${q(record.terminationState)}` +
      `,"bytes_read":${record.bytesOut},"bytes_uploaded":${record.bytesIn},"time_request_ms":${t.Tq},"time_queue_ms":${t.Tw},"time_connect_ms":${t.Tc},"time_response_ms":${t.Tr},"time_active_ms":${t.Ta},"time_total_ms":${t.Tt}` +
      `,"connections":{"active":${c.active},"frontend":${c.frontend},"backend":${c.backend},"server":${c.server},"retries":${c.retries}},"server_queue":${record.queues.server},"backend_queue":${record.queues.backend}}`;
    if (http) {
      const requestLine = record.requestLine ?? '';
      // `GET /path HTTP/1.1` → `/path`; the whole line when it has no recognisable shape (e.g. `<BADREQ>`).
      // (What split(' ') and joining the middle parts gives, without the array: between the first and last space.)
      const first = requestLine.indexOf(' ');
      const last = requestLine.lastIndexOf(' ');
      const uri = first < 0 ? requestLine : last === first ? requestLine.slice(first + 1) : requestLine.slice(first + 1, last);
      doc +=
        `,"http":{"request":{"id":${q(record.id)}${record.method !== null ? `,"method":${q(record.method)}` : ''}},"response":{"bytes":${record.bytesOut}${record.status >= 0 ? `,"status_code":${record.status}` : ''}}}` +
        `,"url":{"original":${q(uri)}}`;
    }
    return `{"create":{"_index":"${this.dayCache.index}","_id":${id}}}\n${doc}}\n`;
  }
}

/** The bulk lines of any document (`create`: a document already there is a 409, not a second copy). */
export function bulkLine(index: string, id: string, document: unknown): string {
  return `${JSON.stringify({ create: { _index: index, _id: id } })}\n${JSON.stringify(document)}\n`;
}
