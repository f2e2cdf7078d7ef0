/**
 * One HAProxy log line through the agent: counted → parsed (the fast scan for Weir's own format, JSON
 * otherwise) → latency histograms (Prometheus and the window aggregates) → with shipping on, its bulk lines.
 * Used by every log source (UDP, ring/TCP, file) and by the benchmarks, so what is measured is what runs.
 *
 * The live sources hand over bytes (`processBytes`): a line in Weir's exact format goes from the received bytes
 * to the bulk lines without a string or record in between (line-bytes.ts, ecs-bytes.ts); anything else is
 * decoded and takes the string path, which gives the same result.
 */
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import { EcsByteWriter } from './ecs-bytes.js';
import type { SlabPool } from './slab-pool.js';
import { splitBackend } from './fast-record.js';
import { EcsLineWriter } from './ecs-line.js';
import { ByteLine, N } from './line-bytes.js';
import type { EsShipper } from './es-shipper.js';
import { parseLogLine, validateNamespace, type Namespace, type TrafficRecord } from './log-record.js';
import { MAX_LINE_BYTES } from './log-record.js';
import type { RouteChildren, TelemetryMetrics } from './traffic-metrics.js';

export interface LinePipelineOptions {
  ns: Namespace;
  agentId: string;
  metrics: TelemetryMetrics;
  /** The window aggregates' latency side (absent: Prometheus histograms only). */
  windows?: {
    observe(record: TrafficRecord, labels: { gateway: string; route: string }): void;
    observeAt(timeMs: number, mode: 'http' | 'tcp', tt: number, ta: number, backend: string): void;
  };
  /** Build the bulk lines (Elasticsearch shipping on). */
  ship: boolean;
  /** Slabs for the byte path's bulk lines, released by the shipper as lines are done (slab-pool.ts). */
  slabs?: SlabPool;
  logger?: Logger;
}

/** What a line's route needs per line, looked up by the bytes of its backend (and frontend) name. */
interface RouteSlot {
  /** The name bytes it was made for: backend, NUL, frontend. */
  readonly name: Buffer;
  readonly children: RouteChildren;
  /** `<gateway>:<route>` for the window aggregates; null when the labels are `other`. */
  readonly windowKey: string | null;
}

/** Routes are bounded by configuration; past this, unknown names stop being cached (they are all `other`). */
const MAX_SLOTS = 4096;

export class LinePipeline {
  private readonly writer: EcsLineWriter | null;
  private readonly bytesWriter: EcsByteWriter | null;
  private readonly scan = new ByteLine();
  private slots = new Map<number, RouteSlot[]>();
  private slotCount = 0;
  private slotGeneration = -1;
  private readonly log: Logger;
  private lastParseWarning = 0;

  constructor(private readonly opts: LinePipelineOptions) {
    validateNamespace(opts.ns);
    this.writer = opts.ship ? new EcsLineWriter({ ns: opts.ns, agentId: opts.agentId }) : null;
    this.bytesWriter = opts.ship ? new EcsByteWriter({ ns: opts.ns, agentId: opts.agentId }, opts.slabs ?? null) : null;
    this.log = opts.logger ?? silentLogger();
  }

  /**
   * `buf[start, end)` is one line (trailing CR/LF/NUL already cut). Same answers as `process`, with the bulk lines
   * as bytes when the line took the byte path.
   */
  processBytes(buf: Buffer, start: number, end: number): string | Buffer | true | null {
    const l = this.scan;
    // Oversized lines and anything not exactly Weir's format: the string path decides (and names the problem).
    if (end - start > MAX_LINE_BYTES || !l.scan(buf, start, end) || l.nums[N.Tt]! > 9_000_000_000 || l.sec >= 253_402_300_800) {
      return this.process(buf.toString('utf8', start, end));
    }
    const m = this.opts.metrics;
    m.linesReceived.inc();
    m.linesParsed.inc();
    const slot = this.slotFor(buf, l);
    const tt = l.nums[N.Tt]!;
    const ta = l.nums[N.Ta]!;
    if (l.http) {
      if (tt >= 0) slot.children.total.observe(tt / 1000);
      if (ta >= 0) slot.children.active.observe(ta / 1000);
    }
    if (slot.windowKey !== null) this.opts.windows?.observeAt(l.sec * 1000 + l.ms, l.http ? 'http' : 'tcp', tt, ta, slot.windowKey);
    return this.bytesWriter ? this.bytesWriter.write(l) : true;
  }

  private slotFor(buf: Buffer, l: ByteLine): RouteSlot {
    const m = this.opts.metrics;
    if (m.generation !== this.slotGeneration) {
      this.slots = new Map();
      this.slotCount = 0;
      this.slotGeneration = m.generation;
    }
    // FNV-1a over backend, NUL, frontend: no string per line.
    let h = 0x811c9dc5;
    for (let i = l.bS; i < l.bE; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    h = Math.imul(h, 0x01000193);
    for (let i = l.ftS; i < l.ftE; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    const bucket = this.slots.get(h);
    if (bucket) {
      for (const s of bucket) if (sameName(s.name, buf, l)) return s;
    }
    const backend = buf.toString('latin1', l.bS, l.bE);
    const frontend = buf.toString('latin1', l.ftS, l.ftE);
    const { gateway, route } = splitBackend(backend);
    const labels = m.labelsOf(gateway, route, frontend);
    const name = Buffer.allocUnsafe(l.bE - l.bS + 1 + l.ftE - l.ftS);
    buf.copy(name, 0, l.bS, l.bE);
    name[l.bE - l.bS] = 0;
    buf.copy(name, l.bE - l.bS + 1, l.ftS, l.ftE);
    const slot: RouteSlot = { name, children: m.childrenFor(labels), windowKey: labels.route === 'other' ? null : `${labels.gateway}:${labels.route}` };
    if (this.slotCount < MAX_SLOTS) {
      if (bucket) bucket.push(slot);
      else this.slots.set(h, [slot]);
      this.slotCount += 1;
    }
    return slot;
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

function sameName(name: Buffer, buf: Buffer, l: ByteLine): boolean {
  const bl = l.bE - l.bS;
  if (name.length !== bl + 1 + l.ftE - l.ftS || name[bl] !== 0) return false;
  for (let i = 0; i < bl; i++) if (name[i] !== buf[l.bS + i]) return false;
  for (let i = l.ftS, j = bl + 1; i < l.ftE; i++, j++) if (name[j] !== buf[i]) return false;
  return true;
}

/**
 * The live (UDP/TCP) form: line → pipeline → non-blocking enqueue. Returns false when the line was not taken
 * (parse failure, or a full queue without spool), which the receiver counts as dropped. Its `bytes` side is
 * what the agent's receivers call.
 */
export function createLineHandler(opts: Omit<LinePipelineOptions, 'ship'> & { shipper?: EsShipper<never> }): ((line: string) => boolean) & { bytes: (buf: Buffer, start: number, end: number) => boolean } {
  const p = new LinePipeline({ ...opts, ship: opts.shipper !== undefined, ...(opts.shipper ? { slabs: opts.shipper.slabs } : {}) });
  const take = (out: string | Buffer | true | null): boolean => {
    if (out === null) return false;
    if (out === true) return true;
    return opts.shipper!.offer({ line: out });
  };
  return Object.assign((line: string) => take(p.process(line)), { bytes: (buf: Buffer, start: number, end: number) => take(p.processBytes(buf, start, end)) });
}
