/**
 * Tails one log file (e.g. what rsyslog writes) with byte offsets that advance only after delivery.
 *
 * - Identity is a fingerprint (sha256 of the first `fingerprintBytes`, or of all of a shorter file), not the
 *   inode: inode reuse after rotation made Filebeat read from wrong offsets (beats#1341, #6984).
 * - Rotation by rename: the old descriptor is drained to EOF, then the new file at `path` is read from 0.
 *   Rotation by copy-truncate: size below our offset, or a changed fingerprint, restarts at 0.
 * - Offsets: a line's ack is its end offset. The committed offset is the highest one with every earlier line
 *   acked (acks may arrive out of order when a bulk item is retried). It is persisted atomically (temp file,
 *   fsync, rename, fsync dir) at most every `persistIntervalMs` and on stop; after a restart reading resumes
 *   there, so unacked lines are re-sent (at-least-once; deterministic `_id`s make that harmless).
 * - Limit: lines that were read from a file already rotated away but not acked before a restart are not
 *   re-read (rotated files are not discovered).
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';

export interface TailAck {
  generation: number;
  offset: number;
}

export interface TailLine {
  line: string;
  ack: TailAck;
}

export interface FileTailerOptions {
  path: string;
  /** Where the committed offset is kept (JSON). */
  statePath: string;
  fingerprintBytes?: number;
  pollIntervalMs?: number;
  /** Longer lines are skipped (counted in `stats().skippedLines`). Default 64 KiB. */
  maxLineBytes?: number;
  persistIntervalMs?: number;
  /** Awaited before reading on: this is the backpressure (e.g. `for (l of lines) await shipper.push(...)`). */
  onLines: (lines: TailLine[]) => Promise<void>;
  logger?: Logger;
}

interface PersistedState {
  version: 1;
  fingerprint: string;
  fingerprintLength: number;
  offset: number;
}

interface Current {
  fh: FileHandle;
  ino: number;
  generation: number;
  fingerprint: string;
  fingerprintLength: number;
  readOffset: number;
  /** End offsets emitted and not yet committed, in file order. */
  pending: number[];
  acked: Set<number>;
  committed: number;
}

export class FileTailerError extends Error {
  override name = 'FileTailerError';
}

async function fingerprintOf(fh: FileHandle, length: number): Promise<string> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, 0);
  return createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex');
}

export class FileTailer {
  private cur: Current | null = null;
  private generation = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private ticking: Promise<void> = Promise.resolve();
  private dirty = false;
  private lastPersist = 0;
  private saved: PersistedState | null = null;
  private readonly log: Logger;
  private readonly fpBytes: number;
  private readonly maxLine: number;
  private skipping = false;
  private readonly counters = { lines: 0, skippedLines: 0, rotations: 0, truncations: 0 };

  constructor(private readonly opts: FileTailerOptions) {
    this.log = opts.logger ?? silentLogger();
    this.fpBytes = opts.fingerprintBytes ?? 1024;
    this.maxLine = opts.maxLineBytes ?? 64 * 1024;
  }

  async start(): Promise<void> {
    try {
      const s = JSON.parse(await readFile(this.opts.statePath, 'utf8')) as PersistedState;
      if (s.version === 1 && typeof s.offset === 'number' && typeof s.fingerprint === 'string') this.saved = s;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, statePath: this.opts.statePath }, 'file tailer: unreadable offsets file; starting from the beginning');
    }
    this.running = true;
    this.schedule(0);
  }

  stats(): { lines: number; skippedLines: number; rotations: number; truncations: number; readOffset: number; committed: number } {
    return { ...this.counters, readOffset: this.cur?.readOffset ?? 0, committed: this.cur?.committed ?? this.saved?.offset ?? 0 };
  }

  /** Delivery acknowledgements (from the shipper's onAck). Acks for a file no longer current are ignored. */
  ack(acks: TailAck[]): void {
    const c = this.cur;
    if (!c) return;
    for (const a of acks) if (a.generation === c.generation) c.acked.add(a.offset);
    let moved = false;
    while (c.pending.length && c.acked.has(c.pending[0]!)) {
      const off = c.pending.shift()!;
      c.acked.delete(off);
      c.committed = off;
      moved = true;
    }
    if (moved) this.dirty = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await this.persist(true);
    await this.cur?.fh.close();
    this.cur = null;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((err: unknown) => this.log.error({ err, path: this.opts.path }, 'file tailer: read failed; retrying'))
        .finally(() => this.schedule(this.opts.pollIntervalMs ?? 250));
    }, ms);
  }

  private async openCurrent(): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.opts.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const st = await fh.stat();
    this.generation += 1;
    const c: Current = { fh, ino: st.ino, generation: this.generation, fingerprint: '', fingerprintLength: 0, readOffset: 0, pending: [], acked: new Set(), committed: 0 };
    const s = this.saved;
    this.saved = null; // only the first open after a restart resumes
    if (s && st.size >= s.fingerprintLength && st.size >= s.offset && (await fingerprintOf(fh, s.fingerprintLength)) === s.fingerprint) {
      c.readOffset = c.committed = s.offset;
      this.log.info({ path: this.opts.path, offset: s.offset }, 'file tailer: resuming at the committed offset');
    } else if (s) {
      this.log.info({ path: this.opts.path }, 'file tailer: file identity changed since the last run; reading from the start');
    }
    c.fingerprintLength = Math.min(this.fpBytes, st.size);
    c.fingerprint = await fingerprintOf(fh, c.fingerprintLength);
    this.cur = c;
    this.dirty = true;
    return true;
  }

  /** Reads complete lines from the current offset to EOF, emitting them; returns bytes consumed. */
  private async drain(c: Current): Promise<number> {
    const chunk = Buffer.alloc(Math.max(this.maxLine + 1, 64 * 1024));
    let consumed = 0;
    for (;;) {
      const { bytesRead } = await c.fh.read(chunk, 0, chunk.length, c.readOffset);
      if (bytesRead === 0) break;
      const lines: TailLine[] = [];
      let start = 0;
      for (let nl = chunk.indexOf(10, 0); nl >= 0 && nl < bytesRead; nl = chunk.indexOf(10, start)) {
        const end = c.readOffset + nl + 1;
        if (this.skipping) this.skipping = false;
        else if (nl - start > this.maxLine) this.counters.skippedLines += 1;
        else {
          const text = chunk.toString('utf8', start, nl > start && chunk[nl - 1] === 13 ? nl - 1 : nl);
          if (text !== '') lines.push({ line: text, ack: { generation: c.generation, offset: end } });
        }
        c.pending.push(end);
        start = nl + 1;
      }
      if (start === 0 && bytesRead === chunk.length) {
        // A line longer than the buffer: skip it whole, up to its newline.
        if (!this.skipping) this.counters.skippedLines += 1;
        this.skipping = true;
        start = bytesRead;
        c.pending.push(c.readOffset + start);
      }
      if (start === 0) break; // only a partial line so far: wait for its newline
      // Skipped/empty lines need no delivery: ack them now so they never hold the offset back.
      const emitted = new Set(lines.map((l) => l.ack.offset));
      const noDelivery = c.pending.filter((o) => o > c.readOffset && o <= c.readOffset + start && !emitted.has(o));
      c.readOffset += start;
      consumed += start;
      this.counters.lines += lines.length;
      if (lines.length) await this.opts.onLines(lines);
      if (noDelivery.length) this.ack(noDelivery.map((offset) => ({ generation: c.generation, offset })));
      if (!this.running) break;
    }
    return consumed;
  }

  /** Copy-truncate or in-place replacement: checked BEFORE each read, so we never read new content at an old offset. */
  private async checkInPlace(c: Current): Promise<void> {
    const size = (await c.fh.stat()).size;
    const fpNow = size >= c.fingerprintLength ? await fingerprintOf(c.fh, c.fingerprintLength) : null;
    if (size < c.readOffset || fpNow !== c.fingerprint) {
      this.counters.truncations += 1;
      this.log.info({ path: this.opts.path, size, offset: c.readOffset }, 'file tailer: file truncated or replaced in place (copytruncate); reading from the start');
      this.generation += 1;
      Object.assign(c, { generation: this.generation, readOffset: 0, committed: 0, pending: [], acked: new Set<number>() });
      this.skipping = false;
      c.fingerprintLength = Math.min(this.fpBytes, size);
      c.fingerprint = await fingerprintOf(c.fh, c.fingerprintLength);
      this.dirty = true;
    } else if (c.fingerprintLength < this.fpBytes && size > c.fingerprintLength) {
      // Grow a short fingerprint as the file grows, so identity gets stronger.
      c.fingerprintLength = Math.min(this.fpBytes, size);
      c.fingerprint = await fingerprintOf(c.fh, c.fingerprintLength);
      this.dirty = true;
    }
  }

  private async tick(): Promise<void> {
    if (!this.cur && !(await this.openCurrent())) return;
    const c = this.cur!;
    await this.checkInPlace(c);
    await this.drain(c);
    let st;
    try {
      st = await stat(this.opts.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      st = null; // rotated away and not recreated yet: keep the old descriptor until a new file appears
    }
    if (st && st.ino !== c.ino) {
      await this.drain(c); // a writer may have appended between our last read and its reopen
      this.counters.rotations += 1;
      this.log.info({ path: this.opts.path, offset: c.readOffset }, 'file tailer: file rotated (renamed); switching to the new file');
      await c.fh.close();
      this.cur = null;
      this.skipping = false;
      if (await this.openCurrent()) await this.drain(this.cur!);
    }
    await this.persist(false);
  }

  private async persist(force: boolean): Promise<void> {
    const c = this.cur;
    if (!c || !this.dirty) return;
    if (!force && Date.now() - this.lastPersist < (this.opts.persistIntervalMs ?? 1000)) return;
    this.dirty = false;
    this.lastPersist = Date.now();
    // The committed offset must lie inside the fingerprinted prefix's file, which it does: both are of `c`.
    const state: PersistedState = { version: 1, fingerprint: c.fingerprint, fingerprintLength: c.fingerprintLength, offset: c.committed };
    const tmp = `${this.opts.statePath}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(state), { flush: true }); // flush: fsync before close (Node ≥ 20.10)
    await rename(tmp, this.opts.statePath);
    const dir = await open(dirname(this.opts.statePath), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
