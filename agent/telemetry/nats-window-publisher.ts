/**
 * Publishes each closed gateway window on `weir.<org>.<env>.metrics.<gateway>` into the WEIR_METRICS
 * stream (JetStream publish with a msgID per window, so a re-send is stored once). While NATS is away the
 * newest `maxBuffered` reports wait in memory and go out on reconnect (older ones are dropped and counted):
 * a reader then sees them late rather than never, and a window that never arrives reads as "this agent did
 * not report", not as zero traffic.
 */
import type { NatsConnection } from 'nats';
import type { Logger } from '../../runtime/log.js';
import { natsErrText } from '../../events/nats-connection.js';
import { streams, subjects } from '../../events/contract.js';
import { ensureMetricsStream, reportMsgId, type MetricsStreamOptions } from '../../metrics/nats-window-stream.js';
import type { GatewayWindowReport } from '../../metrics/window-report.js';

export interface NatsWindowPublisherOptions {
  logger: Logger;
  stream?: MetricsStreamOptions;
  /** Reports held while disconnected. Default 5000 (10 s windows: 1,000 gateways for 50 s). */
  maxBuffered?: number;
  count: (kind: 'window_published' | 'window_failed' | 'window_dropped', n?: number) => void;
}

export class NatsWindowPublisher {
  private nc: NatsConnection | null = null;
  private ensured: NatsConnection | null = null;
  private buffer: GatewayWindowReport[] = [];
  private flushing = false;
  private readonly max: number;

  constructor(private readonly opts: NatsWindowPublisherOptions) {
    this.max = opts.maxBuffered ?? 5000;
  }

  attach(nc: NatsConnection): void {
    this.nc = nc;
    void this.flush();
  }

  detach(): void {
    this.nc = null;
  }

  publish(report: GatewayWindowReport): void {
    this.buffer.push(report);
    if (this.buffer.length > this.max) {
      const drop = this.buffer.length - this.max;
      this.buffer.splice(0, drop);
      this.opts.count('window_dropped', drop);
    }
    void this.flush();
  }

  /** Reports waiting for NATS. */
  pending(): number {
    return this.buffer.length;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.buffer.length > 0) {
        const nc = this.nc;
        if (!nc || nc.isClosed()) return;
        if (this.ensured !== nc) {
          await ensureMetricsStream(await nc.jetstreamManager({ timeout: 2000 }), this.opts.stream);
          this.ensured = nc;
        }
        const js = nc.jetstream();
        const batch = this.buffer.slice(0, 64);
        const results = await Promise.allSettled(
          batch.map((r) => js.publish(subjects.metrics({ org: r.org, env: r.env }, r.gateway), JSON.stringify(r), { msgID: reportMsgId(r), expect: { streamName: streams.metrics.name }, timeout: 5000 })),
        );
        const failed = results.findIndex((x) => x.status === 'rejected');
        const done = failed < 0 ? batch.length : failed;
        this.buffer.splice(0, done);
        this.opts.count('window_published', done);
        if (failed >= 0) {
          this.opts.count('window_failed');
          this.opts.logger.warn({ err: natsErrText((results[failed] as PromiseRejectedResult).reason), pending: this.buffer.length }, 'window report not published; kept for the next attempt');
          // The stream may be gone (deleted by hand): check it again on the next attempt.
          this.ensured = null;
          setTimeout(() => void this.flush(), 2000).unref();
          return;
        }
      }
    } catch (err) {
      this.opts.logger.warn({ err: natsErrText(err) }, 'metrics stream unavailable; window reports kept for the next attempt');
      setTimeout(() => void this.flush(), 2000).unref();
    } finally {
      this.flushing = false;
    }
  }
}
