/**
 * Traffic telemetry inside the agent:
 * - counts: HAProxy's own per-route counters (CounterTap, monotonic across reloads) → Prometheus at scrape
 *   time (RouteMetrics) and the exact counts of the window aggregates;
 * - lines: a log source (UDP syslog, ring/TCP, or a file rsyslog writes), sampled in HAProxy (LogSampler) →
 *   parse → latency histograms (Prometheus and the windows) → optional Elasticsearch shipping with a bounded
 *   disk spool;
 * - windows: one report per gateway and window → `onWindow` listeners (the NATS link) and Elasticsearch
 *   `weir-metrics-*`;
 * - per backend server gauges read from `show stat` at scrape time.
 *
 * The Agent owns one of these: `start()` runs before HAProxy's config is first rendered, because the
 * receiver's actual (ephemeral) port becomes HAProxy's log target; `refresh()` runs after every apply
 * (bounded labels follow the applied gateways); `stop()` runs after HAProxy stopped, so its last lines are
 * in, and flushes the shipper for at most `flushTimeoutMs` (the rest goes to the spool).
 */
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../../runtime/log.js';
import type { HaproxyModel } from '../plan/haproxy-model.js';
import { sendOnce } from '../haproxy/cli-connection.js';
import { parseShowStat } from '../haproxy/stat-parse.js';
import type { Namespace } from '../../store/store.js';
import { BackendCollector } from './backend-collector.js';
// es-shipper loads the Elasticsearch client (~0.5 s of CPU at start): imported only when shipping is on.
import type { EsShipper, ShipperStats } from './es-shipper.js';
import { bulkLine } from './ecs-line.js';
import type { EsConnection } from '../../metrics/es-connection.js';
import { FileTailer, type TailAck, type TailLine } from './file-tailer.js';
import { validateNamespace } from './log-record.js';
import { LinePipeline } from './line-pipeline.js';
import { Spool } from './spool.js';
import { startSyslogTcp, type SyslogTcpReceiver } from './syslog-tcp.js';
import { startSyslogUdp, type SyslogUdpReceiver } from './syslog-udp.js';
import type { TelemetrySettings } from './telemetry-settings.js';
import { TelemetryMetrics } from './traffic-metrics.js';
import { WindowAggregator } from './window-aggregator.js';
import { CounterTap } from './counter-tap.js';
import { LogSampler, newRouteThreshold } from './log-sampler.js';
import { SampleFiles } from './sample-files.js';
import { RouteMetrics } from './route-metrics.js';
import { metricsDocuments, metricsIndexTemplate } from '../../metrics/es-window-documents.js';
import type { GatewayWindowReport } from '../../metrics/window-report.js';
import { SlabPool } from './slab-pool.js';

export class TelemetryStartError extends Error {
  override name = 'TelemetryStartError';
}

export const RING_NAME = 'weir_logs';
/** Ring buffer size: ~4 s of 1000 req/s at ~400 B per line survives an agent restart. */
export const RING_SIZE_BYTES = 4 * 1024 * 1024;

export interface LogRenderOverrides {
  logTarget: string | null;
  logRing: { name: string; server: string; sizeBytes: number } | null;
  /** Directory of the per-route log sampling pattern files (null: every request is logged). */
  logSampleDir: string | null;
}

export interface AgentTelemetryOptions {
  settings: TelemetrySettings;
  namespace: Namespace;
  agentId: string;
  stateDir: string;
  /** The agent's WEIR_LOG_TARGET (used as-is by the file and none sources). */
  logTarget: string | null;
  registry: Registry;
  adminSocket: string;
  logger: Logger;
  /** The model HAProxy runs (slots for the backend server gauges). */
  running: () => HaproxyModel | null;
  /** Applied gateways and their routes: the only label values allowed. */
  applied: () => Array<{ gateway: string; routes: string[] }>;
  /** Shipper tuning (tests). */
  shipper?: { queueCapacity?: number; batchSize?: number; flushIntervalMs?: number };
}

export interface TelemetryStats {
  source: TelemetrySettings['source'];
  receiver: { datagrams?: number; frames?: number; connections?: number; bytes: number; dropped: number } | null;
  tailer: ReturnType<FileTailer['stats']> | null;
  shipper: ShipperStats | null;
  spool: { bytes: number; records: number } | null;
  openWindows: number;
  counters: { workers: Array<{ id: string; pid: number; stopping: boolean }>; failedReads: number };
}

export class AgentTelemetry {
  readonly metrics: TelemetryMetrics;
  private readonly log: Logger;
  private readonly ns: Namespace;
  private readonly aggregator: WindowAggregator;
  readonly counters: CounterTap;
  private readonly sampler: LogSampler | null;
  /**
   * The sampling pattern files, kept even with sampling off: a config on disk (an adopted HAProxy's, the
   * last-good cache) may still name them, and they go only once no installed config does.
   */
  readonly sampleFiles: SampleFiles;
  private readonly pipeline: LinePipeline;
  /** The byte path writes bulk lines into these; the shipper hands them back as lines are done. */
  private readonly slabs = new SlabPool();
  private readonly windowListeners = new Set<(r: GatewayWindowReport) => void>();
  private shipper: EsShipper<TailAck> | null = null;
  private spool: Spool | null = null;
  private udp: SyslogUdpReceiver | null = null;
  private tcp: SyslogTcpReceiver | null = null;
  private tailer: FileTailer | null = null;
  private tailerSkipped = 0;
  private started = false;

  constructor(private readonly opts: AgentTelemetryOptions) {
    this.log = opts.logger.child({ component: 'telemetry' });
    this.ns = { org: opts.namespace.org, env: opts.namespace.env };
    validateNamespace(this.ns);
    this.metrics = new TelemetryMetrics({ registry: opts.registry });
    const known = (): ReadonlyMap<string, ReadonlySet<string>> => this.metrics.knownRoutes();
    this.aggregator = new WindowAggregator({
      ns: this.ns,
      agentId: opts.agentId,
      windowSeconds: opts.settings.windowSeconds,
      registry: opts.registry,
      known,
      readCounters: () => void this.counters.refresh().catch(() => undefined),
      emit: (report) => this.onWindowClosed(report),
    });
    const s = opts.settings;
    // The lines are sampled only where the agent is their only reader (see LogSampling).
    const sampling = s.sampling.mode !== 'all' && s.source !== 'none' ? s.sampling : null;
    this.sampleFiles = new SampleFiles({ dir: join(opts.stateDir, 'log-sample'), newFileThreshold: newRouteThreshold(sampling), legacyMapPath: join(opts.stateDir, 'telemetry-log-sample.map') });
    this.sampler = sampling ? new LogSampler({ sampling, files: this.sampleFiles, adminSocket: opts.adminSocket, registry: opts.registry, logger: this.log, known }) : null;
    this.counters = new CounterTap({
      adminSocket: opts.adminSocket,
      statePath: join(opts.stateDir, 'telemetry-counters.json'),
      logger: this.log,
      onRead: (totals, at) => {
        this.aggregator.onCounters(totals, at);
        this.sampler?.observe(totals, at);
      },
    });
    new RouteMetrics({ registry: opts.registry, tap: this.counters, known });
    this.pipeline = new LinePipeline({ ns: this.ns, agentId: opts.agentId, metrics: this.metrics, windows: this.aggregator, ship: s.elasticsearch !== null, slabs: this.slabs, logger: this.log });
    // A fresh connection per scrape: it never queues behind apply commands, and after a reload it
    // reaches the new worker (a kept-open session would stay on the old, stopping worker and keep
    // it alive until hard-stop-after).
    const adminSocket = opts.adminSocket;
    new BackendCollector({ registry: opts.registry, showStat: async () => parseShowStat(await sendOnce(adminSocket, 'show stat', 2000)), running: opts.running });
  }

  /** Each closed gateway window (the NATS link publishes them). Returns an unsubscribe function. */
  onWindow(listener: (report: GatewayWindowReport) => void): () => void {
    this.windowListeners.add(listener);
    return () => this.windowListeners.delete(listener);
  }

  private onWindowClosed(report: GatewayWindowReport): void {
    for (const l of this.windowListeners) {
      try {
        l(report);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'window listener failed');
      }
    }
    // No acks on metrics documents: they are derived, and their _id makes a replay harmless.
    if (this.shipper) for (const d of metricsDocuments(report)) this.shipper.offer({ line: bulkLine(d.index, d.id, d.document) });
  }

  /** Starts the shipper and the log source; returns what HAProxy's `global` must log to. */
  async start(): Promise<LogRenderOverrides> {
    const s = this.opts.settings;
    this.started = true;
    if (s.elasticsearch) await this.startShipper(s.elasticsearch);
    // Before the first render: the thresholds an adopted HAProxy has are in the files; its worker must be
    // held (its counters carried) before the agent reloads it.
    await this.sampleFiles.start();
    this.sampler?.start();
    await this.counters.start();
    this.aggregator.start();
    const logSampleDir = this.sampler ? this.sampleFiles.dir : null;
    switch (s.source) {
      case 'udp': {
        this.udp = await startSyslogUdp({ host: s.udpAddr.host, port: s.udpAddr.port, sink: { bytes: (buf, start, end) => this.onLiveLine(buf, start, end) }, logger: this.log });
        const a = this.udp.address();
        return { logTarget: `${hostPort(a.host, a.port)}`, logRing: null, logSampleDir };
      }
      case 'ring': {
        this.tcp = await startSyslogTcp({ host: s.tcpAddr.host, port: s.tcpAddr.port, sink: { bytes: (buf, start, end) => this.onLiveLine(buf, start, end) }, onOversized: () => this.pipeline.countOversized(), logger: this.log });
        const a = this.tcp.address();
        return { logTarget: `ring@${RING_NAME}`, logRing: { name: RING_NAME, server: hostPort(a.host, a.port), sizeBytes: RING_SIZE_BYTES }, logSampleDir };
      }
      case 'file': {
        this.tailer = new FileTailer({
          path: s.logFile!,
          statePath: join(this.opts.stateDir, 'telemetry-file-offsets.json'),
          onLines: (lines) => this.onFileLines(lines),
          logger: this.log,
        });
        await this.tailer.start();
        return { logTarget: this.opts.logTarget, logRing: null, logSampleDir };
      }
      case 'none':
        return { logTarget: this.opts.logTarget, logRing: null, logSampleDir: null };
    }
  }

  private async startShipper(es: NonNullable<TelemetrySettings['elasticsearch']>): Promise<void> {
    const { EsShipper } = await import('./es-shipper.js');
    const { EsConfigError, loadEsConnection } = await import('../../metrics/es-connection.js');
    let connection: EsConnection;
    try {
      connection = await loadEsConnection(es);
    } catch (err) {
      throw err instanceof EsConfigError ? new TelemetryStartError(err.message) : err;
    }
    this.spool = await Spool.open({
      dir: join(this.opts.stateDir, 'spool'),
      maxBytes: this.opts.settings.spoolMaxBytes,
      logger: this.log,
      onDrop: (n) => this.metrics.dropped('spool_full', n),
    });
    this.metrics.spoolBytes.set(this.spool.bytes());
    this.shipper = new EsShipper<TailAck>({
      connection,
      spool: this.spool,
      metrics: this.metrics,
      logger: this.log,
      extraTemplates: { 'weir-metrics': metricsIndexTemplate() },
      // Spooled counts as delivered for the file offset: the spool is fsynced and replayed after a restart.
      onAck: (acks) => this.tailer?.ack(acks),
      queueCapacity: this.opts.settings.queueCapacity,
      slabs: this.slabs,
      ...this.opts.shipper,
    });
    await this.shipper.start();
  }

  /** Before a config is checked or written (Applier): each sampling file it names exists. */
  async ensureSampleFiles(config: string): Promise<void> {
    if (this.sampler) await this.sampler.ensureFiles(config);
    else await this.sampleFiles.ensure(config);
  }

  /** After a config is installed and running (Applier): files of routes it dropped go. */
  async pruneSampleFiles(config: string): Promise<void> {
    if (this.sampler) await this.sampler.pruneFiles(config);
    else await this.sampleFiles.prune(config);
  }

  /** New label set after an apply; a reload's new worker is attached at once (its counters held). */
  refresh(): void {
    this.metrics.setKnown(this.opts.applied());
    this.sampler?.applied();
    void this.counters.refresh().catch(() => undefined);
  }

  /** UDP and TCP: cannot wait, so a full queue spills to the spool (or is counted as dropped). */
  private onLiveLine(buf: Buffer, start: number, end: number): boolean {
    const out = this.pipeline.processBytes(buf, start, end);
    if (out === null) return false;
    if (out === true) return true;
    return this.shipper!.offer({ line: out });
  }

  /** File: waits for queue space (backpressure on reading); offsets advance on ES ack or spool. */
  private async onFileLines(lines: TailLine[]): Promise<void> {
    const skipped = this.tailer!.stats().skippedLines;
    for (; this.tailerSkipped < skipped; this.tailerSkipped += 1) this.pipeline.countOversized();
    const immediate: TailAck[] = [];
    for (const l of lines) {
      const out = this.pipeline.process(l.line);
      if (out === null || out === true) immediate.push(l.ack);
      else await this.shipper!.push({ line: out, ack: l.ack });
    }
    if (immediate.length) this.tailer!.ack(immediate);
  }

  /** Where the agent receives logs (udp/ring sources), once started. */
  logAddress(): { protocol: 'udp' | 'tcp'; host: string; port: number } | null {
    if (this.udp) return { protocol: 'udp', ...this.udp.address() };
    if (this.tcp) return { protocol: 'tcp', ...this.tcp.address() };
    return null;
  }

  stats(): TelemetryStats {
    const u = this.udp?.stats();
    const t = this.tcp?.stats();
    return {
      source: this.opts.settings.source,
      receiver: u ? { datagrams: u.datagrams, bytes: u.bytes, dropped: u.dropped } : t ? { frames: t.frames, connections: t.connections, bytes: t.bytes, dropped: t.dropped } : null,
      tailer: this.tailer?.stats() ?? null,
      shipper: this.shipper?.stats() ?? null,
      spool: this.spool ? { bytes: this.spool.bytes(), records: this.spool.pendingRecords() } : null,
      openWindows: this.aggregator.openWindows(),
      counters: { workers: this.counters.liveWorkers(), failedReads: this.counters.failedReads },
    };
  }

  /** Waits until everything received so far is indexed or spooled (tests; the shutdown path). */
  async flush(timeoutMs = 10_000): Promise<boolean> {
    return this.shipper ? this.shipper.flush(timeoutMs) : true;
  }

  /** Closes the open metrics windows now, with the counters read now (tests; shutdown). */
  async closeWindows(): Promise<void> {
    await this.counters.refresh().catch(() => undefined);
    this.aggregator.closeAll(this.counters.totals());
  }

  /**
   * Before HAProxy stops (or is left running): the last counter read, the counter state saved, the worker
   * sessions closed (an open one would hold a stopping worker until hard-stop-after).
   */
  async beforeHaproxyStop(): Promise<void> {
    if (!this.started) return;
    await this.drainRing();
    await this.counters.release().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'HAProxy counters not saved'));
  }

  /**
   * Ring source: HAProxy's ring forwarder closes at once when a soft stop begins, without sending what is left
   * in the ring (sink.c: "if stopping was requested, close immediately"), and it runs after the request that
   * logged, so the last lines can still be in the ring when the client has its answer. Wait, before the stop,
   * until the connection has been quiet for RING_QUIET_MS (bounded by RING_DRAIN_MAX_MS under steady traffic).
   */
  private async drainRing(): Promise<void> {
    if (!this.tcp) return;
    const tcp = this.tcp;
    const end = Date.now() + Math.min(RING_DRAIN_MAX_MS, this.opts.settings.flushTimeoutMs);
    let frames = tcp.stats().frames;
    let quietSince = Date.now();
    while (Date.now() < end && Date.now() - quietSince < RING_QUIET_MS) {
      await new Promise((r) => setTimeout(r, 10));
      const now = tcp.stats().frames;
      if (now !== frames) {
        frames = now;
        quietSince = Date.now();
      }
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const deadline = Date.now() + this.opts.settings.flushTimeoutMs;
    // HAProxy has stopped; let datagrams already in the socket buffer be read before closing it.
    await new Promise((r) => setTimeout(r, 50));
    await this.udp?.close();
    await this.tcp?.close();
    this.aggregator.stop();
    await this.counters.release().catch(() => undefined);
    this.aggregator.closeAll(this.counters.totals());
    if (this.shipper) await this.shipper.flush(Math.max(0, deadline - Date.now()));
    // Persists the offset acked so far; lines read but not acked are read again next start (same _id).
    await this.tailer?.stop();
    await this.shipper?.close(Math.max(0, deadline - Date.now()));
    const s = this.shipper?.stats();
    if (s) this.log.info({ indexed: s.indexed, spooled: s.spooled, dropped: s.dropped }, 'telemetry stopped');
  }
}

/** How long the ring connection must be quiet before HAProxy is stopped, and the bound on that wait. */
const RING_QUIET_MS = 100;
const RING_DRAIN_MAX_MS = 1000;

const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
