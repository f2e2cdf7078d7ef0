/**
 * Ships ECS documents to Elasticsearch with `client.bulk` (not the bulk helper: the helper retries only per-item
 * 429s and rejects on whole-request failures, and we need one retry policy for both plus spooling).
 *
 * Items are their bulk lines, built once (ecs-line.ts for traffic, `bulkLine` for window documents): a batch is
 * one string handed to the client as the request body, spooled as it is, and the response is cut down to what
 * the shipper reads with `filter_path`.
 *
 * Delivery: at-least-once into ES, exactly-once in effect: every document has a deterministic `_id` and goes in
 * with `create`, so a re-send after a timeout, crash or spool replay gets 409 version_conflict, which counts as
 * delivered. Retries: exponential backoff with jitter on 429, 5xx and network errors (client `maxRetries` is 0
 * so this is the only retry layer). With a spool, a batch still failing after `attemptsBeforeSpool` goes to disk,
 * live traffic follows it there until ES answers again, and the spool is replayed in order on recovery.
 */
// Before the client: it would load apache-arrow at start (see es-arrow-deferred.ts).
import '../../metrics/es-arrow-deferred.js';
import { errors, type Client, type estypes } from '@elastic/elasticsearch';
import { createEsClient, type EsConnection } from '../../metrics/es-connection.js';
import { bulkLine } from './ecs-line.js';
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import type { Spool, SpoolSegment } from './spool.js';
import { SLAB_BYTES, SlabPool } from './slab-pool.js';
import { LineQueue } from './line-queue.js';
import type { TelemetryMetrics } from './traffic-metrics.js';

export class ShipperError extends Error {
  override name = 'ShipperError';
}

export interface ShipItem<A = unknown> {
  /**
   * The action line and the document line of a bulk `create`, each ending in `\n`, with a deterministic `_id`.
   * Queued lines are held UTF-8 encoded (see `LineSlab`); producers pass strings.
   */
  line: string | Buffer;
  /** Opaque token handed back in `onAck` (e.g. a file offset). Not persisted in the spool. */
  ack?: A;
}

/** Only what the shipper reads from a bulk response: per item, its status and, when it failed, why. */
export const BULK_FILTER_PATH = 'errors,items.*.status,items.*.error.type,items.*.error.reason';

export type AckKind = 'indexed' | 'spooled';

export interface EsShipperOptions<A = unknown> {
  /** Either a connection, or a ready client (tests). */
  connection?: EsConnection;
  client?: Client;
  /** Max records in memory; `push` waits and `offer` spills/refuses above it. Default 10 000. */
  queueCapacity?: number;
  /** Records per bulk request. Default 2000. */
  batchSize?: number;
  /** A partial batch is sent after this long. Default 1000 ms. */
  flushIntervalMs?: number;
  retry?: { baseMs?: number; maxMs?: number; attemptsBeforeSpool?: number };
  spool?: Spool;
  metrics?: TelemetryMetrics;
  logger?: Logger;
  /** Called after records were indexed (or acknowledged by ES as already there), or durably spooled. */
  onAck?: (acks: A[], kind: AckKind) => void;
  templateName?: string;
  /** Further index templates installed before the first bulk request (e.g. `weir-metrics`), by name. */
  extraTemplates?: Record<string, Record<string, unknown>>;
  /** Where queued lines live; shared with the producer that writes lines into slabs (LinePipeline). */
  slabs?: SlabPool;
  /** Jitter source (tests). */
  random?: () => number;
}

/**
 * The NDJSON body as one Buffer, each line encoded once straight into it (a string built with `+=` is a rope
 * that the client would flatten to measure and then encode again: most of a line's cost at 2000 per request).
 */
export function bulkBody(items: ReadonlyArray<{ line: string | Buffer }>, scratch?: { buf: Buffer }): Buffer {
  // Lines written one after another into the same slab (the byte path, ecs-bytes.ts) are already the body:
  // one view over them instead of a copy, which was a 2 MiB allocation and memcpy per request.
  const first = items[0]?.line;
  if (first !== undefined && typeof first !== 'string') {
    let end = first.byteOffset + first.length;
    let i = 1;
    for (; i < items.length; i++) {
      const l = items[i]!.line;
      if (typeof l === 'string' || l.buffer !== first.buffer || l.byteOffset !== end) break;
      end += l.length;
    }
    if (i === items.length) return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
  }
  let chars = 0;
  for (const it of items) chars += it.line.length;
  const want = chars + (chars >> 4) + 64;
  // A scratch buffer kept by the caller is written again for the next request (no 2 MiB allocation each time).
  let buf = scratch && scratch.buf.length >= want ? scratch.buf : Buffer.allocUnsafeSlow(want);
  let off = 0;
  for (const it of items) {
    const line = it.line;
    if (typeof line !== 'string') {
      if (buf.length - off < line.length) {
        const bigger = Buffer.allocUnsafe(Math.max(off + line.length, buf.length * 2));
        buf.copy(bigger, 0, 0, off);
        buf = bigger;
      }
      off += line.copy(buf, off);
      continue;
    }
    // A char is 1 to 3 bytes in UTF-8: measure exactly only when the worst case might not fit.
    if (buf.length - off < line.length * 3) {
      const need = off + Buffer.byteLength(line);
      if (need > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
        buf.copy(bigger, 0, 0, off);
        buf = bigger;
      }
    }
    off += buf.write(line, off);
  }
  if (scratch) scratch.buf = buf;
  return buf.subarray(0, off);
}

/**
 * Lines pushed as strings (the file source, the string path) encoded into the pool's slabs as they arrive. A line
 * built by concatenation is a rope of dozens of strings; it waits in the queue for its batch, so it would survive
 * scavenges and be copied and promoted piece by piece. Encoded at once, the rope dies young and the queue holds
 * the bytes (see line-queue.ts); the slab is written again once every line in it is done (slab-pool.ts).
 */
class LineSlab {
  private slab: Buffer | null = null;
  private off = SLAB_BYTES;

  constructor(private readonly pool: SlabPool) {}

  encode(line: string): Buffer {
    const worst = line.length * 3;
    if (worst > SLAB_BYTES / 8) return Buffer.from(line, 'utf8');
    if (SLAB_BYTES - this.off < worst || this.slab === null) {
      this.slab = this.pool.next(this.slab);
      this.off = 0;
    }
    const start = this.off;
    this.off += this.slab.write(line, start);
    this.pool.claim(this.slab);
    return this.slab.subarray(start, this.off);
  }
}

/** A bulk response after BULK_FILTER_PATH. */
interface FilteredBulkResponse {
  errors?: boolean;
  items?: Array<Record<string, { status?: number; error?: { type?: string; reason?: string } } | undefined>>;
}

export interface ShipperStats {
  queued: number;
  inFlight: number;
  indexed: number;
  spooled: number;
  dropped: number;
  healthy: boolean;
  bulkRequests: number;
}

/** Index template for `weir-logs-*`: explicit types for the fields queries filter and aggregate on. */
export function indexTemplate(): Record<string, unknown> {
  const kw = { type: 'keyword' };
  const long = { type: 'long' };
  return {
    index_patterns: ['weir-logs-*'],
    priority: 200,
    _meta: { managed_by: 'weir' },
    template: {
      settings: { number_of_shards: 1 },
      mappings: {
        dynamic: true,
        properties: {
          '@timestamp': { type: 'date' },
          event: { properties: { id: kw, kind: kw, category: kw, dataset: kw, outcome: kw, duration: long } },
          source: { properties: { ip: { type: 'ip' }, port: long } },
          http: { properties: { request: { properties: { method: kw, id: kw } }, response: { properties: { status_code: long, bytes: long } } } },
          url: { properties: { original: { type: 'wildcard' } } },
          network: { properties: { transport: kw, protocol: kw } },
          weir: { properties: { gateway: kw, route: kw, namespace: kw, org: kw, env: kw, mode: kw } },
          agent: { properties: { id: kw, type: kw } },
          haproxy: {
            properties: {
              request_id: kw,
              frontend_name: kw,
              backend_name: kw,
              server_name: kw,
              termination_state: kw,
              bytes_read: long,
              bytes_uploaded: long,
              time_request_ms: long,
              time_queue_ms: long,
              time_connect_ms: long,
              time_response_ms: long,
              time_active_ms: long,
              time_total_ms: long,
              server_queue: long,
              backend_queue: long,
              connections: { properties: { active: long, frontend: long, backend: long, server: long, retries: long } },
            },
          },
        },
      },
    },
  };
}

/** Whole-request failures worth retrying: network, timeouts, 429 and 5xx. Auth/4xx errors also go to the spool rather than be dropped. */
function describe(err: unknown): { retry: boolean; message: string } {
  if (err instanceof errors.ResponseError) {
    const s = err.statusCode ?? 0;
    return { retry: s === 429 || s >= 500 || s === 401 || s === 403 || s === 413, message: `HTTP ${s}: ${err.message}` };
  }
  if (err instanceof errors.ConnectionError || err instanceof errors.TimeoutError || err instanceof errors.NoLivingConnectionsError) {
    return { retry: true, message: err.message };
  }
  return { retry: true, message: err instanceof Error ? err.message : String(err) };
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

/** Spool records written by agents before the bulk lines were spooled as they are. */
interface OldSpooledForm {
  i: string;
  x: string;
  d: unknown;
}

export class EsShipper<A = unknown> {
  private readonly client: Client;
  private readonly ownsClient: boolean;
  private readonly queue = new LineQueue<A>();
  private overflow: ShipItem<A>[] = [];
  /**
   * Slabs of queued lines, this shipper's and the byte path's (ecs-bytes.ts takes them from here): each line is
   * released once it is indexed, spooled or dropped, so its slab is reused instead of waiting for the collector.
   */
  readonly slabs: SlabPool;
  private readonly slab: LineSlab;
  /** Body buffer of the last request, reused by the next one (dropped after a failed request). */
  private readonly scratch = { buf: Buffer.alloc(0) };
  private spaceWaiters: Array<() => void> = [];
  private dataWaiter: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private inFlight = 0;
  private healthy = true;
  private failures = 0;
  private nextAttemptAt = 0;
  private templateInstalled = false;
  private templateAttempt: Promise<void> | null = null;
  private closing = false;
  private loop: Promise<void> | null = null;
  private spilling: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly capacity: number;
  private readonly batchSize: number;
  private readonly flushMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly attemptsBeforeSpool: number;
  private readonly random: () => number;
  private readonly counters = { indexed: 0, spooled: 0, dropped: 0, bulkRequests: 0 };

  constructor(private readonly opts: EsShipperOptions<A>) {
    if (!opts.client && !opts.connection) throw new ShipperError('EsShipper: needs `connection` (url, auth) or `client`');
    this.client = opts.client ?? createEsClient(opts.connection!);
    this.ownsClient = !opts.client;
    this.slabs = opts.slabs ?? new SlabPool();
    this.slab = new LineSlab(this.slabs);
    this.log = opts.logger ?? silentLogger();
    this.capacity = opts.queueCapacity ?? 10_000;
    this.batchSize = Math.min(opts.batchSize ?? 2000, this.capacity);
    this.flushMs = opts.flushIntervalMs ?? 1000;
    this.baseMs = opts.retry?.baseMs ?? 200;
    this.maxMs = opts.retry?.maxMs ?? 30_000;
    this.attemptsBeforeSpool = opts.spool ? Math.max(1, opts.retry?.attemptsBeforeSpool ?? 5) : Number.POSITIVE_INFINITY;
    this.random = opts.random ?? Math.random;
  }

  /**
   * Starts shipping and begins installing the index template without waiting for it: the agent must not block
   * on Elasticsearch. If ES is down the template is retried before the first bulk request.
   */
  start(): Promise<void> {
    if (this.loop) return Promise.resolve();
    this.ensureTemplate().catch((err: unknown) => {
      this.log.warn({ err: describe(err).message }, 'elasticsearch: index template not installed yet; will retry before shipping');
    });
    this.loop = this.run().catch((err: unknown) => {
      this.log.fatal({ err }, 'elasticsearch shipper loop crashed');
    });
    return Promise.resolve();
  }

  stats(): ShipperStats {
    return { queued: this.queue.length + this.overflow.length, inFlight: this.inFlight, ...this.counters, healthy: this.healthy };
  }

  /** Queues an item; waits while the queue is full (backpressure for pull-based producers such as the file tailer). */
  async push(item: ShipItem<A>): Promise<void> {
    while (this.queue.length >= this.capacity && !this.closing) await new Promise<void>((r) => this.spaceWaiters.push(r));
    if (this.closing) {
      this.slabs.release(item.line);
      throw new ShipperError('EsShipper: push after close');
    }
    this.enqueue(item);
  }

  /**
   * Non-blocking enqueue for producers that cannot wait (UDP). When full: with a spool the item is spilled to
   * disk (returns true); without one it is refused (returns false, counted as dropped `queue_full`).
   */
  offer(item: ShipItem<A>): boolean {
    if (this.closing) {
      this.slabs.release(item.line);
      return false;
    }
    if (this.queue.length < this.capacity) {
      this.enqueue(item);
      return true;
    }
    if (this.opts.spool && this.overflow.length < this.capacity) {
      this.overflow.push(item);
      if (this.overflow.length === 1) this.spilling = this.spilling.then(() => this.spill());
      return true;
    }
    this.counters.dropped += 1;
    this.opts.metrics?.dropped('queue_full');
    this.slabs.release(item.line);
    return false;
  }

  private enqueue(item: ShipItem<A>): void {
    this.queue.push(typeof item.line === 'string' ? { line: this.slab.encode(item.line), ...(item.ack !== undefined ? { ack: item.ack } : {}) } : item);
    this.opts.metrics?.queueDepth.set(this.queue.length);
    if (this.queue.length >= this.batchSize) this.wakeData();
  }

  private async spill(): Promise<void> {
    const items = this.overflow;
    this.overflow = [];
    if (items.length && !(await this.toSpool(items))) {
      this.counters.dropped += items.length;
      this.opts.metrics?.dropped('spool_error', items.length);
    }
    for (const it of items) this.slabs.release(it.line);
  }

  private wakeData(): void {
    const w = this.dataWaiter;
    this.dataWaiter = null;
    w?.();
  }

  private takeBatch(): Promise<ShipItem<A>[]> {
    const take = (): ShipItem<A>[] => {
      const batch = this.queue.take(this.batchSize);
      this.opts.metrics?.queueDepth.set(this.queue.length);
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const w of waiters) w();
      return batch;
    };
    if (this.queue.length >= this.batchSize || this.closing) return Promise.resolve(take());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.dataWaiter = null;
        resolve(take());
      }, this.flushMs);
      this.dataWaiter = () => {
        clearTimeout(timer);
        resolve(take());
      };
    });
  }

  private backoff(attempt: number): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(attempt, 20));
    return Math.round(cap / 2 + (cap / 2) * this.random()); // "equal jitter": never less than half the step
  }

  private ensureTemplate(): Promise<void> {
    if (this.templateInstalled) return Promise.resolve();
    // One attempt at a time; a failed attempt clears itself so the next bulk retries.
    this.templateAttempt ??= this.installTemplate().finally(() => (this.templateAttempt = null));
    return this.templateAttempt;
  }

  private async installTemplate(): Promise<void> {
    const all: Array<[string, Record<string, unknown>]> = [[this.opts.templateName ?? 'weir-logs', indexTemplate()], ...Object.entries(this.opts.extraTemplates ?? {})];
    for (const [name, body] of all) {
      const t = body as { index_patterns: string[]; priority: number; template: Record<string, unknown>; _meta: Record<string, unknown> };
      try {
        await this.client.indices.putIndexTemplate({ name, index_patterns: t.index_patterns, priority: t.priority, template: t.template, _meta: t._meta });
        this.log.info({ name }, 'elasticsearch: index template installed');
      } catch (err) {
        const d = describe(err);
        if (d.retry) throw err;
        // Rejected for good (e.g. a conflicting template, no privilege): ship with dynamic mappings rather than stall.
        this.log.error({ err: d.message, name }, 'elasticsearch refused the index template; shipping without it');
      }
    }
    this.templateInstalled = true;
  }

  /**
   * Sends `items` in batches; returns those not delivered after `maxAttempts` (retryable failures).
   * Delivered items are acked as they land; permanently rejected ones are dropped and counted.
   */
  private async send(items: ShipItem<A>[], maxAttempts: number): Promise<ShipItem<A>[]> {
    for (let start = 0; start < items.length; start += this.batchSize) {
      let pending = items.slice(start, start + this.batchSize);
      let attempt = 0;
      while (pending.length) {
        const retry: ShipItem<A>[] = [];
        const t0 = process.hrtime.bigint();
        try {
          await this.ensureTemplate();
          this.counters.bulkRequests += 1;
          const body = bulkBody(pending, this.scratch);
          // A prebuilt NDJSON body goes out as it is (the client serialises only arrays of objects).
          const res = (await this.client.bulk({ body, filter_path: BULK_FILTER_PATH } as unknown as estypes.BulkRequest)) as unknown as FilteredBulkResponse;
          this.opts.metrics?.bulkDuration.observe({ outcome: res.errors ? 'partial' : 'ok' }, Number(process.hrtime.bigint() - t0) / 1e9);
          const delivered: ShipItem<A>[] = [];
          let firstRejection: unknown = null;
          const items = res.items ?? [];
          if (items.length !== pending.length) throw new ShipperError(`bulk response has ${items.length} items for ${pending.length} documents`);
          items.forEach((entry, i) => {
            const it = pending[i]!;
            const r = entry.create ?? entry.index;
            const status = r?.status ?? 500;
            // 409 on `create`: a previous attempt (or a previous run) already indexed this _id.
            if ((status >= 200 && status < 300) || status === 409) delivered.push(it);
            else if (status === 429 || status >= 500) retry.push(it);
            else {
              firstRejection ??= r?.error ?? { status };
              this.counters.dropped += 1;
              this.opts.metrics?.dropped('rejected');
            }
          });
          if (firstRejection) this.log.error({ error: firstRejection }, 'elasticsearch rejected documents permanently (4xx); dropped');
          this.delivered(delivered);
          this.markHealthy();
        } catch (err) {
          // An aborted request may still hold its body: the next one gets a buffer of its own.
          this.scratch.buf = Buffer.alloc(0);
          this.opts.metrics?.bulkDuration.observe({ outcome: 'error' }, Number(process.hrtime.bigint() - t0) / 1e9);
          const d = describe(err);
          if (d.retry) {
            this.log.warn({ err: d.message, attempt: attempt + 1, items: pending.length }, 'elasticsearch bulk request failed; will retry');
            retry.push(...pending);
          } else {
            // A 400 on the whole request would fail identically forever (and poison the spool): drop and say so.
            this.counters.dropped += pending.length;
            this.opts.metrics?.dropped('rejected', pending.length);
            this.log.error({ err: d.message, items: pending.length }, 'elasticsearch rejected the bulk request (4xx); records dropped');
          }
        }
        pending = retry;
        if (pending.length === 0) break;
        attempt += 1;
        if (attempt >= maxAttempts || this.abort.signal.aborted) return [...pending, ...items.slice(start + this.batchSize)];
        await sleep(this.backoff(attempt), this.abort.signal);
      }
    }
    return [];
  }

  private delivered(items: ShipItem<A>[]): void {
    if (!items.length) return;
    this.counters.indexed += items.length;
    this.opts.metrics?.recordsShipped.inc(items.length);
    const acks = items.flatMap((it) => (it.ack === undefined ? [] : [it.ack]));
    if (acks.length) this.opts.onAck?.(acks, 'indexed');
  }

  private async reachable(): Promise<boolean> {
    try {
      return await this.client.ping();
    } catch {
      return false;
    }
  }

  private markHealthy(): void {
    if (!this.healthy) this.log.info('elasticsearch reachable again');
    this.healthy = true;
    this.failures = 0;
  }

  private markUnhealthy(): void {
    if (this.healthy) this.log.error('elasticsearch unreachable: spooling to disk');
    this.healthy = false;
    this.failures += 1;
    this.nextAttemptAt = Date.now() + this.backoff(this.failures);
  }

  /** False when the disk write failed (disk full, permissions): the caller decides what happens to the items. */
  private async toSpool(items: ShipItem<A>[]): Promise<boolean> {
    const spool = this.opts.spool!;
    try {
      await spool.append(items.map((it) => it.line));
    } catch (err) {
      this.log.error({ err, records: items.length }, 'spool write failed');
      return false;
    }
    this.counters.spooled += items.length;
    this.opts.metrics?.recordsSpooled.inc(items.length);
    this.opts.metrics?.spoolBytes.set(spool.bytes());
    const acks = items.flatMap((it) => (it.ack === undefined ? [] : [it.ack]));
    if (acks.length) this.opts.onAck?.(acks, 'spooled');
    return true;
  }

  /** Spool; if the disk fails too, keep retrying ES from memory (backpressure) until close cuts it short. */
  private async spoolOrRetry(items: ShipItem<A>[]): Promise<void> {
    if (await this.toSpool(items)) return;
    const left = this.abort.signal.aborted ? items : await this.send(items, Number.POSITIVE_INFINITY);
    if (left.length) {
      this.counters.dropped += left.length;
      this.opts.metrics?.dropped('spool_error', left.length);
      this.log.error({ records: left.length }, 'records neither indexed nor spooled; dropped');
    }
  }

  private async replayOne(spool: Spool): Promise<void> {
    const seg: SpoolSegment | null = await spool.next();
    if (!seg) return;
    const items: ShipItem<A>[] = [];
    for (const rec of seg.records) {
      if (rec.startsWith('{"create":')) {
        items.push({ line: rec });
        continue;
      }
      try {
        const f = JSON.parse(rec) as OldSpooledForm;
        items.push({ line: bulkLine(f.x, f.i, f.d) });
      } catch {
        this.counters.dropped += 1; // checksummed frames make this a bug, not disk rot
        this.opts.metrics?.dropped('rejected');
      }
    }
    const left = await this.send(items, this.healthy ? this.attemptsBeforeSpool : 1);
    if (left.length === 0) {
      await spool.ack(seg);
      this.opts.metrics?.spoolBytes.set(spool.bytes());
      this.markHealthy();
    } else {
      spool.release(seg);
      this.markUnhealthy();
    }
  }

  private async run(): Promise<void> {
    const spool = this.opts.spool;
    for (;;) {
      await this.spilling;
      if (spool && spool.pendingRecords() > 0 && Date.now() >= this.nextAttemptAt && !this.abort.signal.aborted) {
        try {
          // Unreachable so far: a HEAD / answers that for the price of one request instead of reading a spool
          // segment (8 MiB of records) and building a bulk body from it on every backoff step.
          if (!this.healthy && !(await this.reachable())) this.markUnhealthy();
          else await this.replayOne(spool);
        } catch (err) {
          // e.g. a segment unreadable: back off like an ES failure rather than spin.
          this.log.error({ err }, 'spool replay failed');
          this.markUnhealthy();
        }
        continue;
      }
      if (this.closing && this.queue.length === 0) break;
      const batch = await this.takeBatch();
      if (batch.length === 0) {
        this.notifyIdle();
        continue;
      }
      this.inFlight = batch.length;
      try {
        await this.handleBatch(batch);
      } finally {
        this.inFlight = 0;
        // Every line of the batch is indexed, spooled or dropped by now.
        for (const it of batch) this.slabs.release(it.line);
      }
      if (this.queue.length === 0) this.notifyIdle();
    }
    this.notifyIdle();
  }

  private async handleBatch(batch: ShipItem<A>[]): Promise<void> {
    const spool = this.opts.spool;
    {
      // While ES is down, or older records are still on disk, new records join the spool so order is kept.
      if (spool && (!this.healthy || spool.pendingRecords() > 0)) {
        await this.spoolOrRetry(batch);
        return;
      }
      const left = await this.send(batch, this.attemptsBeforeSpool);
      if (left.length) {
        if (spool) {
          if (!this.abort.signal.aborted) this.markUnhealthy();
          await this.spoolOrRetry(left);
        } else {
          // Only reachable on close() without a spool: the records are lost.
          this.counters.dropped += left.length;
          this.opts.metrics?.dropped('closed', left.length);
          this.log.error({ records: left.length }, 'elasticsearch shipper closed with undelivered records and no spool; dropped');
        }
      }
    }
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.overflow.length > 0 || this.inFlight > 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /**
   * Resolves true once everything queued so far has been indexed or spooled; false after `timeoutMs`.
   * Spooled records stay on disk for the next replay.
   */
  async flush(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 || this.overflow.length > 0 || this.inFlight > 0) {
      this.wakeData();
      if (Date.now() >= deadline) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, 20);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    await this.spilling;
    return true;
  }

  /**
   * SIGTERM path: stop accepting, flush for up to `timeoutMs`, then cut retries short (what is left goes to the
   * spool, or is dropped and counted when there is none), and close the client and spool.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    const flushed = await this.flush(timeoutMs);
    this.closing = true;
    if (!flushed) this.log.warn('elasticsearch shipper: flush timed out on close; undelivered records go to the spool (or are dropped without one)');
    this.wakeData();
    for (const w of this.spaceWaiters.splice(0)) w();
    this.abort.abort();
    await this.loop;
    await this.spilling;
    await this.opts.spool?.close();
    if (this.ownsClient) await this.client.close();
  }
}
