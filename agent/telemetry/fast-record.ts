/**
 * The fast path of `parseLogLine`: Weir's own log-format (defaults.liquid, gateway-tcp.liquid) has its keys in
 * a fixed order and never needs a JSON escape, so a single left-to-right scan builds the record without
 * `JSON.parse` and its intermediate object (about half the cost of a line). Anything that does not match the
 * format exactly — another key order, an extra key, a `\`, a quote inside a value — returns null and takes the
 * general JSON path, which gives the same record (tested on generated lines) and names what is wrong.
 */
import type { TrafficRecord } from './log-record.js';

type Kind = 'n' | 's';
const HTTP: Array<[string, Kind]> = [['Tq', 'n'], ['Tw', 'n'], ['Tc', 'n'], ['Tr', 'n'], ['Ta', 'n'], ['Tt', 'n'], ['ST', 'n'], ['B', 'n'], ['U', 'n'], ['tsc', 's'], ['ac', 'n'], ['fc', 'n'], ['bc', 'n'], ['sc', 'n'], ['rc', 'n'], ['sq', 'n'], ['bq', 'n'], ['HM', 's']];
const TCP: Array<[string, Kind]> = [['Tw', 'n'], ['Tc', 'n'], ['Tt', 'n'], ['B', 'n'], ['U', 'n'], ['ts', 's'], ['ac', 'n'], ['fc', 'n'], ['bc', 'n'], ['sc', 'n'], ['rc', 'n'], ['sq', 'n'], ['bq', 'n']];
const HEAD: Array<[string, Kind]> = [['t', 'n'], ['id', 's'], ['ci', 's'], ['cp', 'n'], ['ft', 's'], ['b', 's'], ['s', 's']];
const NUMBER = /^-?\d+(?:\.\d+)?$/;

class Scan {
  pos = 1;
  readonly nums = new Map<string, number>();
  readonly strs = new Map<string, string>();
  constructor(readonly p: string) {}

  /** Reads `"key":value` followed by `,` (or `}` when `last`); false when the text is not exactly that. */
  field(key: string, kind: Kind, last: boolean): boolean {
    const p = this.p;
    if (p.charCodeAt(this.pos) !== 34 || !p.startsWith(key, this.pos + 1) || p.charCodeAt(this.pos + 1 + key.length) !== 34 || p.charCodeAt(this.pos + 2 + key.length) !== 58) return false;
    let at = this.pos + 3 + key.length;
    let end: number;
    if (kind === 's') {
      if (p.charCodeAt(at) !== 34) return false;
      at += 1;
      end = p.indexOf('"', at);
      if (end < 0) return false;
      this.strs.set(key, p.slice(at, end));
      end += 1;
    } else {
      end = at;
      while (end < p.length && p.charCodeAt(end) !== 44 && p.charCodeAt(end) !== 125) end += 1;
      const raw = p.slice(at, end);
      if (!NUMBER.test(raw)) return false;
      this.nums.set(key, Number(raw));
    }
    if (p.charCodeAt(end) !== (last ? 125 : 44)) return false;
    this.pos = end + 1;
    return true;
  }
}

/** `<gateway>:<route>` → both; null for `<NOSRV>` and names without a `:`. */
export function splitBackend(backend: string): { gateway: string | null; route: string | null } {
  if (backend === '<NOSRV>' || backend === '-' || backend === '') return { gateway: null, route: null };
  const colon = backend.indexOf(':');
  if (colon <= 0 || colon === backend.length - 1) return { gateway: null, route: null };
  return { gateway: backend.slice(0, colon), route: backend.slice(colon + 1) };
}

/** The record of a payload in Weir's exact log-format, or null (the caller falls back to JSON.parse). */
export function scanRecord(payload: string): TrafficRecord | null {
  if (payload.charCodeAt(0) !== 123 || payload.charCodeAt(payload.length - 1) !== 125 || payload.includes('\\')) return null;
  const s = new Scan(payload);
  for (const [k, kind] of HEAD) if (!s.field(k, kind, false)) return null;
  const http = payload.startsWith('"Tq":', s.pos);
  const rest = http ? HTTP : TCP;
  for (let i = 0; i < rest.length; i++) if (!s.field(rest[i]![0], rest[i]![1], !http && i === rest.length - 1)) return null;
  let requestLine: string | null = null;
  if (http) {
    // The request line runs to the closing `"}`; a quote inside it is not Weir's format.
    if (!payload.startsWith('"r":"', s.pos) || payload.charCodeAt(payload.length - 2) !== 34) return null;
    requestLine = payload.slice(s.pos + 5, payload.length - 2);
    if (requestLine.includes('"')) return null;
  } else if (s.pos !== payload.length) return null;
  const N = (k: string): number => s.nums.get(k) ?? 0;
  const S = (k: string): string => s.strs.get(k) ?? '';
  const time = new Date(Math.round(N('t') * 1000));
  if (Number.isNaN(time.getTime())) return null;
  let method: string | null = null;
  if (http) {
    const hm = S('HM');
    if (hm !== '' && hm !== '-') method = hm;
    else {
      const sp = requestLine!.indexOf(' ');
      method = sp > 0 ? requestLine!.slice(0, sp) : null;
    }
  }
  const backend = S('b');
  return {
    time,
    id: S('id'),
    clientIp: S('ci'),
    clientPort: N('cp'),
    frontend: S('ft'),
    backend,
    server: S('s'),
    ...splitBackend(backend),
    mode: http ? 'http' : 'tcp',
    timings: { Tq: http ? N('Tq') : -1, Tw: N('Tw'), Tc: N('Tc'), Tr: http ? N('Tr') : -1, Ta: http ? N('Ta') : -1, Tt: N('Tt') },
    status: http ? N('ST') : -1,
    bytesIn: N('U'),
    bytesOut: N('B'),
    terminationState: http ? S('tsc') : S('ts'),
    connections: { active: N('ac'), frontend: N('fc'), backend: N('bc'), server: N('sc'), retries: N('rc') },
    queues: { server: N('sq'), backend: N('bq') },
    method,
    requestLine,
  };
}
