// A failed store read or reload is retried on its own schedule, not at the next poll: with NATS
// change events the poll is a safety net minutes apart, and a change whose sync failed once
// would otherwise wait that long (seen as a release step waiting 30 s+ for its weights).
// Doubles from `firstMs` up to `maxMs`; one pending retry at a time; success resets it.

export class RetryTimer {
  private timer: NodeJS.Timeout | null = null;
  private nextMs: number;

  constructor(
    private readonly firstMs: number,
    private readonly maxMs: () => number,
  ) {
    this.nextMs = firstMs;
  }

  /** Runs `fn` after the current backoff unless a retry is already pending; returns that delay. */
  schedule(fn: () => void): number | null {
    if (this.timer) return null;
    const cap = Math.max(this.firstMs, this.maxMs());
    const ms = Math.min(this.nextMs, cap);
    this.nextMs = Math.min(this.nextMs * 2, cap);
    this.timer = setTimeout(() => {
      this.timer = null;
      fn();
    }, ms);
    this.timer.unref();
    return ms;
  }

  /** The operation succeeded: drop a pending retry and start the next failure at `firstMs`. */
  reset(): void {
    this.cancel();
    this.nextMs = this.firstMs;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
