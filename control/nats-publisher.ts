// The control API's side of the NATS contract: gateway changes and audit records.
//
// Every message first goes into a durable on-disk outbox, then a single drain loop publishes
// the outbox head with `js.publish` and acks it when JetStream has stored it. Because the
// WEIR_CHANGES stream captures the core subject `weir.<org>.<env>.gateways.changed`, the same
// publish reaches subscribed agents at once and lands in the stream's history.
//   - NATS down: callers still return as soon as the message is on disk; the drain stops and
//     resumes on reconnect (and on a retry timer), in order, without a restart.
//   - Exactly once in the streams: each message carries a Nats-Msg-Id (the audit record id, or
//     a random id for changes), so a re-publish after a lost ack is dropped by JetStream.
//   - Never throws into the caller for NATS errors; disk errors are logged and the message is
//     still kept in memory and published.
import { randomUUID } from 'node:crypto';
import { Counter, Gauge, Registry } from 'prom-client';
import type { JetStreamManager, NatsConnection } from 'nats';
import { RetentionPolicy, StorageType } from 'nats';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import { natsErrText, type NatsConnector } from '../events/nats-connection.js';
import type { Namespace } from '../store/store.js';
import { streams, subjects, type AuditRecord, type CertificateChangedEvent, type GatewayChangedEvent, type ReleaseEvent } from '../events/contract.js';
import { Outbox, type OutboxEntry, type OutboxMessage } from './nats-outbox.js';
import type { AuditSink, ChangePublisher, PublishErrorReporter } from './seams.js';

export type { AuditSink, ChangePublisher };

export interface PublisherStats {
  published: { change: number; audit: number; release: number };
  failed: number;
  outboxDepth: number;
  connected: boolean;
}

export interface NatsEventPublisherOptions {
  connector: NatsConnector;
  /** Directory of the outbox file; must survive restarts (a volume in Kubernetes). */
  outboxDir: string;
  logger?: Logger;
  /** Also told about every failed publish attempt (the control API's own metrics). */
  reporter?: PublishErrorReporter;
  /** Registry for the weir_control_nats_* metrics; a private one if omitted. */
  registry?: Registry;
  /** Timeout of one JetStream publish. */
  publishTimeoutMs?: number;
  /** Wait before retrying the drain after a failure while still connected. */
  retryMs?: number;
  /** JetStream duplicate window in ms for streams this publisher creates. */
  duplicateWindowMs?: number;
  /** Max age of WEIR_CHANGES history in ms (audit is kept until an operator sets limits). */
  changesMaxAgeMs?: number;
}

const DAY_MS = 24 * 3600 * 1000;
export const AUDIT_STREAM_SUBJECTS = streams.audit.subjects;

export class NatsEventPublisher implements ChangePublisher, AuditSink {
  private readonly log: Logger;
  private readonly connector: NatsConnector;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly metrics: { published: Counter<'kind'>; failed: Counter<'kind'>; depth: Gauge };
  private readonly counts = { change: 0, audit: 0, release: 0, failed: 0 };
  private draining = false;
  private streamsReady = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly drainWaiters = new Set<() => void>();
  private readonly offUp: () => void;
  private readonly offDown: () => void;

  private constructor(
    private readonly outbox: Outbox,
    private readonly opts: NatsEventPublisherOptions,
  ) {
    this.log = opts.logger ?? silentLogger();
    this.connector = opts.connector;
    this.timeoutMs = opts.publishTimeoutMs ?? 5000;
    this.retryMs = opts.retryMs ?? 2000;
    const r = [opts.registry ?? new Registry()];
    this.metrics = {
      published: new Counter({ name: 'weir_control_nats_published_total', help: 'Messages JetStream acknowledged, by kind (change, audit, release).', labelNames: ['kind'], registers: r }),
      failed: new Counter({ name: 'weir_control_nats_publish_failures_total', help: 'Failed publish attempts, by kind; the message stays in the outbox.', labelNames: ['kind'], registers: r }),
      depth: new Gauge({ name: 'weir_control_nats_outbox_depth', help: 'Messages waiting in the on-disk outbox for NATS.', registers: r }),
    };
    this.metrics.depth.set(outbox.depth());
    this.offUp = this.connector.onUp((_nc, reason) => {
      // A restarted server may have lost its streams (no persistent store): check again.
      if (reason === 'reconnected') this.streamsReady = false;
      this.kick();
    });
    this.offDown = this.connector.onDown(() => clearTimeout(this.retryTimer));
  }

  /** Opens (and replays) the outbox and starts draining it when NATS is up. */
  static async open(opts: NatsEventPublisherOptions): Promise<NatsEventPublisher> {
    const outbox = await Outbox.open(opts.outboxDir);
    const p = new NatsEventPublisher(outbox, opts);
    if (outbox.depth() > 0) p.log.warn({ depth: outbox.depth() }, 'outbox holds unpublished messages from an earlier run; publishing them when NATS is up');
    opts.connector.start();
    p.kick();
    return p;
  }

  async publishGatewayChanged(ns: Namespace, ev: GatewayChangedEvent): Promise<void> {
    await this.enqueue({ id: `change-${randomUUID()}`, kind: 'change', subject: subjects.gatewaysChanged(ns), stream: streams.changes.name, payload: JSON.stringify(ev) });
  }

  /** [edge] Through the same outbox and stream as gateway changes. */
  async publishCertificateChanged(ns: Namespace, ev: CertificateChangedEvent): Promise<void> {
    await this.enqueue({ id: `change-${randomUUID()}`, kind: 'change', subject: subjects.certificatesChanged(ns), stream: streams.changes.name, payload: JSON.stringify(ev) });
  }

  async record(ns: Namespace | null, rec: AuditRecord): Promise<void> {
    await this.enqueue({ id: rec.id, kind: 'audit', subject: subjects.audit(ns), stream: streams.audit.name, payload: JSON.stringify(rec) });
  }

  /** A release transition (release/ReleaseEventPublisher); the message id makes a re-send after a restart a duplicate JetStream drops. */
  async publishRelease(ns: Namespace, gateway: string, ev: ReleaseEvent): Promise<void> {
    const id = `release-${ev.runId}-${ev.attempt}-${ev.kind}-${Date.parse(ev.at)}`;
    await this.enqueue({ id, kind: 'release', subject: subjects.releases(ns, gateway), stream: streams.releases.name, payload: JSON.stringify(ev) });
  }

  stats(): PublisherStats {
    return {
      published: { change: this.counts.change, audit: this.counts.audit, release: this.counts.release },
      failed: this.counts.failed,
      outboxDepth: this.outbox.depth(),
      connected: this.connector.isConnected(),
    };
  }

  /** The pending messages, oldest first (diagnostics and tests). */
  pending(): readonly OutboxEntry[] {
    return this.outbox.entries();
  }

  /** Resolves when the outbox is empty, or false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.outbox.depth() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.drainWaiters.delete(done);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.drainWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      this.drainWaiters.add(done);
    });
  }

  /** Stops draining and closes the outbox; does not close the shared connector. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.offUp();
    this.offDown();
    await this.outbox.close();
  }

  private async enqueue(msg: OutboxMessage): Promise<void> {
    if (this.closed) {
      this.log.error({ id: msg.id, kind: msg.kind }, 'publisher closed; message not recorded');
      return;
    }
    const appended = this.outbox.append(msg);
    this.metrics.depth.set(this.outbox.depth());
    this.kick();
    try {
      await appended;
    } catch (err) {
      // The message is still queued in memory and will be published if NATS is up; only a
      // crash before then would lose it. Logged loudly; the caller's write already succeeded.
      this.log.error({ err: (err as Error).message, id: msg.id, kind: msg.kind, outbox: this.outbox.path }, 'cannot write the NATS outbox');
    }
  }

  /** Starts the drain loop unless it runs already. */
  private kick(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    void this.drain().then((why) => {
      this.draining = false;
      // A message appended between the loop seeing an empty outbox and this line found the
      // loop still marked running: go again. After a failure the retry timer does it instead.
      if (why === 'empty' && this.outbox.depth() > 0) this.kick();
    });
  }

  private async drain(): Promise<'empty' | 'offline' | 'failed' | 'closed'> {
    clearTimeout(this.retryTimer);
    for (;;) {
      if (this.closed) return 'closed';
      const head = this.outbox.head();
      if (!head) {
        for (const w of [...this.drainWaiters]) w();
        return 'empty';
      }
      const nc = this.connector.current();
      if (!nc) return 'offline'; // the connector's "up" kicks us again
      try {
        if (!this.streamsReady) {
          await ensureStreams(await nc.jetstreamManager({ timeout: this.timeoutMs }), this.opts);
          this.streamsReady = true;
        }
        await this.publish(nc, head.msg);
      } catch (err) {
        this.counts.failed += 1;
        this.metrics.failed.inc({ kind: head.msg.kind });
        this.opts.reporter?.publishError(head.msg.kind);
        if (isNoStream(err)) this.streamsReady = false;
        this.log.warn({ err: natsErrText(err), id: head.msg.id, depth: this.outbox.depth() }, 'NATS publish failed; kept in the outbox');
        this.scheduleRetry();
        return 'failed';
      }
      this.counts[head.msg.kind] += 1;
      this.metrics.published.inc({ kind: head.msg.kind });
      try {
        await this.outbox.ack(head.seq);
      } catch (err) {
        this.log.error({ err: (err as Error).message, outbox: this.outbox.path }, 'cannot record a publish in the outbox; it may be re-sent (JetStream drops the duplicate)');
      }
      this.metrics.depth.set(this.outbox.depth());
    }
  }

  private async publish(nc: NatsConnection, msg: OutboxMessage): Promise<void> {
    const js = nc.jetstream({ timeout: this.timeoutMs });
    await js.publish(msg.subject, new TextEncoder().encode(msg.payload), { msgID: msg.id, expect: { streamName: msg.stream }, timeout: this.timeoutMs });
  }

  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.kick(), this.retryMs);
    this.retryTimer.unref();
  }
}

/** Creates WEIR_CHANGES, WEIR_AUDIT and WEIR_RELEASES when missing; an existing stream's config is left alone. */
export async function ensureStreams(jsm: JetStreamManager, opts: { duplicateWindowMs?: number; changesMaxAgeMs?: number } = {}): Promise<void> {
  const dupNs = (opts.duplicateWindowMs ?? 15 * 60 * 1000) * 1e6;
  const wanted = [
    { ...streams.changes, max_age: (opts.changesMaxAgeMs ?? 30 * DAY_MS) * 1e6 },
    // events.ts lists `weir.audit.>` for WEIR_AUDIT, but JetStream refuses it next to WEIR_CHANGES:
    // `weir.audit.<x>.gateways.changed` (org "audit") matches both. Audit subjects are exactly
    // `weir.audit.<org>.<env>` and `weir.audit._system`, so those two filters cover them disjointly.
    { name: streams.audit.name, subjects: AUDIT_STREAM_SUBJECTS, max_age: 0 },
    { name: streams.releases.name, subjects: streams.releases.subjects, max_age: streams.releases.maxAgeSeconds * 1e9 },
  ];
  for (const s of wanted) {
    try {
      const info = await jsm.streams.info(s.name);
      // [edge] A stream from an older release lacks subjects added since (certificates.changed): add them.
      const missing = s.subjects.filter((x) => !info.config.subjects?.includes(x));
      if (missing.length > 0) await jsm.streams.update(s.name, { ...info.config, subjects: [...(info.config.subjects ?? []), ...missing] });
      continue;
    } catch (err) {
      if (!isNoStream(err)) throw err;
    }
    try {
      await jsm.streams.add({
        name: s.name,
        subjects: [...s.subjects],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        max_age: s.max_age,
        duplicate_window: dupNs,
      });
    } catch (err) {
      // Another control API replica created it between our info and add.
      if (!/already in use|already exists/i.test(natsErrText(err))) throw err;
    }
  }
}

function isNoStream(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string; message?: string } | null;
  return e?.api_error?.err_code === 10059 || e?.code === '503' || /stream not found|no responders/i.test(e?.message ?? '');
}

/** The two seams the HTTP server wants, both backed by one publisher and one outbox. */
export class NatsChangePublisher implements ChangePublisher {
  constructor(private readonly p: NatsEventPublisher) {}
  publishGatewayChanged(ns: Namespace, ev: GatewayChangedEvent): Promise<void> {
    return this.p.publishGatewayChanged(ns, ev);
  }
  publishCertificateChanged(ns: Namespace, ev: CertificateChangedEvent): Promise<void> {
    return this.p.publishCertificateChanged(ns, ev);
  }
}

export class NatsAuditSink implements AuditSink {
  constructor(private readonly p: NatsEventPublisher) {}
  record(ns: Namespace | null, rec: AuditRecord): Promise<void> {
    return this.p.record(ns, rec);
  }
}
