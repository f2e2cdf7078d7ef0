/**
 * One HAProxy log line through the agent: counted → parsed (the fast scan for Weir's own format, JSON
 * otherwise) → latency histograms (Prometheus and the window aggregates) → with shipping on, its bulk lines.
 * Used by every log source (UDP, ring/TCP, file) and by the benchmarks, so what is measured is what runs.
 */
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import { EcsLineWriter } from './ecs-line.js';
import type { EsShipper } from './es-shipper.js';
import { parseLogLine, validateNamespace, type Namespace, type TrafficRecord } from './log-record.js';
import type { TelemetryMetrics } from './traffic-metrics.js';

export interface LinePipelineOptions {
  ns: Namespace;
  agentId: string;
  metrics: TelemetryMetrics;
  /** The window aggregates' latency side (absent: Prometheus histograms only). */
  windows?: { observe(record: TrafficRecord, labels: { gateway: string; route: string }): void };
  /** Build the bulk lines (Elasticsearch shipping on). */
  ship: boolean;
  logger?: Logger;
}

export class LinePipeline {
  private readonly writer: EcsLineWriter | null;
  private readonly log: Logger;
  private lastParseWarning = 0;

  constructor(private readonly opts: LinePipelineOptions) {
    validateNamespace(opts.ns);
    this.writer = opts.ship ? new EcsLineWriter({ ns: opts.ns, agentId: opts.agentId }) : null;
    this.log = opts.logger ?? silentLogger();
  }

  /** Null: not a traffic record (counted by reason). True: counted, nothing to ship. A string: its bulk lines. */
  process(line: string): string | true | null {
    const m = this.opts.metrics;
    m.linesReceived.inc();
    const out = parseLogLine(line);
    if (!out.ok) {
      m.parseFailed(out.reason);
      if (out.reason === 'haproxy_event') {
        // Server state changes matter to operators; the rest (proxy starts on reload) is noise.
        if (/ is (DOWN|UP)\b|going DOWN|back UP/.test(out.detail)) this.log.info({ haproxy: out.detail }, 'HAProxy event');
        else this.log.debug({ haproxy: out.detail }, 'HAProxy event');
        return null;
      }
      // Rate-limited: a misconfigured log-format would otherwise log on every request.
      if (Date.now() - this.lastParseWarning > 10_000) {
        this.lastParseWarning = Date.now();
        this.log.warn({ reason: out.reason, detail: out.detail }, 'unparseable HAProxy log line (further ones suppressed for 10 s)');
      }
      return null;
    }
    m.linesParsed.inc();
    const labels = m.observe(out.record);
    this.opts.windows?.observe(out.record, labels);
    return this.writer ? this.writer.line(out.record) : true;
  }

  countOversized(): void {
    this.opts.metrics.linesReceived.inc();
    this.opts.metrics.parseFailed('oversized');
  }
}

/**
 * The live (UDP/TCP) form: line → pipeline → non-blocking enqueue. Returns false when the line was not taken
 * (parse failure, or a full queue without spool), which the receiver counts as dropped.
 */
export function createLineHandler(opts: Omit<LinePipelineOptions, 'ship'> & { shipper?: EsShipper<never> }): (line: string) => boolean {
  const p = new LinePipeline({ ...opts, ship: opts.shipper !== undefined });
  return (line) => {
    const out = p.process(line);
    if (out === null) return false;
    if (out === true) return true;
    return opts.shipper!.offer({ line: out });
  };
}
