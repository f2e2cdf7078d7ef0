// The window reports on NATS: the WEIR_METRICS JetStream stream (events/contract.ts) and the window
// source that reads it back (the embedded default: `make up` judges releases and answers the control API's
// metrics endpoints with no Elasticsearch).
//
// A query reads the gateway's subject from `from` on with a short-lived ephemeral consumer (no acks, in
// memory) and pools what it finds: windows inside [from, to), one per agent and window start (a window
// published twice, e.g. re-sent after a reconnect, counts once).
import { AckPolicy, DeliverPolicy, nanos, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager, type NatsConnection } from 'nats';
import type { Logger } from '../runtime/log.js';
import { natsErrText } from '../events/nats-connection.js';
import { streams, subjects } from '../events/contract.js';
import { parseReport, poolReports, selectReports, seriesOfReports, type GatewayWindowReport } from './window-report.js';
import { MetricsUnavailableError, type SeriesQuery, type TrafficSeriesSource, type PooledAggregates, type WindowQuery, type WindowSeries } from './window-source.js';

export interface MetricsStreamOptions {
  maxAgeMs?: number;
  maxBytes?: number;
}

/** WEIR_METRICS_MAX_AGE: `Nm`/`Nh` → ms (1 min .. 7 days); the shared parser of agents and readers. */
export function metricsMaxAgeFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = (env.WEIR_METRICS_MAX_AGE ?? '').trim();
  if (raw === '') return streams.metrics.defaultMaxAgeMs;
  const m = /^(\d+)([mh])$/.exec(raw);
  const ms = m ? Number(m[1]) * (m[2] === 'h' ? 3_600_000 : 60_000) : NaN;
  if (!(ms >= 60_000 && ms <= 7 * 86_400_000)) throw new Error(`WEIR_METRICS_MAX_AGE: "${raw}" must be Nm or Nh between 1m and 168h`);
  return ms;
}

function isNoStream(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string; message?: string } | null;
  return e?.api_error?.err_code === 10059 || /stream not found/i.test(e?.message ?? '');
}

/** Creates WEIR_METRICS when missing (an existing stream is left as it is). */
export async function ensureMetricsStream(jsm: JetStreamManager, opts: MetricsStreamOptions = {}): Promise<void> {
  try {
    await jsm.streams.info(streams.metrics.name);
    return;
  } catch (err) {
    if (!isNoStream(err)) throw err;
  }
  try {
    await jsm.streams.add({
      name: streams.metrics.name,
      subjects: [...streams.metrics.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(opts.maxAgeMs ?? streams.metrics.defaultMaxAgeMs),
      max_bytes: opts.maxBytes ?? streams.metrics.defaultMaxBytes,
      // Agents publish with a msgID per window: a re-send within this window is stored once.
      duplicate_window: nanos(2 * 60_000),
    });
  } catch (err) {
    if (!/already in use|already exists/i.test(natsErrText(err))) throw err;
  }
}

/** The message id of a report: JetStream drops a re-sent window inside the duplicate window. */
export const reportMsgId = (r: GatewayWindowReport): string => `${r.org}.${r.env}.${r.gateway}.${r.agent}.${r.start}`;

export interface NatsWindowSourceOptions {
  /** The current connection, or null while disconnected (e.g. `NatsConnector.current`). */
  connection: () => NatsConnection | null;
  location: string;
  /** The agents' window, for the aggregates' `windowSeconds` when no report says otherwise. Default 10. */
  windowSeconds?: number;
  stream?: MetricsStreamOptions;
  logger?: Logger;
  /** Bound on one query's reads. Default 5 s. */
  timeoutMs?: number;
}

export class NatsWindowSource implements TrafficSeriesSource {
  readonly kind = 'nats' as const;
  readonly location: string;
  readonly windowSeconds: number;
  private ensured = false;

  constructor(private readonly opts: NatsWindowSourceOptions) {
    this.location = opts.location;
    this.windowSeconds = opts.windowSeconds ?? 10;
  }

  async aggregate(q: WindowQuery): Promise<PooledAggregates> {
    const reports = await this.read(q);
    return poolReports(selectReports(reports, q.from, q.to), q.from, q.to, this.windowOf(reports));
  }

  async series(q: SeriesQuery): Promise<WindowSeries> {
    const reports = await this.read(q);
    return seriesOfReports(selectReports(reports, q.from, q.to), q.from, q.to, q.stepSeconds, this.windowOf(reports));
  }

  async close(): Promise<void> {
    // The connection belongs to whoever passed it in.
  }

  private windowOf(reports: GatewayWindowReport[]): number {
    return reports[0]?.window_s ?? this.windowSeconds;
  }

  private async read(q: WindowQuery): Promise<GatewayWindowReport[]> {
    const nc = this.opts.connection();
    if (!nc || nc.isClosed()) throw new MetricsUnavailableError('nats', `not connected to NATS at ${this.location}`);
    const deadline = Date.now() + (this.opts.timeoutMs ?? 5000);
    try {
      const jsm = await nc.jetstreamManager({ timeout: 2000 });
      if (!this.ensured) {
        await ensureMetricsStream(jsm, this.opts.stream);
        this.ensured = true;
      }
      // Windows that start at or after `from` are published after it, so the stream is read from there.
      const ci = await jsm.consumers.add(streams.metrics.name, {
        filter_subject: subjects.metrics(q.ns, q.gateway),
        deliver_policy: DeliverPolicy.StartTime,
        opt_start_time: q.from.toISOString(),
        ack_policy: AckPolicy.None,
        mem_storage: true,
        inactive_threshold: nanos(30_000),
      });
      const out: GatewayWindowReport[] = [];
      try {
        let left = ci.num_pending;
        if (left > 0) {
          const consumer = await nc.jetstream().consumers.get(streams.metrics.name, ci.name);
          while (left > 0) {
            const wait = deadline - Date.now();
            if (wait <= 0) throw new Error('reading the metrics stream took too long');
            let got = 0;
            const batch = await consumer.fetch({ max_messages: Math.min(left, 1000), expires: Math.max(1000, Math.min(wait, 5000)) });
            for await (const m of batch) {
              got += 1;
              left = m.info.pending;
              let body: unknown;
              try {
                body = m.json();
              } catch {
                body = null;
              }
              const r = parseReport(body, q.ns, q.gateway);
              if (r) out.push(r);
              else this.opts.logger?.warn({ subject: m.subject, seq: m.seq }, 'metrics stream: a message that is not a window report was skipped');
            }
            if (got === 0) break;
          }
        }
      } finally {
        await jsm.consumers.delete(streams.metrics.name, ci.name).catch(() => undefined);
      }
      return out;
    } catch (err) {
      if (err instanceof MetricsUnavailableError) throw err;
      throw new MetricsUnavailableError('nats', `reading ${streams.metrics.name} at ${this.location} failed: ${natsErrText(err)}`, err);
    }
  }
}
