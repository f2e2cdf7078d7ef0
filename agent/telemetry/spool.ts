/**
 * Disk spool for records Elasticsearch could not take.
 *
 * Layout: `<dir>/seg-<16-digit seq>.wspool`, append-only. Each record is framed as
 * `u32be length | u32be crc32(payload) | payload (utf8)`. Reading stops at the first short or bad frame
 * (a torn write from a crash); the rest of that segment is counted as corrupt and discarded.
 *
 * fsync policy: every `append()` call is one write() followed by fdatasync() before it resolves, so a batch the
 * shipper has acknowledged as "spooled" survives power loss. New segment files also fsync the directory.
 * Callers batch (one append per bulk batch), which keeps the sync rate at batch rate, not record rate.
 *
 * Bound: total bytes <= maxBytes. When an append would pass it, the OLDEST segments are deleted (data loss,
 * counted via `onDrop` and logged at error level). Segments are deleted after replay only when `ack()` says
 * every record in them was delivered. After a restart, existing segments are replayed first, in order.
 */
import { open, readdir, readFile, rm, mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';

export class SpoolError extends Error {
  override name = 'SpoolError';
}

export interface SpoolOptions {
  dir: string;
  /** Upper bound on all segment files together. */
  maxBytes: number;
  /** A segment is sealed (no more appends) at this size. Default min(8 MiB, maxBytes/4). */
  segmentBytes?: number;
  logger?: Logger;
  /** Called with the number of records lost when the bound forces the oldest segments out. */
  onDrop?: (records: number) => void;
}

export interface SpoolSegment {
  readonly seq: number;
  readonly records: string[];
  /** Frames after a torn/corrupt one, which could not be read. */
  readonly corruptBytes: number;
}

interface SegmentInfo {
  seq: number;
  bytes: number;
  records: number;
}

const HEADER = 8;
const NAME = /^seg-(\d{16})\.wspool$/;
const fileName = (seq: number): string => `seg-${String(seq).padStart(16, '0')}.wspool`;

function decode(buf: Buffer): { records: string[]; corruptBytes: number } {
  const records: string[] = [];
  let pos = 0;
  while (pos + HEADER <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const sum = buf.readUInt32BE(pos + 4);
    if (pos + HEADER + len > buf.length) break;
    const payload = buf.subarray(pos + HEADER, pos + HEADER + len);
    if (crc32(payload) !== sum) break;
    records.push(payload.toString('utf8'));
    pos += HEADER + len;
  }
  return { records, corruptBytes: buf.length - pos };
}

export class Spool {
  private segments: SegmentInfo[] = [];
  private active: { info: SegmentInfo; fh: FileHandle } | null = null;
  private checkedOut = new Set<number>();
  private nextSeq = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  private readonly segmentBytes: number;
  droppedRecords = 0;

  private constructor(private readonly opts: SpoolOptions) {
    this.log = opts.logger ?? silentLogger();
    this.segmentBytes = opts.segmentBytes ?? Math.max(64 * 1024, Math.min(8 * 1024 * 1024, Math.floor(opts.maxBytes / 4)));
  }

  static async open(opts: SpoolOptions): Promise<Spool> {
    if (!(opts.maxBytes > 0)) throw new SpoolError(`spool ${opts.dir}: maxBytes must be > 0`);
    const s = new Spool(opts);
    await mkdir(opts.dir, { recursive: true });
    const names = (await readdir(opts.dir)).filter((n) => NAME.test(n)).sort();
    for (const n of names) {
      const seq = Number(NAME.exec(n)![1]);
      const buf = await readFile(join(opts.dir, n));
      const { records } = decode(buf);
      s.segments.push({ seq, bytes: buf.length, records: records.length });
      s.nextSeq = seq + 1;
    }
    if (names.length) s.log.info({ dir: opts.dir, segments: names.length, records: s.pendingRecords() }, 'spool: found segments from a previous run; replaying');
    return s;
  }

  private frameBuf: Buffer = Buffer.alloc(0);
  /** Serialises appends, reads and deletes: they touch the same segment list. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  pendingRecords(): number {
    return this.segments.reduce((n, s) => n + s.records, 0);
  }

  bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  segmentCount(): number {
    return this.segments.length;
  }

  private async seal(): Promise<void> {
    const a = this.active;
    this.active = null;
    if (a) await a.fh.close();
  }

  private async dropOldest(): Promise<boolean> {
    let victim = this.segments.find((s) => !this.checkedOut.has(s.seq) && s.seq !== this.active?.info.seq);
    if (!victim && this.active && this.active.info.records > 0 && !this.checkedOut.has(this.active.info.seq)) {
      victim = this.active.info;
      await this.seal();
    }
    if (!victim) return false;
    await rm(join(this.opts.dir, fileName(victim.seq)), { force: true });
    this.segments = this.segments.filter((s) => s !== victim);
    this.droppedRecords += victim.records;
    this.log.error(
      { dir: this.opts.dir, segment: fileName(victim.seq), records: victim.records, bytes: victim.bytes, maxBytes: this.opts.maxBytes },
      'spool full: DROPPED the oldest segment; these log records are lost',
    );
    this.opts.onDrop?.(victim.records);
    return true;
  }

  /**
   * Appends records durably (write + fdatasync). Drops the oldest segments first if the bound requires.
   * Records come as text or as their UTF-8 bytes (the shipper's slab views: copied once, never decoded).
   */
  append(records: ReadonlyArray<string | Uint8Array>): Promise<void> {
    return this.serial(async () => {
      if (records.length === 0) return;
      // One buffer for the whole batch, frames written in place: no per-record allocations.
      let total = 0;
      for (const r of records) total += HEADER + (typeof r === 'string' ? Buffer.byteLength(r, 'utf8') : r.length);
      // Written again for the next batch (appends are serial and the write is awaited): no 2 MiB allocation per batch.
      if (this.frameBuf.length < total) this.frameBuf = Buffer.allocUnsafeSlow(total);
      const buf = this.frameBuf.subarray(0, total);
      let off = 0;
      for (const r of records) {
        const start = off + HEADER;
        const len = typeof r === 'string' ? buf.write(r, start, 'utf8') : (buf.set(r, start), r.length);
        buf.writeUInt32BE(len, off);
        buf.writeUInt32BE(crc32(buf.subarray(start, start + len)), off + 4);
        off = start + len;
      }
      if (buf.length > this.opts.maxBytes) {
        this.droppedRecords += records.length;
        this.log.error({ dir: this.opts.dir, bytes: buf.length, maxBytes: this.opts.maxBytes }, 'spool: batch larger than the whole spool bound; DROPPED');
        this.opts.onDrop?.(records.length);
        return;
      }
      while (this.bytes() + buf.length > this.opts.maxBytes && (await this.dropOldest()));
      if (this.active && this.active.info.bytes + buf.length > this.segmentBytes && this.active.info.bytes > 0) await this.seal();
      if (!this.active) {
        const info: SegmentInfo = { seq: this.nextSeq++, bytes: 0, records: 0 };
        const fh = await open(join(this.opts.dir, fileName(info.seq)), 'ax');
        await syncDir(this.opts.dir);
        this.active = { info, fh };
        this.segments.push(info);
      }
      await this.active.fh.write(buf);
      await this.active.fh.datasync();
      this.active.info.bytes += buf.length;
      this.active.info.records += records.length;
    });
  }

  /** The oldest segment not already being replayed, sealing the active one if it is next. Null when empty. */
  next(): Promise<SpoolSegment | null> {
    return this.serial(async () => {
      const info = this.segments.find((s) => !this.checkedOut.has(s.seq));
      if (!info) return null;
      if (this.active?.info === info) await this.seal();
      const buf = await readFile(join(this.opts.dir, fileName(info.seq)));
      const { records, corruptBytes } = decode(buf);
      if (corruptBytes > 0) this.log.warn({ segment: fileName(info.seq), corruptBytes }, 'spool: torn or corrupt tail in segment; the unreadable part is skipped');
      this.checkedOut.add(info.seq);
      return { seq: info.seq, records, corruptBytes };
    });
  }

  /** Every record of the segment was delivered: delete it. */
  ack(segment: SpoolSegment): Promise<void> {
    return this.serial(async () => {
      this.checkedOut.delete(segment.seq);
      await rm(join(this.opts.dir, fileName(segment.seq)), { force: true });
      this.segments = this.segments.filter((s) => s.seq !== segment.seq);
    });
  }

  /** Replay failed: keep the segment for a later attempt. */
  release(segment: SpoolSegment): void {
    this.checkedOut.delete(segment.seq);
  }

  close(): Promise<void> {
    return this.serial(() => this.seal());
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
