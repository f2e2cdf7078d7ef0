/**
 * The byte form of the fast path (fast-record.ts): one left-to-right scan over the received bytes of a line in
 * Weir's own log-format, leaving numbers and the offsets of string values in one reused object. No string, Date
 * or record is made per line; what the metrics and the ECS document need is read or copied from these offsets
 * (ecs-bytes.ts). Those short-lived objects were most of the garbage, and the garbage collector most of the
 * agent's CPU per line.
 *
 * Anything the string path would treat in any way other than verbatim returns false, and the caller takes the
 * string path (decode → parseLogLine → EcsLineWriter), which then decides: a byte outside printable ASCII (UTF-8,
 * control characters), a `\`, a syslog structured-data element, a fraction anywhere but `t`, a `t` whose
 * fraction is not 3 digits, a key out of order. So the two paths give the same records and documents (tested).
 */

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const key = (k: string): Uint8Array => ascii(`"${k}":`);

const HEAD_KEYS = ['t', 'id', 'ci', 'cp', 'ft', 'b', 's'].map(key);
/** Numbers of the HTTP form, by position in `nums`; the two strings (tsc, HM) are separate. */
const HTTP_KEYS = ['Tq', 'Tw', 'Tc', 'Tr', 'Ta', 'Tt', 'ST', 'B', 'U', 'tsc', 'ac', 'fc', 'bc', 'sc', 'rc', 'sq', 'bq', 'HM'].map(key);
const TCP_KEYS = ['Tw', 'Tc', 'Tt', 'B', 'U', 'ts', 'ac', 'fc', 'bc', 'sc', 'rc', 'sq', 'bq'].map(key);
const HTTP_TSC = 9;
const HTTP_HM = 17;
const TCP_TS = 5;
const R_KEY = ascii('"r":"');

/** Indexes into `nums`, the same for both modes (TCP leaves Tq, Tr, Ta and ST at -1). */
export const N = { Tq: 0, Tw: 1, Tc: 2, Tr: 3, Ta: 4, Tt: 5, ST: 6, B: 7, U: 8, ac: 9, fc: 10, bc: 11, sc: 12, rc: 13, sq: 14, bq: 15 } as const;
const HTTP_SLOT = [N.Tq, N.Tw, N.Tc, N.Tr, N.Ta, N.Tt, N.ST, N.B, N.U, -1, N.ac, N.fc, N.bc, N.sc, N.rc, N.sq, N.bq, -1];
const TCP_SLOT = [N.Tw, N.Tc, N.Tt, N.B, N.U, -1, N.ac, N.fc, N.bc, N.sc, N.rc, N.sq, N.bq];

/** One scanned line; reused, valid until the next `scan`. Strings are [start, end) into `buf`. */
export class ByteLine {
  buf: Buffer = Buffer.alloc(0);
  http = false;
  /** `t`: whole seconds and milliseconds. */
  sec = 0;
  ms = 0;
  cp = 0;
  readonly nums = new Float64Array(16);
  idS = 0;
  idE = 0;
  ciS = 0;
  ciE = 0;
  ftS = 0;
  ftE = 0;
  bS = 0;
  bE = 0;
  sS = 0;
  sE = 0;
  /** tsc (HTTP) or ts (TCP). */
  tsS = 0;
  tsE = 0;
  hmS = 0;
  hmE = 0;
  /** The request line (HTTP). */
  rS = 0;
  rE = 0;

  private pos = 0;
  private end = 0;
  private num = 0;
  private strS = 0;
  private strE = 0;

  /** True when `buf[start, end)` is a syslog line (or bare payload) in Weir's exact format; false: take the string path. */
  scan(buf: Buffer, start: number, end: number): boolean {
    this.buf = buf;
    this.end = end;
    const p = payloadStart(buf, start, end);
    if (p < 0 || buf[end - 1] !== 125) return false;
    this.pos = p + 1;
    // t: seconds '.' three digits
    if (!this.key(HEAD_KEYS[0]!)) return false;
    if (!this.time()) return false;
    if (!this.str(HEAD_KEYS[1]!)) return false;
    this.idS = this.strS;
    this.idE = this.strE;
    if (!this.str(HEAD_KEYS[2]!)) return false;
    this.ciS = this.strS;
    this.ciE = this.strE;
    if (!this.int(HEAD_KEYS[3]!, false)) return false;
    this.cp = this.num;
    if (!this.str(HEAD_KEYS[4]!)) return false;
    this.ftS = this.strS;
    this.ftE = this.strE;
    if (!this.str(HEAD_KEYS[5]!)) return false;
    this.bS = this.strS;
    this.bE = this.strE;
    if (!this.str(HEAD_KEYS[6]!)) return false;
    this.sS = this.strS;
    this.sE = this.strE;
    const nums = this.nums;
    this.http = this.at(HTTP_KEYS[0]!);
    if (this.http) {
      for (let i = 0; i < HTTP_KEYS.length; i++) {
        const k = HTTP_KEYS[i]!;
        if (i === HTTP_TSC || i === HTTP_HM) {
          if (!this.str(k)) return false;
          if (i === HTTP_TSC) {
            this.tsS = this.strS;
            this.tsE = this.strE;
          } else {
            this.hmS = this.strS;
            this.hmE = this.strE;
          }
        } else {
          if (!this.int(k, false)) return false;
          nums[HTTP_SLOT[i]!] = this.num;
        }
      }
      // The request line runs to the closing `"}` and holds no quote.
      if (!this.at(R_KEY)) return false;
      const rS = this.pos + R_KEY.length;
      const rE = end - 2;
      if (rE < rS || buf[rE] !== 34) return false;
      for (let i = rS; i < rE; i++) {
        const c = buf[i]!;
        if (c < 32 || c > 126 || c === 34 || c === 92) return false;
      }
      this.rS = rS;
      this.rE = rE;
      return true;
    }
    nums[N.Tq] = -1;
    nums[N.Tr] = -1;
    nums[N.Ta] = -1;
    nums[N.ST] = -1;
    for (let i = 0; i < TCP_KEYS.length; i++) {
      const k = TCP_KEYS[i]!;
      const last = i === TCP_KEYS.length - 1;
      if (i === TCP_TS) {
        if (!this.str(k)) return false;
        this.tsS = this.strS;
        this.tsE = this.strE;
      } else {
        if (!this.int(k, last)) return false;
        nums[TCP_SLOT[i]!] = this.num;
      }
    }
    this.rS = this.rE = this.hmS = this.hmE = 0;
    return this.pos === end;
  }

  private at(k: Uint8Array): boolean {
    const b = this.buf;
    const p = this.pos;
    if (p + k.length > this.end) return false;
    for (let i = 0; i < k.length; i++) if (b[p + i] !== k[i]) return false;
    return true;
  }

  private key(k: Uint8Array): boolean {
    if (!this.at(k)) return false;
    this.pos += k.length;
    return true;
  }

  /** `"k":"value",`: printable ASCII without `"` or `\` inside. */
  private str(k: Uint8Array): boolean {
    if (!this.key(k)) return false;
    const b = this.buf;
    let p = this.pos;
    if (b[p] !== 34) return false;
    p += 1;
    const s = p;
    for (;;) {
      if (p >= this.end) return false;
      const c = b[p]!;
      if (c === 34) break;
      if (c < 32 || c > 126 || c === 92) return false;
      p += 1;
    }
    this.strS = s;
    this.strE = p;
    if (b[p + 1] !== 44) return false;
    this.pos = p + 2;
    return true;
  }

  /** `"k":-?digits` then `,` (or `}` when last); at most 15 digits, no fraction. */
  private int(k: Uint8Array, last: boolean): boolean {
    if (!this.key(k)) return false;
    const b = this.buf;
    let p = this.pos;
    const neg = b[p] === 45;
    if (neg) p += 1;
    const first = p;
    let v = 0;
    let c = b[p];
    while (c !== undefined && c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      p += 1;
      c = b[p];
    }
    if (p === first || p - first > 15 || p >= this.end) return false;
    if (c !== (last ? 125 : 44)) return false;
    this.num = neg ? -v : v;
    this.pos = p + 1;
    return true;
  }

  /** `seconds.mmm,` (HAProxy's `%Ts.%ms`). */
  private time(): boolean {
    const b = this.buf;
    let p = this.pos;
    const first = p;
    let v = 0;
    let c = b[p];
    while (c !== undefined && c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      p += 1;
      c = b[p];
    }
    if (p === first || p - first > 11 || c !== 46) return false;
    const d0 = b[p + 1]! - 48;
    const d1 = b[p + 2]! - 48;
    const d2 = b[p + 3]! - 48;
    if (!(d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || b[p + 4] !== 44) return false;
    this.sec = v;
    this.ms = d0 * 100 + d1 * 10 + d2;
    this.pos = p + 5;
    return true;
  }
}

/**
 * Where the `{` of the payload is, for the header forms the string path reads (syslogPayload): `<PRI>` then RFC
 * 5424 with `-` structured data, or RFC 3164 up to the first `{`, or a bare payload; -1 for anything else.
 */
export function payloadStart(b: Buffer, start: number, end: number): number {
  let i = start;
  if (b[i] === 60) {
    let gt = -1;
    for (let j = i + 2; j <= i + 4 && j < end; j++) {
      if (b[j] === 62) {
        gt = j;
        break;
      }
    }
    if (gt < 0) return -1;
    i = gt + 1;
  }
  if (b[i] === 49 && b[i + 1] === 32) {
    let pos = i + 2;
    for (let field = 0; field < 5; field += 1) {
      while (pos < end && b[pos] !== 32) pos += 1;
      if (pos >= end) return -1;
      pos += 1;
    }
    if (b[pos] !== 45 || b[pos + 1] !== 32 || b[pos + 2] !== 123) return -1;
    return pos + 2;
  }
  for (let j = i; j < end; j++) if (b[j] === 123) return j;
  return -1;
}
