/**
 * The bulk lines of a scanned line (line-bytes.ts), written byte by byte into shared slabs: the same bytes
 * EcsLineWriter.line gives for the same record (tested on generated lines), without building the record, the
 * line as a string and then its UTF-8 copy. Values are copied from the received bytes (the scan let through only
 * printable ASCII without `"` or `\`, which JSON carries verbatim), numbers written digit by digit, the constant
 * parts encoded once.
 *
 * A slab is 1 MiB; each document is a view into one. With a pool (the shipper's, slab-pool.ts) a slab is
 * written again once every line in it is indexed, spooled or dropped; without one it is freed when the last view
 * is collected.
 */
import { agentIdKey, type EcsLineContext } from './ecs-line.js';
import { N, type ByteLine } from './line-bytes.js';
import { SLAB_BYTES, type SlabPool } from './slab-pool.js';

/** Constant bytes of one document, with room to spare (namespace and agent id are added per writer). */
const FIXED_BYTES = 1400;

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const q = (s: string): string => JSON.stringify(s);

/** Largest |value| written as digits; beyond it (never from HAProxy) the caller takes the string path. */
export const MAX_EXACT = Number.MAX_SAFE_INTEGER;

export class EcsByteWriter {
  private slab: Buffer | null = null;
  private off = SLAB_BYTES;
  private readonly perLine: number;
  private sec = -1;
  private isoPrefix: Buffer = Buffer.alloc(0);
  private day = -1;
  private actionPrefix: Buffer = Buffer.alloc(0);

  private readonly idPrefix: Buffer;
  private readonly indexPrefix: string;
  private readonly c: Record<string, Buffer>;

  constructor(ctx: EcsLineContext, private readonly pool: SlabPool | null = null) {
    const { ns, agentId } = ctx;
    // The same pieces as EcsLineWriter, encoded once.
    this.idPrefix = enc(`"${agentIdKey(ns, agentId)}.`);
    this.indexPrefix = `weir-logs-${ns.org}-${ns.env}-`;
    const weirTail = `,"namespace":${q(`${ns.org}-${ns.env}`)},"org":${q(ns.org)},"env":${q(ns.env)}`;
    const agentPart = `"agent":{"id":${q(agentId)},"type":"weir"}`;
    this.c = {
      idEnd: enc('"}}\n{"@timestamp":"'),
      eventId: enc('","event":{"id":'),
      httpKind: enc('","kind":"event","category":["web","network"],"dataset":"weir.traffic","outcome":"'),
      tcpKind: enc('","kind":"event","category":["network"],"dataset":"weir.traffic","outcome":"'),
      success: enc('success"'),
      failure: enc('failure"'),
      unknown: enc('unknown"'),
      duration: enc(',"duration":'),
      source: enc('},"source":{"ip":"'),
      port: enc('","port":'),
      httpNet: enc('},"network":{"transport":"tcp","protocol":"http"},"weir":{"gateway":'),
      tcpNet: enc('},"network":{"transport":"tcp"},"weir":{"gateway":'),
      route: enc(',"route":'),
      null: enc('null'),
      httpTail: enc(`${weirTail},"mode":"http"},${agentPart},"haproxy":{"request_id":"`),
      tcpTail: enc(`${weirTail},"mode":"tcp"},${agentPart},"haproxy":{"request_id":"`),
      frontend: enc('","frontend_name":"'),
      backend: enc('","backend_name":"'),
      server: enc('","server_name":"'),
      ts: enc('","termination_state":"'),
      bytesRead: enc('","bytes_read":'),
      bytesUp: enc(',"bytes_uploaded":'),
      tq: enc(',"time_request_ms":'),
      tw: enc(',"time_queue_ms":'),
      tc: enc(',"time_connect_ms":'),
      tr: enc(',"time_response_ms":'),
      ta: enc(',"time_active_ms":'),
      tt: enc(',"time_total_ms":'),
      active: enc(',"connections":{"active":'),
      fc: enc(',"frontend":'),
      bc: enc(',"backend":'),
      sc: enc(',"server":'),
      rc: enc(',"retries":'),
      sq: enc('},"server_queue":'),
      bq: enc(',"backend_queue":'),
      httpReq: enc('},"http":{"request":{"id":"'),
      method: enc('","method":"'),
      respBytes: enc('"},"response":{"bytes":'),
      respBytesNoMethod: enc('},"response":{"bytes":'),
      status: enc(',"status_code":'),
      url: enc('}},"url":{"original":"'),
      httpEnd: enc('"}}\n'),
      tcpEnd: enc('}}\n'),
    };
    this.perLine = FIXED_BYTES + 2 * this.idPrefix.length + weirTail.length + agentPart.length;
  }

  /** The action line and the document line of `l`, each ending in `\n`, as a view into the current slab. */
  write(l: ByteLine): Buffer {
    // Every value is copied at most twice (the id three times, the request line's URI once): a safe bound.
    const need = this.perLine + 3 * (l.idE - l.idS) + 2 * (l.bE - l.bS) + (l.rE - l.rS) + (l.ciE - l.ciS) + (l.ftE - l.ftS) + (l.sE - l.sS) + (l.tsE - l.tsS) + (l.hmE - l.hmS);
    let b: Buffer;
    if (need > SLAB_BYTES) {
      // Never from HAProxy (lines are bounded far below): a buffer of its own, outside the pool.
      b = Buffer.allocUnsafe(need);
      const end = this.writeAt(l, b, 0);
      return b.subarray(0, end);
    }
    if (SLAB_BYTES - this.off < need || this.slab === null) {
      this.slab = this.pool ? this.pool.next(this.slab) : Buffer.allocUnsafe(SLAB_BYTES);
      this.off = 0;
    }
    b = this.slab;
    const start = this.off;
    this.off = this.writeAt(l, b, start);
    this.pool?.claim(b);
    return b.subarray(start, this.off);
  }

  /** Writes the bulk lines of `l` into `b` from `start`; returns the end offset. */
  private writeAt(l: ByteLine, b: Buffer, start: number): number {
    const src = l.buf;
    const c = this.c;
    const n = l.nums;
    let o = start;
    if (l.sec !== this.sec) this.second(l.sec);
    o = put(b, o, this.actionPrefix);
    o = put(b, o, this.idPrefix);
    o = copy(src, l.idS, l.idE, b, o);
    o = put(b, o, c.idEnd!);
    o = put(b, o, this.isoPrefix);
    b[o++] = 48 + ((l.ms / 100) | 0);
    b[o++] = 48 + (((l.ms / 10) | 0) % 10);
    b[o++] = 48 + (l.ms % 10);
    b[o++] = 90; // Z
    o = put(b, o, c.eventId!);
    o = put(b, o, this.idPrefix);
    o = copy(src, l.idS, l.idE, b, o);
    const tt = n[N.Tt]!;
    if (l.http) {
      o = put(b, o, c.httpKind!);
      const st = n[N.ST]!;
      o = put(b, o, st < 0 ? c.failure! : st < 400 ? c.success! : c.failure!);
    } else {
      o = put(b, o, c.tcpKind!);
      o = put(b, o, l.tsE - l.tsS >= 2 && src[l.tsS] === 45 && src[l.tsS + 1] === 45 ? c.success! : c.unknown!);
    }
    if (tt >= 0) {
      o = put(b, o, c.duration!);
      o = int(b, o, tt * 1_000_000);
    }
    o = put(b, o, c.source!);
    o = copy(src, l.ciS, l.ciE, b, o);
    o = put(b, o, c.port!);
    o = int(b, o, l.cp);
    o = put(b, o, l.http ? c.httpNet! : c.tcpNet!);
    // gateway and route from `<gateway>:<route>` (splitBackend): null for `<NOSRV>`, `-` and names without a `:`.
    const colon = backendColon(src, l.bS, l.bE);
    if (colon < 0) {
      o = put(b, o, c.null!);
      o = put(b, o, c.route!);
      o = put(b, o, c.null!);
    } else {
      b[o++] = 34;
      o = copy(src, l.bS, colon, b, o);
      b[o++] = 34;
      o = put(b, o, c.route!);
      b[o++] = 34;
      o = copy(src, colon + 1, l.bE, b, o);
      b[o++] = 34;
    }
    o = put(b, o, l.http ? c.httpTail! : c.tcpTail!);
    o = copy(src, l.idS, l.idE, b, o);
    o = put(b, o, c.frontend!);
    o = copy(src, l.ftS, l.ftE, b, o);
    o = put(b, o, c.backend!);
    o = copy(src, l.bS, l.bE, b, o);
    o = put(b, o, c.server!);
    o = copy(src, l.sS, l.sE, b, o);
    o = put(b, o, c.ts!);
    o = copy(src, l.tsS, l.tsE, b, o);
    o = put(b, o, c.bytesRead!);
    o = int(b, o, n[N.B]!);
    o = put(b, o, c.bytesUp!);
    o = int(b, o, n[N.U]!);
    o = put(b, o, c.tq!);
    o = int(b, o, n[N.Tq]!);
    o = put(b, o, c.tw!);
    o = int(b, o, n[N.Tw]!);
    o = put(b, o, c.tc!);
    o = int(b, o, n[N.Tc]!);
    o = put(b, o, c.tr!);
    o = int(b, o, n[N.Tr]!);
    o = put(b, o, c.ta!);
    o = int(b, o, n[N.Ta]!);
    o = put(b, o, c.tt!);
    o = int(b, o, tt);
    o = put(b, o, c.active!);
    o = int(b, o, n[N.ac]!);
    o = put(b, o, c.fc!);
    o = int(b, o, n[N.fc]!);
    o = put(b, o, c.bc!);
    o = int(b, o, n[N.bc]!);
    o = put(b, o, c.sc!);
    o = int(b, o, n[N.sc]!);
    o = put(b, o, c.rc!);
    o = int(b, o, n[N.rc]!);
    o = put(b, o, c.sq!);
    o = int(b, o, n[N.sq]!);
    o = put(b, o, c.bq!);
    o = int(b, o, n[N.bq]!);
    if (!l.http) {
      o = put(b, o, c.tcpEnd!);
    } else {
      o = put(b, o, c.httpReq!);
      o = copy(src, l.idS, l.idE, b, o);
      // The method: HM unless empty or `-`, else the request line up to its first space (none: no method).
      let mS = l.hmS;
      let mE = l.hmE;
      if (mE === mS || (mE - mS === 1 && src[mS] === 45)) {
        mS = l.rS;
        mE = indexOf(src, 32, l.rS, l.rE);
        if (mE <= mS) mE = mS;
      }
      if (mE > mS) {
        o = put(b, o, c.method!);
        o = copy(src, mS, mE, b, o);
        o = put(b, o, c.respBytes!);
      } else {
        b[o++] = 34;
        o = put(b, o, c.respBytesNoMethod!);
      }
      o = int(b, o, n[N.B]!);
      const st = n[N.ST]!;
      if (st >= 0) {
        o = put(b, o, c.status!);
        o = int(b, o, st);
      }
      o = put(b, o, c.url!);
      // `GET /path HTTP/1.1` → `/path`: between the first and the last space; the whole line without a space.
      const first = indexOf(src, 32, l.rS, l.rE);
      if (first < 0) o = copy(src, l.rS, l.rE, b, o);
      else {
        const last = lastIndexOf(src, 32, l.rS, l.rE);
        o = last === first ? copy(src, first + 1, l.rE, b, o) : copy(src, first + 1, last, b, o);
      }
      o = put(b, o, c.httpEnd!);
    }
    return o;
  }

  private second(sec: number): void {
    this.sec = sec;
    const iso = new Date(sec * 1000).toISOString();
    // `…:SS.000Z` → `…:SS.`; the milliseconds are written per line.
    this.isoPrefix = enc(iso.slice(0, iso.length - 4));
    const day = Math.floor(sec / 86_400);
    if (day !== this.day) {
      this.day = day;
      const d = iso.slice(0, 10);
      this.actionPrefix = enc(`{"create":{"_index":"${this.indexPrefix}${d.slice(0, 4)}.${d.slice(5, 7)}.${d.slice(8, 10)}","_id":`);
    }
  }
}

/** The `:` splitting a backend into gateway and route, or -1 when the name has none (see splitBackend). */
export function backendColon(b: Buffer, s: number, e: number): number {
  for (let i = s; i < e; i++) {
    if (b[i] === 58) return i === s || i === e - 1 ? -1 : i;
  }
  return -1;
}

function put(dst: Buffer, o: number, chunk: Buffer): number {
  const n = chunk.length;
  if (n > 48) {
    dst.set(chunk, o);
    return o + n;
  }
  for (let i = 0; i < n; i++) dst[o + i] = chunk[i]!;
  return o + n;
}

/** Short values byte by byte (a native copy costs more than the loop below ~32 bytes). */
function copy(src: Buffer, s: number, e: number, dst: Buffer, o: number): number {
  if (e - s > 32) return o + src.copy(dst, o, s, e);
  for (let i = s; i < e; i++) dst[o++] = src[i]!;
  return o;
}

function int(dst: Buffer, o: number, v: number): number {
  if (v < 0) {
    dst[o++] = 45;
    v = -v;
  }
  if (v < 10) {
    dst[o++] = 48 + v;
    return o;
  }
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits += 1;
  let p = o + digits - 1;
  for (let x = v; p >= o; p--) {
    dst[p] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  return o + digits;
}

function indexOf(b: Buffer, c: number, s: number, e: number): number {
  for (let i = s; i < e; i++) if (b[i] === c) return i;
  return -1;
}

function lastIndexOf(b: Buffer, c: number, s: number, e: number): number {
  for (let i = e - 1; i >= s; i--) if (b[i] === c) return i;
  return -1;
}
