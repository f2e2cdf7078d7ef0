/**
 * The shipper's in-memory queue. Lines of the byte path arrive as views written one after another into the same
 * slab (ecs-bytes.ts); consecutive ones are held as one run — the slab, where the run starts, and where each
 * line ends — and become views again only when a batch is taken.
 *
 * Why: a view and its queue entry are ~100 bytes of heap per line that live until their batch is acknowledged,
 * long enough to be promoted out of the young generation; at 25k lines/s that was ~2.5 MB/s of old-generation
 * growth and the full collections it brings. A run costs one small integer per line.
 */
import type { ShipItem } from './es-shipper.js';

interface Run {
  ab: ArrayBufferLike;
  /** Start of the next line not yet taken. */
  pos: number;
  /** End offset of each line, in order; `next` indexes the first not yet taken. */
  ends: number[];
  next: number;
}

type Entry<A> = { item: ShipItem<A> } | { run: Run };

export class LineQueue<A> {
  private entries: Array<Entry<A>> = [];
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: ShipItem<A>): void {
    this.count += 1;
    const line = item.line;
    if (typeof line === 'string' || item.ack !== undefined) {
      this.entries.push({ item });
      return;
    }
    const last = this.entries.length > this.head ? this.entries[this.entries.length - 1]! : null;
    if (last && 'run' in last) {
      const r = last.run;
      if (r.ab === line.buffer && r.ends[r.ends.length - 1] === line.byteOffset) {
        r.ends.push(line.byteOffset + line.length);
        return;
      }
    }
    this.entries.push({ run: { ab: line.buffer, pos: line.byteOffset, ends: [line.byteOffset + line.length], next: 0 } });
  }

  /** Up to `n` items from the front, in order (runs become views again). */
  take(n: number): ShipItem<A>[] {
    const out: ShipItem<A>[] = [];
    while (out.length < n && this.head < this.entries.length) {
      const e = this.entries[this.head]!;
      if ('item' in e) {
        out.push(e.item);
        this.head += 1;
        continue;
      }
      const r = e.run;
      while (out.length < n && r.next < r.ends.length) {
        const end = r.ends[r.next]!;
        out.push({ line: Buffer.from(r.ab, r.pos, end - r.pos) });
        r.pos = end;
        r.next += 1;
      }
      if (r.next === r.ends.length) this.head += 1;
    }
    this.count -= out.length;
    // Drop taken entries now and then, not on every take (a shift per entry would be quadratic).
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    } else if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    }
    return out;
  }
}
