/**
 * The fast path of `parseLogLine`: Weir's own log-format (defaults.liquid, gateway-tcp.liquid) has its keys in
 * a fixed order and never needs a JSON escape, so a single left-to-right scan builds the record without
 * `JSON.parse` and its intermediate object (about half the cost of a line). Anything that does not match the
 * format exactly — another key order, an extra key, a `\`, a quote inside a value — returns null and takes the
 * general JSON path, which gives the same record (tested on generated lines) and names what is wrong.
 */
import type { TrafficRecord } from './log-record.js';

type Kind = 'n' | 's';
type Field = [key: string, kind: Kind, quotedKey: string];
const spec = (fields: Array<[string, Kind]>): Field[] => fields.map(([k, kind]) => [k, kind, `"${k}":`]);
const HTTP = spec([['Tq', 'n'], ['Tw', 'n'], ['Tc', 'n'], ['Tr', 'n'], ['Ta', 'n'], ['Tt', 'n'], ['ST', 'n'], ['B', 'n'], ['U', 'n'], ['tsc', 's'], ['ac', 'n'], ['fc', 'n'], ['bc', 'n'], ['sc', 'n'], ['rc', 'n'], ['sq', 'n'], ['bq', 'n'], ['HM', 's']]);
const TCP = spec([['Tw', 'n'], ['Tc', 'n'], ['Tt', 'n'], ['B', 'n'], ['U', 'n'], ['ts', 's'], ['ac', 'n'], ['fc', 'n'], ['bc', 'n'], ['sc', 'n'], ['rc', 'n'], ['sq', 'n'], ['bq', 'n']]);
const HEAD = spec([['t', 'n'], ['id', 's'], ['ci', 's'], ['cp', 'n'], ['ft', 's'], ['b', 's'], ['s', 's']]);
const NUMBER = /^-?\d+(?:\.\d+)?$/;

/**
 * One left-to-right pass; each field's value is left in `num`/`str` for the caller to take (no per-line maps:
 * this runs for every request). Integers are read digit by digit; anything with a fraction goes through
 * `Number` after the same shape check as the general path.
 */
class Scan {
  pos = 1;
  num = 0;
  str = '';
  constructor(readonly p: string) {}

  /** Reads `"key":value` followed by `,` (or `}` when `last`) into `num`/`str`; false when the text is not exactly that. */
  field(f: Field, last: boolean): boolean {
    const p = this.p;
    if (!p.startsWith(f[2], this.pos)) return false;
    let at = this.pos + f[2].length;
    let end: number;
    if (f[1] === 's') {
      if (p.charCodeAt(at) !== 34) return false;
      at += 1;
      end = p.indexOf('"', at);
      if (end < 0) return false;
      this.str = p.slice(at, end);
      end += 1;
    } else {
      end = at;
      const neg = p.charCodeAt(end) === 45;
      if (neg) end += 1;
      let v = 0;
      let c = p.charCodeAt(end);
      const first = end;
      while (c >= 48 && c <= 57) {
        v = v * 10 + (c - 48);
        end += 1;
        c = p.charCodeAt(end);
      }
      if (end === first || end - first > 15) return false;
      if (c === 46) {
        while (end < p.length && p.charCodeAt(end) !== 44 && p.charCodeAt(end) !== 125) end += 1;
        const raw = p.slice(at, end);
        if (!NUMBER.test(raw)) return false;
        v = Number(raw);
      } else if (neg) v = -v;
      this.num = v;
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
  // HEAD: t id ci cp ft b s
  if (!s.field(HEAD[0]!, false)) return null;
  const t = s.num;
  if (!s.field(HEAD[1]!, false)) return null;
  const id = s.str;
  if (!s.field(HEAD[2]!, false)) return null;
  const clientIp = s.str;
  if (!s.field(HEAD[3]!, false)) return null;
  const clientPort = s.num;
  if (!s.field(HEAD[4]!, false)) return null;
  const frontend = s.str;
  if (!s.field(HEAD[5]!, false)) return null;
  const backend = s.str;
  if (!s.field(HEAD[6]!, false)) return null;
  const server = s.str;
  const http = payload.startsWith('"Tq":', s.pos);
  const rest = http ? HTTP : TCP;
  // The numbers by field position; s1 the termination state, s2 the method.
  const nums = new Array<number>(rest.length);
  let s1 = '';
  let s2 = '';
  for (let i = 0; i < rest.length; i++) {
    const f = rest[i]!;
    if (!s.field(f, !http && i === rest.length - 1)) return null;
    if (f[1] === 'n') nums[i] = s.num;
    else if (f[0] === 'HM') s2 = s.str;
    else s1 = s.str; // tsc (HTTP) or ts (TCP)
  }
  let requestLine: string | null = null;
  if (http) {
    // The request line runs to the closing `"}`; a quote inside it is not Weir's format.
    if (!payload.startsWith('"r":"', s.pos) || payload.charCodeAt(payload.length - 2) !== 34) return null;
    requestLine = payload.slice(s.pos + 5, payload.length - 2);
    if (requestLine.includes('"')) return null;
  } else if (s.pos !== payload.length) return null;
  const time = new Date(Math.round(t * 1000));
  if (Number.isNaN(time.getTime())) return null;
  const { gateway, route } = splitBackend(backend);
  if (http) {
    // Tq Tw Tc Tr Ta Tt ST B U tsc ac fc bc sc rc sq bq HM
    const hm = s2;
    let method: string | null;
    if (hm !== '' && hm !== '-') method = hm;
    else {
      const sp = requestLine!.indexOf(' ');
      method = sp > 0 ? requestLine!.slice(0, sp) : null;
    }
    return {
      time, id, clientIp, clientPort, frontend, backend, server, gateway, route, mode: 'http',
      timings: { Tq: nums[0]!, Tw: nums[1]!, Tc: nums[2]!, Tr: nums[3]!, Ta: nums[4]!, Tt: nums[5]! },
      status: nums[6]!, bytesIn: nums[8]!, bytesOut: nums[7]!, terminationState: s1,
      connections: { active: nums[10]!, frontend: nums[11]!, backend: nums[12]!, server: nums[13]!, retries: nums[14]! },
      queues: { server: nums[15]!, backend: nums[16]! },
      method, requestLine,
    };
  }
  // Tw Tc Tt B U ts ac fc bc sc rc sq bq
  return {
    time, id, clientIp, clientPort, frontend, backend, server, gateway, route, mode: 'tcp',
    timings: { Tq: -1, Tw: nums[0]!, Tc: nums[1]!, Tr: -1, Ta: -1, Tt: nums[2]! },
    status: -1, bytesIn: nums[4]!, bytesOut: nums[3]!, terminationState: s1,
    connections: { active: nums[6]!, frontend: nums[7]!, backend: nums[8]!, server: nums[9]!, retries: nums[10]! },
    queues: { server: nums[11]!, backend: nums[12]! },
    method: null, requestLine: null,
  };
}
