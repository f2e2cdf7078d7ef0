/**
 * Log sampling in HAProxy itself: each route backend draws `rand(1000000)` and silences the request's log
 * line unless the draw is below the route's keep threshold (per million) from a map file:
 *
 *   http-request set-var(txn.weir_lk) be_name,map_str_int(<map>,1000000)
 *   http-request set-log-level silent if { rand(1000000),sub(txn.weir_lk) -m int ge 0 }
 *
 * A silenced request's line is never formatted, which is what makes it cheap: `log … sample` formats every
 * line and drops it at send time (measured in BENCHMARKS.md, "Log sampling"), and process variables are
 * looked up by a linear scan, so one per route costs per request in the number of routes. A route missing
 * from the map logs every request. In `auto` mode the agent sets each route's threshold from its request
 * rate (HAProxy's counters, smoothed over ~5 s) so that it logs about `targetPerRoute` lines/s, all routes
 * together at most `maxLinesPerSecond`; thresholds change at runtime (`set map`) and are written to the
 * map file, so a reload keeps them.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../runtime/log.js';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { CliConnection } from '../haproxy/cli-connection.js';
import type { TapRow } from './counter-tap.js';
import { routeLabels } from './route-metrics.js';
import { C } from './stat-counters.js';
import type { LogSampling } from './telemetry-settings.js';

export const KEEP_ALL = 1_000_000;
/** A threshold is pushed to HAProxy when it moves by more than this factor. */
const HYSTERESIS = 1.25;
/** Smoothing time constant of the rate estimate. */
const RATE_TAU_MS = 5000;

export interface LogSamplerOptions {
  sampling: Exclude<LogSampling, { mode: 'all' }>;
  mapPath: string;
  adminSocket: string;
  registry: Registry;
  logger: Logger;
  known: () => ReadonlyMap<string, ReadonlySet<string>>;
}

interface RouteRate {
  sessions: number;
  at: number;
  rate: number;
}

export class LogSampler {
  /** Backend → keep threshold per million, as HAProxy has it. */
  private readonly thresholds = new Map<string, number>();
  private readonly rates = new Map<string, RouteRate>();
  private pushing: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: LogSamplerOptions) {
    this.log = opts.logger;
    const thresholds = this.thresholds;
    const known = opts.known;
    new Gauge<'gateway' | 'route'>({
      name: 'weir_log_sample_keep_ratio',
      help: 'Share of a route\'s requests HAProxy writes a log line for (latency samples; 1 = every request)',
      labelNames: ['gateway', 'route'],
      registers: [opts.registry],
      collect() {
        this.reset();
        const k = known();
        for (const [gw, routes] of k) for (const r of routes) this.set({ gateway: gw, route: r }, (thresholds.get(`${gw}:${r}`) ?? KEEP_ALL) / KEEP_ALL);
      },
    });
  }

  /**
   * Writes the map file HAProxy's config names (it must exist before the first config check), starting
   * from the thresholds the last agent left in it: that file is what an adopted HAProxy has loaded (the
   * file is written before every runtime push), so the sampler's view and HAProxy's agree from the start
   * and a threshold the new settings no longer want is pushed back, not left behind.
   */
  async start(): Promise<void> {
    await mkdir(dirname(this.opts.mapPath), { recursive: true });
    const previous = await readFile(this.opts.mapPath, 'utf8').catch(() => '');
    for (const line of previous.split('\n')) {
      const m = /^(\S+) (\d+)$/.exec(line.trim());
      const t = m ? Number(m[2]) : NaN;
      if (m && t >= 1 && t < KEEP_ALL) this.thresholds.set(m[1]!, t);
    }
    await this.writeMap();
  }

  /** Fixed mode: every applied route gets the same threshold (called after each apply). */
  applied(): void {
    if (this.opts.sampling.mode !== 'fixed') return;
    const t = Math.max(1, Math.round(KEEP_ALL / this.opts.sampling.oneIn));
    const want = new Map<string, number>();
    for (const [gw, routes] of this.opts.known()) for (const r of routes) want.set(`${gw}:${r}`, t);
    this.apply(want);
  }

  /** Auto mode: new counter totals → rates → thresholds. */
  observe(totals: ReadonlyMap<string, TapRow>, at: number): void {
    const s = this.opts.sampling;
    if (s.mode !== 'auto') return;
    const known = this.opts.known();
    // Before the first apply nothing is known yet: keep the thresholds HAProxy has (see start()).
    if (known.size === 0) return;
    const routes: Array<{ backend: string; rate: number }> = [];
    for (const [backend, row] of totals) {
      const labels = routeLabels(backend, known);
      if (!labels || labels.gateway === 'other') continue;
      const sessions = row.counters[C.stot]!;
      const prev = this.rates.get(backend);
      let rate = 0;
      if (prev) {
        const dt = at - prev.at;
        const inst = dt > 0 ? (Math.max(0, sessions - prev.sessions) * 1000) / dt : prev.rate;
        const a = 1 - Math.exp(-Math.max(0, dt) / RATE_TAU_MS);
        // Rising traffic is followed at once: a burst must not log every request for seconds.
        rate = inst > prev.rate ? inst : prev.rate + a * (inst - prev.rate);
      }
      this.rates.set(backend, { sessions, at, rate });
      routes.push({ backend, rate });
    }
    for (const b of this.rates.keys()) if (!totals.has(b)) this.rates.delete(b);
    // Per-route target, scaled down when all routes together would exceed the line budget.
    const wanted = routes.reduce((n, r) => n + Math.min(r.rate, s.targetPerRoute), 0);
    const scale = wanted > s.maxLinesPerSecond ? s.maxLinesPerSecond / wanted : 1;
    const want = new Map<string, number>();
    for (const r of routes) {
      const keep = r.rate <= s.targetPerRoute * scale ? 1 : (s.targetPerRoute * scale) / r.rate;
      want.set(r.backend, Math.max(1, Math.min(KEEP_ALL, Math.round(keep * KEEP_ALL))));
    }
    this.apply(want);
  }

  /** Keep ratio a route has now (1 when unknown). */
  keepRatio(backend: string): number {
    return (this.thresholds.get(backend) ?? KEEP_ALL) / KEEP_ALL;
  }

  private apply(want: Map<string, number>): void {
    const changes: Array<[string, number]> = [];
    for (const [b, t] of want) {
      const cur = this.thresholds.get(b) ?? KEEP_ALL;
      if (t === cur) continue;
      if (t !== KEEP_ALL && cur !== KEEP_ALL && Math.max(t / cur, cur / t) < HYSTERESIS) continue;
      changes.push([b, t]);
    }
    const removed: string[] = [];
    for (const b of [...this.thresholds.keys()]) {
      if (!want.has(b)) {
        this.thresholds.delete(b);
        removed.push(b);
      }
    }
    if (changes.length === 0 && removed.length === 0) return;
    for (const [b, t] of changes) this.thresholds.set(b, t);
    this.pushing = this.pushing.then(() => this.push(changes, removed)).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'log sampling thresholds not applied'));
  }

  /** The file first (a reload in between then loads the new values), then the running worker. */
  private async push(changes: Array<[string, number]>, removed: string[]): Promise<void> {
    await this.writeMap();
    if (changes.length === 0 && removed.length === 0) return;
    const cli = new CliConnection({ address: this.opts.adminSocket, replyTimeoutMs: 3000 });
    try {
      const path = this.opts.mapPath;
      // A dropped threshold leaves the worker too (absent means every request), or a route the sampler
      // stopped tracking would keep its old ratio in HAProxy; "entry not found" is fine.
      if (removed.length) await cli.send(removed.map((b) => ({ command: `del map ${path} ${b}` })));
      if (changes.length === 0) return;
      const replies = await cli.send(changes.map(([b, t]) => ({ command: `set map ${path} ${b} ${t}` })));
      // `set map` fails for a key the worker's map does not have yet (a route added since it loaded the file).
      const missing = changes.filter((_, i) => (replies[i] ?? '').trim() !== '');
      if (missing.length) await cli.send(missing.map(([b, t]) => ({ command: `add map ${path} ${b} ${t}` })));
    } catch (err) {
      // HAProxy down or reloading: the file has the values, the next worker loads them.
      this.log.debug({ err: (err as Error).message }, 'log sampling thresholds not pushed at runtime');
    } finally {
      cli.close();
    }
  }

  private async writeMap(): Promise<void> {
    const lines = [...this.thresholds].map(([b, t]) => `${b} ${t}\n`).join('');
    // Renamed into place: a reload never reads a half-written map.
    await writeFileAtomic(this.opts.mapPath, `# Weir log sampling: route backend → keep threshold per million (absent: every request)\n${lines}`, 0o644, { durable: false });
  }
}
