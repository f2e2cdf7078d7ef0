/**
 * Log sampling in HAProxy itself: each route backend has one rule whose ACL patterns come from a file of
 * its own (sample-acl.ts, sample-files.ts):
 *
 *   http-request set-log-level silent if { rand(1000000) -m int -f <dir>/<backend file>.acl }
 *
 * The file holds one integer range `K:`, matching draws ≥ K, so the route keeps K requests per million;
 * `1000000:` never matches (keep all). A silenced request's line is never formatted, which is what makes it
 * cheap: `log … sample` formats every line and drops it at send time (BENCHMARKS.md, "Log sampling"). One
 * rule with its pattern list replaced the former pair (`set-var` of the threshold from a map keyed by
 * `be_name`, then `rand(1000000),sub(var)`): per request a draw and one integer compare instead of a
 * variable, a string map lookup and a converter chain (BENCHMARKS.md, "Data plane, one sampling ACL per
 * route"). Process variables, one per route, were ruled out earlier: HAProxy finds them by a linear scan, so
 * each costs per request in the number of routes. An empty file matches nothing: every request is logged.
 *
 * In `auto` mode the agent sets each route's threshold from its request rate (HAProxy's counters, smoothed
 * over ~5 s) so that it logs about `targetPerRoute` lines/s, all routes together at most `maxLinesPerSecond`;
 * `fixed` gives every route 1/N. A threshold change goes into the route's file first (atomic rename: a reload
 * in between loads the new value), then into the running worker atomically with `prepare acl` → `add acl
 * @<ver>` → `commit acl @<ver>`. A route new to HAProxy gets its file before the config naming it is checked
 * (the applier calls SampleFiles.ensure); a removed route's file goes after the reload that drops it.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../runtime/log.js';
import { RuntimeClient } from '../haproxy/runtime-client.js';
import { backendName } from '../plan/haproxy-model.js';
import type { TapRow } from './counter-tap.js';
import { routeLabels } from './route-metrics.js';
import { KEEP_ALL, sampleRange } from './sample-acl.js';
import type { SampleFiles } from './sample-files.js';
import { C } from './stat-counters.js';
import type { LogSampling } from './telemetry-settings.js';

export { KEEP_ALL } from './sample-acl.js';
/** An auto threshold is pushed to HAProxy when it moves by more than this factor. */
const HYSTERESIS = 1.25;
/** Smoothing time constant of the rate estimate. */
const RATE_TAU_MS = 5000;

type ActiveSampling = Exclude<LogSampling, { mode: 'all' }>;

/** The threshold a route's first file gets: its fixed `1/N`, or keep-all until auto has a rate. */
export function newRouteThreshold(sampling: ActiveSampling | null): number {
  return sampling?.mode === 'fixed' ? Math.max(1, Math.round(KEEP_ALL / sampling.oneIn)) : KEEP_ALL;
}

export interface LogSamplerOptions {
  sampling: ActiveSampling;
  files: SampleFiles;
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
  /** Backend → keep threshold per million below KEEP_ALL, as HAProxy has it (absent: every request). */
  private readonly thresholds = new Map<string, number>();
  private readonly rates = new Map<string, RouteRate>();
  /** Runtime pushes, one at a time and in order, each after its files are written. */
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
        for (const [gw, routes] of k) for (const r of routes) this.set({ gateway: gw, route: r }, (thresholds.get(backendName(gw, r)) ?? KEEP_ALL) / KEEP_ALL);
      },
    });
  }

  /**
   * Starts from the thresholds in the files (SampleFiles.start() read them): that is what an adopted HAProxy
   * has loaded (a file is written before every runtime push), so the sampler's view and HAProxy's agree from
   * the start and a threshold the new settings no longer want is pushed back, not left behind.
   */
  start(): void {
    for (const [b, t] of this.opts.files.thresholds()) if (t >= 1 && t < KEEP_ALL) this.thresholds.set(b, t);
  }

  /** Fixed mode: every route with a file gets the same threshold (called after each apply). */
  applied(): void {
    if (this.opts.sampling.mode !== 'fixed') return;
    const t = newRouteThreshold(this.opts.sampling);
    const want = new Map<string, number>();
    for (const b of this.opts.files.thresholds().keys()) want.set(b, t);
    for (const [gw, routes] of this.opts.known()) for (const r of routes) want.set(backendName(gw, r), t);
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

  /** Applier hook, before a config is checked or written: the files it names exist; new ones are what HAProxy will load. */
  async ensureFiles(config: string): Promise<void> {
    for (const [b, t] of await this.opts.files.ensure(config)) if (t < KEEP_ALL) this.thresholds.set(b, t);
  }

  /** Applier hook, once a config runs: files of routes it dropped go, and what the sampler knew about them. */
  async pruneFiles(config: string): Promise<void> {
    for (const b of await this.opts.files.prune(config)) {
      this.thresholds.delete(b);
      this.rates.delete(b);
    }
  }

  private apply(want: Map<string, number>): void {
    const auto = this.opts.sampling.mode === 'auto';
    const changes: Array<[string, number]> = [];
    for (const [b, t] of want) {
      const cur = this.thresholds.get(b) ?? KEEP_ALL;
      if (t === cur) continue;
      // Auto thresholds follow a noisy rate: small moves are not worth a runtime command.
      if (auto && t !== KEEP_ALL && cur !== KEEP_ALL && Math.max(t / cur, cur / t) < HYSTERESIS) continue;
      changes.push([b, t]);
    }
    // A threshold no longer wanted goes back to keep-all in HAProxy too, or a route the sampler stopped
    // tracking would keep its old ratio there.
    for (const b of this.thresholds.keys()) if (!want.has(b)) changes.push([b, KEEP_ALL]);
    if (changes.length === 0) return;
    for (const [b, t] of changes) {
      if (t === KEEP_ALL) this.thresholds.delete(b);
      else this.thresholds.set(b, t);
    }
    const written = this.opts.files.write(changes);
    // Awaited only when the pushes before it are done: a failed write must not count as unhandled meanwhile.
    written.catch(() => undefined);
    this.pushing = this.pushing
      .then(async () => this.push(await written))
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'log sampling thresholds not applied'));
  }

  /** Into the running worker, atomically per route: a new version of the route's pattern list, then commit. */
  private async push(changes: Array<[string, number]>): Promise<void> {
    if (changes.length === 0) return;
    // A fresh session per push: after a reload it reaches the new worker.
    const rt = new RuntimeClient({ socket: this.opts.adminSocket, timeoutMs: 3000 });
    try {
      const paths = changes.map(([b]) => this.opts.files.path(b));
      const prepared = await rt.batch(paths.map((p) => `prepare acl ${p}`));
      const cmds: string[] = [];
      const absent: string[] = [];
      prepared.forEach((r, i) => {
        const version = r.ok ? /New version created: (\d+)/.exec(r.reply)?.[1] : undefined;
        // Unknown to this worker: a route whose reload has not happened yet; it loads the file.
        if (version === undefined) return void absent.push(changes[i]![0]);
        cmds.push(`add acl @${version} ${paths[i]} ${sampleRange(changes[i]![1])}`, `commit acl @${version} ${paths[i]}`);
      });
      if (absent.length) this.log.debug({ backends: absent }, 'log sampling: route not in the running worker yet; its file has the threshold');
      const failed = (await rt.batch(cmds)).filter((r) => !r.ok);
      if (failed.length) this.log.warn({ errors: failed.slice(0, 3).map((r) => `${r.command}: ${r.error ?? r.reply}`) }, 'log sampling thresholds not applied at runtime; the files have them for the next reload');
    } catch (err) {
      // HAProxy down or reloading: the files have the values, the next worker loads them.
      this.log.debug({ err: (err as Error).message }, 'log sampling thresholds not pushed at runtime');
    } finally {
      rt.close();
    }
  }
}
