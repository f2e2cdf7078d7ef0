// The fixed-bucket latency histogram the window aggregates carry. Fixed buckets make it mergeable: the
// histogram of any span over any number of agents is the bucket-wise sum of theirs, so percentiles of a
// pooled window (one tick, a whole step, the run so far) are computed exactly as for a single window.
//
// Buckets are logarithmic with ratio γ = 51/49 (≈ 1.0408): bucket 0 holds 0 ms; bucket i ≥ 1 holds the
// values in (γ^(i-2), γ^(i-1)] ms. A bucket is reported as the value with the smallest worst-case relative
// error, 2γ^(i-1)/(γ+1), so a reported percentile is within α = (γ-1)/(γ+1) = 2 % of the sample at that
// rank. HAProxy times in whole milliseconds, and below ~25 ms a bucket holds a single whole number, which
// is then reported exactly. Ranks follow HdrHistogram (and so Elasticsearch's `hdr` percentiles on the
// same buckets): rank = max(1, round(q · n)).
// Values above 10^8 ms (~28 h) share the last bucket.

export const GAMMA = 51 / 49;
export const RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1);
const LN_GAMMA = Math.log(GAMMA);
export const MAX_MS = 1e8;
export const MAX_INDEX = 1 + Math.ceil(Math.log(MAX_MS) / LN_GAMMA);

/** Bucket index of a duration in ms (negative durations, "never completed", have none). */
export function bucketIndex(ms: number): number {
  if (!(ms > 0)) return 0;
  if (ms >= MAX_MS) return MAX_INDEX;
  // The epsilon keeps exact powers of γ in their own bucket despite floating-point rounding.
  return 1 + Math.max(0, Math.ceil(Math.log(ms) / LN_GAMMA - 1e-9));
}

/** The value a bucket is reported as, in ms. */
export function bucketValue(index: number): number {
  if (index <= 0) return 0;
  const hi = GAMMA ** (index - 1);
  const lo = GAMMA ** (index - 2);
  // Whole milliseconds only: a bucket that holds exactly one whole number is that number.
  const top = Math.floor(hi + 1e-9);
  if (top > lo + 1e-9 && top - 1 <= lo + 1e-9) return top;
  return (2 * hi) / (GAMMA + 1);
}

/** Sparse form, as published: ascending bucket indices with their counts (also an ES `histogram` field). */
export interface SparseHistogram {
  values: number[];
  counts: number[];
}

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private n = 0;
  private sum = 0;

  add(ms: number, times = 1): void {
    if (!(ms >= 0) || times <= 0) return;
    const i = bucketIndex(ms);
    this.counts.set(i, (this.counts.get(i) ?? 0) + times);
    this.n += times;
    this.sum += ms * times;
  }

  /** Adds a published histogram (and its exact sum, when known). */
  merge(h: SparseHistogram, sumMs = 0): void {
    const len = Math.min(h.values.length, h.counts.length);
    for (let k = 0; k < len; k++) {
      const i = h.values[k]!;
      const c = h.counts[k]!;
      if (!Number.isInteger(i) || i < 0 || i > MAX_INDEX || !(c > 0)) continue;
      this.counts.set(i, (this.counts.get(i) ?? 0) + c);
      this.n += c;
    }
    if (Number.isFinite(sumMs)) this.sum += sumMs;
  }

  mergeHistogram(other: LatencyHistogram): void {
    this.merge(other.toSparse(), other.sum);
  }

  get count(): number {
    return this.n;
  }

  /** Sum of the added values (exact for what `add` saw). */
  get sumMs(): number {
    return this.sum;
  }

  /** The q-quantile (0 < q ≤ 1) in ms; null when empty. */
  quantile(q: number): number | null {
    if (this.n === 0) return null;
    return this.atRank(Math.max(1, Math.round(q * this.n)));
  }

  /**
   * A distribution-free confidence interval of the q-quantile, in ms: the values at the ranks
   * n·q ∓ z·√(n·q·(1−q)) (the normal approximation of the binomial count of samples below the
   * true quantile), rounded outward. Null when empty.
   */
  quantileBounds(q: number, z: number): [number, number] | null {
    if (this.n === 0) return null;
    const half = z * Math.sqrt(this.n * q * (1 - q));
    const lo = Math.max(1, Math.floor(q * this.n - half));
    const hi = Math.min(this.n, Math.ceil(q * this.n + half));
    return [this.atRank(lo), this.atRank(hi)];
  }

  private atRank(rank: number): number {
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i)!;
      if (seen >= rank) return bucketValue(i);
    }
    return bucketValue(MAX_INDEX);
  }

  toSparse(): SparseHistogram {
    const values = [...this.counts.keys()].sort((a, b) => a - b);
    return { values, counts: values.map((i) => this.counts.get(i)!) };
  }

  static fromSparse(h: SparseHistogram, sumMs = 0): LatencyHistogram {
    const out = new LatencyHistogram();
    out.merge(h, sumMs);
    return out;
  }
}
