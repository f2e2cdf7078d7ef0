// When each gateway's run is driven next: one timer for the earliest wake-up, nudges for
// changes (a store watch, an API write in this process), at most `concurrency` passes at once
// and never two for the same gateway. A slow pass (a hook taking its timeout) holds only its
// own gateway.
export type DriveFn = (key: string) => Promise<number | null>;

export class DriveScheduler {
  private readonly due = new Map<string, number>();
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly drive: DriveFn,
    private readonly opts: { concurrency: number; now?: () => number; onError?: (key: string, err: unknown) => void },
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Wake `key` at `at` (epoch ms) unless it is already due sooner. */
  schedule(key: string, at: number): void {
    if (this.stopped) return;
    const cur = this.due.get(key);
    if (cur !== undefined && cur <= at) return;
    this.due.set(key, at);
    this.arm();
  }

  nudge(key: string): void {
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    this.schedule(key, 0);
  }

  /** Keys with a pass running or a wake-up pending. */
  known(key: string): boolean {
    return this.due.has(key) || this.running.has(key);
  }

  get inFlight(): number {
    return this.running.size;
  }

  private arm(): void {
    if (this.stopped) return;
    let next = Infinity;
    for (const at of this.due.values()) if (at < next) next = at;
    if (next === Infinity) return;
    if (this.timer && next >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => this.fire(), Math.max(0, next - this.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const ready = [...this.due.entries()].filter(([k, at]) => at <= now && !this.running.has(k)).sort((a, b) => a[1] - b[1]);
    for (const [key] of ready) {
      if (this.running.size >= this.opts.concurrency) break;
      this.due.delete(key);
      this.start(key);
    }
    this.arm();
  }

  private start(key: string): void {
    this.running.add(key);
    this.drive(key)
      .then(
        (nextAt) => {
          if (nextAt !== null) this.schedule(key, nextAt);
        },
        (err: unknown) => {
          this.opts.onError?.(key, err);
          this.schedule(key, this.now() + 2000);
        },
      )
      .finally(() => {
        this.running.delete(key);
        if (this.again.delete(key)) this.schedule(key, 0);
        // A freed slot may let a due key run.
        if (this.due.size > 0) {
          clearTimeout(this.timer);
          this.timer = undefined;
          this.timerAt = Infinity;
          this.arm();
        }
        if (this.running.size === 0) for (const fn of this.idle) fn();
      });
  }

  /** Stops waking anything; resolves when the passes in flight are done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.due.clear();
    if (this.running.size === 0) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.idle.delete(done);
        resolve();
      };
      this.idle.add(done);
    });
  }
}
