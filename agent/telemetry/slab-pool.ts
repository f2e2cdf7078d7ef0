/**
 * Reusable 1 MiB slabs for bulk lines (ecs-bytes.ts writes documents into them; the shipper's queue holds views).
 *
 * Why: at 25k lines/s the documents fill ~22 MiB of slabs per second. Left to the garbage collector, a slab's
 * memory comes back only when a full collection finds its last view dead, so the agent carried tens of MiB of
 * dead slabs (BENCHMARKS.md "Log pipeline", ship-memory: the "external" column). The shipper knows exactly when
 * a line is done — indexed, spooled, or dropped — and says so here; a slab whose views are all done and that
 * the writer has moved past goes back to a short free list and is written again.
 *
 * Contract: every view handed out by `claim` is `release`d once, after which nothing reads it. Views of other
 * buffers (string lines encoded elsewhere, oversized slabs) are ignored by `release`.
 */
export const SLAB_BYTES = 1 << 20;

interface Slab {
  buf: Buffer;
  /** Views claimed and not yet released. */
  out: number;
  /** The writer has moved on: no more claims. */
  retired: boolean;
}

export interface SlabPoolStats {
  allocated: number;
  reused: number;
  free: number;
  live: number;
}

export class SlabPool {
  private readonly live = new Map<ArrayBufferLike, Slab>();
  private readonly free: Buffer[] = [];
  private readonly stats_ = { allocated: 0, reused: 0 };

  constructor(private readonly maxFree = 8) {}

  /** A slab to write into (a recycled one when there is one); the previous current slab is retired. */
  next(previous: Buffer | null): Buffer {
    if (previous) this.retire(previous);
    let buf = this.free.pop();
    if (buf) this.stats_.reused += 1;
    else {
      // Its own ArrayBuffer (never Node's shared pool), so `.buffer` identifies the slab.
      buf = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.stats_.allocated += 1;
    }
    this.live.set(buf.buffer, { buf, out: 0, retired: false });
    return buf;
  }

  /** One more view of `slab` is out. */
  claim(slab: Buffer): void {
    const s = this.live.get(slab.buffer);
    if (s) s.out += 1;
  }

  /** `view` is done with: indexed, spooled or dropped. */
  release(view: Buffer | string): void {
    if (typeof view === 'string') return;
    const s = this.live.get(view.buffer);
    if (!s) return;
    s.out -= 1;
    if (s.out <= 0 && s.retired) this.recycle(s);
  }

  stats(): SlabPoolStats {
    return { ...this.stats_, free: this.free.length, live: this.live.size };
  }

  private retire(buf: Buffer): void {
    const s = this.live.get(buf.buffer);
    if (!s) return;
    s.retired = true;
    if (s.out <= 0) this.recycle(s);
  }

  private recycle(s: Slab): void {
    this.live.delete(s.buf.buffer);
    if (this.free.length < this.maxFree) this.free.push(s.buf);
  }
}
