/**
 * Exact per-route counters from HAProxy's own `show stat`, monotonic across reloads, HAProxy restarts and
 * agent restarts.
 *
 * HAProxy counts per worker, and a reload starts a new worker at zero while the old one keeps serving the
 * connections it has (each gets one more response with `option idle-close-on-response`). So the tap holds
 * one CLI session per live worker (`WorkerSession`): after a reload the session it had stays on the old
 * worker, and HAProxy keeps a stopping worker alive while a CLI session is open. The tap reads the stopping
 * worker every `drainPollMs` until it has no client connection left (`show info` CurrConns 0, read before
 * `show stat` on the same session, so no request can end after the values were taken), then folds those
 * final values into `base` and closes the session, which lets the worker exit.
 *
 *   exported value = base (final values of every retired worker) + Σ last values of the live workers
 *
 * A worker that dies under us (HAProxy crash, hard-stop-after) is retired with the values last read: what it
 * served since that read (at most `pollMs`) is lost, and the counters stay monotonic. `base` and the live
 * workers' last values are persisted (`statePath`); after an agent restart every saved worker starts out
 * retired, and the first read re-adopts the one still running (same pid and start time), subtracting its
 * saved values again, so an agent restart neither loses nor double-counts anything HAProxy still holds.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../../runtime/log.js';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { COUNTER_FIELDS, GAUGE_FIELDS, parseBackendCounters, parseWorkerInfo, type BackendRow, type WorkerInfo } from './stat-counters.js';
import { WorkerSession } from './worker-session.js';

export interface CounterTapOptions {
  adminSocket: string;
  /** Where base and last values survive an agent restart; null: not persisted (tests, benches). */
  statePath: string | null;
  logger: Logger;
  /** How often the current worker is read. Default 1000 ms. */
  pollMs?: number;
  /** How often a stopping worker is read until it drains. Default 200 ms. */
  drainPollMs?: number;
  /** Base entries of backends no live worker has are dropped after this long. Default 10 min. */
  pruneAfterMs?: number;
  /** Called after every read that reached at least one worker. */
  onRead?: (totals: ReadonlyMap<string, TapRow>, at: number) => void;
  now?: () => number;
}

/** One backend's totals: cumulative counters and current gauges. */
export interface TapRow {
  mode: string;
  counters: Float64Array;
  gauges: Float64Array;
}

interface LiveWorker {
  info: WorkerInfo;
  session: WorkerSession;
  last: Map<string, BackendRow>;
}

interface Persisted {
  version: 1;
  fields: string[];
  base: Record<string, { mode: string; values: number[]; seenAt: number }>;
  /** Workers whose values are in base but may still be running (re-adopted on sight). */
  retired: Array<{ id: string; values: Record<string, number[]> }>;
}

/** Retired workers remembered for re-adoption (a session lost to a slow reply, an agent restart). */
const RETIRED_KEPT = 16;

export class CounterTap {
  private readonly live = new Map<string, LiveWorker>();
  private readonly base = new Map<string, { mode: string; values: Float64Array; seenAt: number }>();
  private readonly retired = new Map<string, Map<string, Float64Array>>();
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private lastReadAt = 0;
  private dirty = false;
  private persisting: Promise<void> = Promise.resolve();
  private readonly pollMs: number;
  private readonly drainPollMs: number;
  private readonly pruneAfterMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Reads that reached no worker (HAProxy down, reloading). */
  failedReads = 0;

  constructor(private readonly opts: CounterTapOptions) {
    this.pollMs = opts.pollMs ?? 1000;
    this.drainPollMs = opts.drainPollMs ?? 200;
    this.pruneAfterMs = opts.pruneAfterMs ?? 600_000;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
  }

  /** Loads the persisted state and starts polling; the first read is attempted before this resolves. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.load();
    await this.read();
    this.schedule();
  }

  /**
   * Reads unless a read finished less than `maxAgeMs` ago (scrapes share one read). With 0, the values are
   * taken after the call: a read already in flight may have started before, so another one follows it.
   */
  async refresh(maxAgeMs = 0): Promise<void> {
    if (this.inFlight) {
      if (maxAgeMs > 0) return this.inFlight;
      await this.inFlight.catch(() => undefined);
    }
    if (maxAgeMs > 0 && this.now() - this.lastReadAt < maxAgeMs) return;
    return this.read();
  }

  /** Base + live, per backend. Fresh objects: callers may keep them. */
  totals(): Map<string, TapRow> {
    const out = new Map<string, TapRow>();
    for (const [name, b] of this.base) out.set(name, { mode: b.mode, counters: Float64Array.from(b.values), gauges: new Float64Array(GAUGE_FIELDS.length) });
    for (const w of this.live.values()) {
      for (const [name, row] of w.last) {
        let t = out.get(name);
        if (!t) out.set(name, (t = { mode: row.mode, counters: new Float64Array(COUNTER_FIELDS.length), gauges: new Float64Array(GAUGE_FIELDS.length) }));
        if (row.mode) t.mode = row.mode;
        for (let i = 0; i < t.counters.length; i++) t.counters[i]! += row.counters[i]!;
        for (let i = 0; i < t.gauges.length; i++) t.gauges[i]! += row.gauges[i]!;
      }
    }
    return out;
  }

  liveWorkers(): Array<{ id: string; pid: number; stopping: boolean }> {
    return [...this.live.values()].map((w) => ({ id: w.info.id, pid: w.info.pid, stopping: w.info.stopping }));
  }

  /**
   * Before HAProxy is stopped (or left running on agent exit): a last read, the state persisted, the sessions
   * closed — an open session would keep a stopping worker alive until hard-stop-after.
   */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => undefined);
    await this.read().catch(() => undefined);
    // Saved as retired: the next agent re-adopts the worker if it is still running.
    for (const [id, w] of this.live) this.retire(id, w, 'agent stopping');
    this.dirty = true;
    await this.persist();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const draining = [...this.live.values()].some((w) => w.info.stopping);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.read().finally(() => this.schedule());
    }, draining ? this.drainPollMs : this.pollMs);
    this.timer.unref();
  }

  private read(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const p = this.readOnce().finally(() => {
      if (this.inFlight === p) this.inFlight = null;
    });
    this.inFlight = p;
    return p;
  }

  private async readOnce(): Promise<void> {
    let reached = 0;
    let current = false;
    for (const [id, w] of [...this.live]) {
      const got = await this.query(w.session);
      if (!got) {
        this.retire(id, w, 'session lost');
        continue;
      }
      reached += 1;
      w.info = got.info;
      w.last = got.rows;
      if (!got.info.stopping) current = true;
      else if (got.info.currConns === 0) this.retire(id, w, 'drained');
      // A draining worker's values are saved on every read: an agent crash now would lose its session.
      else this.dirty = true;
    }
    if (!current) {
      // No session on a running (non-stopping) worker: after a reload, a restart, or at start.
      const s = await WorkerSession.open(this.opts.adminSocket).catch(() => null);
      const got = s ? await this.query(s) : null;
      if (s && got) {
        reached += 1;
        if (this.live.has(got.info.id)) s.close();
        else this.adopt(got.info, s, got.rows);
      } else s?.close();
    }
    if (reached === 0) {
      this.failedReads += 1;
      return;
    }
    const at = this.now();
    this.lastReadAt = at;
    this.prune(at);
    this.opts.onRead?.(this.totals(), at);
    if (this.dirty) await this.persist();
  }

  private async query(s: WorkerSession): Promise<{ info: WorkerInfo; rows: Map<string, BackendRow> } | null> {
    try {
      // Info first: when it says no client connection is left, no request can end before the stat is taken.
      const [info, stat] = await s.send(['show info', 'show stat -1 2 -1']);
      return { info: parseWorkerInfo(info ?? ''), rows: parseBackendCounters(stat ?? '') };
    } catch (err) {
      if (!s.closed) this.log.warn({ err: (err as Error).message }, 'reading HAProxy counters failed');
      s.close();
      return null;
    }
  }

  private adopt(info: WorkerInfo, session: WorkerSession, rows: Map<string, BackendRow>): void {
    const again = this.retired.get(info.id);
    if (again) {
      // Its values went into base when we lost it (or at the last agent stop); they are live again.
      for (const [name, values] of again) {
        const b = this.base.get(name);
        if (b) for (let i = 0; i < b.values.length; i++) b.values[i] = Math.max(0, b.values[i]! - (values[i] ?? 0));
      }
      this.retired.delete(info.id);
      this.dirty = true;
    }
    this.live.set(info.id, { info, session, last: rows });
    this.log.debug({ worker: info.pid, readopted: Boolean(again) }, 'counting an HAProxy worker');
  }

  private retire(id: string, w: LiveWorker, why: string): void {
    this.live.delete(id);
    w.session.close();
    const kept = new Map<string, Float64Array>();
    const at = this.now();
    for (const [name, row] of w.last) {
      let b = this.base.get(name);
      if (!b) this.base.set(name, (b = { mode: row.mode, values: new Float64Array(COUNTER_FIELDS.length), seenAt: at }));
      for (let i = 0; i < b.values.length; i++) b.values[i]! += row.counters[i]!;
      b.seenAt = at;
      kept.set(name, row.counters);
    }
    this.retired.set(id, kept);
    while (this.retired.size > RETIRED_KEPT) this.retired.delete(this.retired.keys().next().value as string);
    this.dirty = true;
    this.log.debug({ worker: w.info.pid, why }, 'HAProxy worker retired; its final counters are carried');
  }

  /** A removed route's totals are kept for a while (it may come back) and then dropped. */
  private prune(at: number): void {
    const liveNames = new Set<string>();
    for (const w of this.live.values()) for (const name of w.last.keys()) liveNames.add(name);
    for (const [name, b] of this.base) {
      if (liveNames.has(name)) b.seenAt = at;
      else if (at - b.seenAt > this.pruneAfterMs) {
        this.base.delete(name);
        this.dirty = true;
      }
    }
  }

  private async load(): Promise<void> {
    if (!this.opts.statePath) return;
    let raw: string;
    try {
      raw = await readFile(this.opts.statePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err: (err as Error).message }, 'HAProxy counter state unreadable; counters start at zero');
      return;
    }
    try {
      const p = JSON.parse(raw) as Persisted;
      if (p.version !== 1 || !Array.isArray(p.fields)) throw new Error('unknown format');
      const idx = COUNTER_FIELDS.map((f) => p.fields.indexOf(f));
      const pick = (values: number[]): Float64Array => Float64Array.from(idx, (i) => (i >= 0 ? Number(values[i]) || 0 : 0));
      const at = this.now();
      for (const [name, b] of Object.entries(p.base ?? {})) this.base.set(name, { mode: String(b.mode ?? ''), values: pick(b.values), seenAt: Math.min(at, Number(b.seenAt) || at) });
      for (const r of p.retired ?? []) this.retired.set(r.id, new Map(Object.entries(r.values).map(([n, v]) => [n, pick(v)])));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, path: this.opts.statePath }, 'HAProxy counter state refused; counters start at zero');
      this.base.clear();
      this.retired.clear();
    }
  }

  private persist(): Promise<void> {
    const path = this.opts.statePath;
    if (!path || !this.dirty) return this.persisting;
    this.dirty = false;
    // Live workers are saved as retired with their last values (in base too): after an agent crash the
    // next agent re-adopts those still running and keeps the values of those that exited meanwhile.
    const base = new Map([...this.base].map(([n, b]) => [n, { mode: b.mode, values: [...b.values], seenAt: b.seenAt }]));
    const retired = [...this.retired].map(([id, values]) => ({ id, values: Object.fromEntries([...values].map(([n, v]) => [n, [...v]])) }));
    for (const w of this.live.values()) {
      for (const [n, row] of w.last) {
        const b = base.get(n) ?? { mode: row.mode, values: new Array<number>(COUNTER_FIELDS.length).fill(0), seenAt: this.now() };
        row.counters.forEach((v, i) => (b.values[i]! += v));
        base.set(n, b);
      }
      retired.push({ id: w.info.id, values: Object.fromEntries([...w.last].map(([n, row]) => [n, [...row.counters]])) });
    }
    const doc: Persisted = { version: 1, fields: [...COUNTER_FIELDS], base: Object.fromEntries(base), retired };
    // Not fsynced: losing the last write to a power cut costs a counter reset, which Prometheus handles.
    this.persisting = this.persisting
      .then(() => writeFileAtomic(path, JSON.stringify(doc), 0o600, { durable: false }))
      .catch((err: unknown) => {
        this.dirty = true;
        this.log.warn({ err: (err as Error).message }, 'HAProxy counter state not written');
      });
    return this.persisting;
  }
}
