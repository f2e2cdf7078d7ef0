import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import type { EsShipper, ShipItem } from './es-shipper.js';
import { documentId, indexName, parseLogLine, toEcsDocument, validateNamespace, type Namespace } from './log-record.js';
import type { TelemetryMetrics } from './traffic-metrics.js';

export interface LineHandlerOptions {
  ns: Namespace;
  agentId: string;
  metrics: TelemetryMetrics;
  /** Absent: metrics only (no Elasticsearch configured). */
  shipper?: EsShipper<never>;
  logger?: Logger;
}

/**
 * The UDP path: line → counters → parse → traffic metrics → non-blocking enqueue. Returns false when the line was
 * not taken (parse failure or full queue without spool), which the syslog receiver counts as dropped.
 */
export function createLineHandler(opts: LineHandlerOptions): (line: string) => boolean {
  validateNamespace(opts.ns);
  const log = opts.logger ?? silentLogger();
  let lastParseWarning = 0;
  return (line) => {
    opts.metrics.linesReceived.inc();
    const out = parseLogLine(line);
    if (!out.ok) {
      opts.metrics.parseFailed(out.reason);
      if (out.reason === 'haproxy_event') {
        // Server state changes matter to operators; the rest (proxy starts on reload) is noise.
        if (/ is (DOWN|UP)\b|going DOWN|back UP/.test(out.detail)) log.info({ haproxy: out.detail }, 'HAProxy event');
        else log.debug({ haproxy: out.detail }, 'HAProxy event');
        return false;
      }
      // Rate-limited: a misconfigured log-format would otherwise log every request.
      if (Date.now() - lastParseWarning > 10_000) {
        lastParseWarning = Date.now();
        log.warn({ reason: out.reason, detail: out.detail }, 'unparseable HAProxy log line (further ones suppressed for 10 s)');
      }
      return false;
    }
    opts.metrics.linesParsed.inc();
    opts.metrics.observe(out.record);
    if (!opts.shipper) return true;
    const id = documentId(out.record, out.payload, opts.ns);
    const item: ShipItem<never> = { id, index: indexName(opts.ns, out.record.time), document: toEcsDocument(out.record, opts.ns, opts.agentId, id) };
    return opts.shipper.offer(item);
  };
}
