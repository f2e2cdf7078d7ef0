// Telemetry settings: rows for the agent's SETTINGS table (agent/settings.ts spreads them in) and their
// validation. Kept here so the shared settings file only gains two lines.
import { isIP } from 'node:net';
import { ES_ENV, resolveElasticsearchSettings, type ElasticsearchSettings, type EsSettingKey } from '../../metrics/es-settings.js';

export class TelemetrySettingsError extends Error {
  override readonly name = 'TelemetrySettingsError';
}

/**
 * Where HAProxy's traffic logs come from:
 * - `udp`: HAProxy → the agent's UDP syslog receiver (the receiver's address becomes the log target);
 * - `ring`: HAProxy → a `ring` buffer → TCP (octet-counted, RFC 6587) → the agent's TCP receiver;
 * - `file`: HAProxy → rsyslog (WEIR_LOG_TARGET) → WEIR_LOG_FILE, tailed with offsets that follow ES acks;
 * - `none`: logs go to WEIR_LOG_TARGET and the agent does not read them (backend server metrics still work).
 */
export type LogSource = 'udp' | 'ring' | 'file' | 'none';

/**
 * Which requests HAProxy writes a log line for. Counts never depend on it (they come from HAProxy's counters);
 * the lines feed the latency histograms and, with Elasticsearch, the request documents.
 * - `all`: every request (the default with Elasticsearch shipping, or when the lines go to a file or elsewhere);
 * - `auto`: per route, about `targetPerRoute` lines per second, chosen by the agent from the route's request rate
 *   (the default otherwise);
 * - `fixed`: 1 in `oneIn` requests on every route.
 */
export type LogSampling = { mode: 'all' } | { mode: 'auto'; targetPerRoute: number; maxLinesPerSecond: number } | { mode: 'fixed'; oneIn: number };

export type { ElasticsearchSettings };

export interface TelemetrySettings {
  enabled: boolean;
  source: LogSource;
  udpAddr: { host: string; port: number };
  tcpAddr: { host: string; port: number };
  logFile: string | null;
  elasticsearch: ElasticsearchSettings | null;
  spoolMaxBytes: number;
  /** Aggregated metrics document window. */
  windowSeconds: number;
  /** Bound on the shipper flush at SIGTERM. */
  flushTimeoutMs: number;
  /** Records held in memory for Elasticsearch (plus as many again waiting to be spilled to the spool). */
  queueCapacity: number;
  sampling: LogSampling;
  /** V8's `--heap-growing-percent` for the agent process, with a young generation that does not grow (0 = V8's own heuristics); see runtime/heap-growth.ts. */
  heapGrowthPercent: number;
}

/** With shipping on: measured in BENCHMARKS.md "Log pipeline" (garbage collection was a third of the CPU per line). */
export const DEFAULT_HEAP_GROWTH_PERCENT = 150;

export type TelemetrySettingKey =
  | 'telemetry'
  | 'logSource'
  | 'logUdpAddr'
  | 'logTcpAddr'
  | 'logFile'
  | 'elasticsearchUrl'
  | 'elasticsearchApiKey'
  | 'elasticsearchUsername'
  | 'elasticsearchPassword'
  | 'elasticsearchCa'
  | 'spoolMaxBytes'
  | 'telemetryWindowSeconds'
  | 'telemetryFlushTimeoutMs'
  | 'telemetryQueueCapacity'
  | 'logSample'
  | 'logSampleTarget'
  | 'logSampleMax'
  | 'heapGrowthPercent';

export interface TelemetrySettingSpec {
  key: TelemetrySettingKey;
  flag: string;
  env: string;
  help: string;
  default: string;
}

export const TELEMETRY_SETTINGS: TelemetrySettingSpec[] = [
  { key: 'telemetry', flag: 'telemetry', env: 'WEIR_TELEMETRY', default: 'on', help: 'traffic telemetry (log receiver, traffic and backend server metrics, Elasticsearch shipping): on|off' },
  { key: 'logSource', flag: 'log-source', env: 'WEIR_LOG_SOURCE', default: '', help: 'udp|ring|file|none (default: file when WEIR_LOG_FILE is set, none when WEIR_LOG_TARGET is set, ring when Elasticsearch shipping is on, else udp)' },
  { key: 'logUdpAddr', flag: 'log-udp-addr', env: 'WEIR_LOG_UDP_ADDR', default: '127.0.0.1:0', help: 'loopback host:port of the UDP syslog receiver (port 0 = ephemeral; it becomes HAProxy\'s log target)' },
  { key: 'logTcpAddr', flag: 'log-tcp-addr', env: 'WEIR_LOG_TCP_ADDR', default: '127.0.0.1:0', help: 'loopback host:port of the TCP syslog receiver the HAProxy ring forwards to (log source ring)' },
  { key: 'logFile', flag: 'log-file', env: 'WEIR_LOG_FILE', default: '', help: 'HAProxy log file written by rsyslog, tailed with offsets committed after Elasticsearch acks (log source file)' },
  { key: 'elasticsearchUrl', flag: 'elasticsearch-url', env: ES_ENV.url, default: '', help: 'Elasticsearch 8 URL for traffic logs and metrics documents; empty = metrics only' },
  { key: 'elasticsearchApiKey', flag: 'elasticsearch-api-key', env: ES_ENV.apiKey, default: '', help: 'Elasticsearch API key (base64 id:key)' },
  { key: 'elasticsearchUsername', flag: 'elasticsearch-username', env: ES_ENV.username, default: '', help: 'Elasticsearch basic-auth user' },
  { key: 'elasticsearchPassword', flag: 'elasticsearch-password', env: ES_ENV.password, default: '', help: 'Elasticsearch basic-auth password (prefer the environment variable)' },
  { key: 'elasticsearchCa', flag: 'elasticsearch-ca', env: ES_ENV.ca, default: '', help: 'PEM file of the CA that signed the Elasticsearch certificate' },
  { key: 'spoolMaxBytes', flag: 'spool-max-bytes', env: 'WEIR_SPOOL_MAX_BYTES', default: String(256 * 1024 * 1024), help: 'bound of the disk spool (WEIR_STATE_DIR/spool) used while Elasticsearch is down; oldest records are dropped above it' },
  { key: 'telemetryWindowSeconds', flag: 'telemetry-window', env: 'WEIR_TELEMETRY_WINDOW_S', default: '10', help: 'seconds per aggregated metrics document (weir-metrics-<org>-<env>-*)' },
  { key: 'telemetryFlushTimeoutMs', flag: 'telemetry-flush-timeout', env: 'WEIR_TELEMETRY_FLUSH_TIMEOUT_MS', default: '5000', help: 'on SIGTERM, how long to keep sending to Elasticsearch before the rest goes to the spool' },
  { key: 'logSample', flag: 'log-sample', env: 'WEIR_LOG_SAMPLE', default: '', help: 'which requests get a log line: all, auto (about WEIR_LOG_SAMPLE_TARGET lines/s per route) or 1/N (default: all with Elasticsearch or log source file/none, else auto); counts are exact either way' },
  { key: 'logSampleTarget', flag: 'log-sample-target', env: 'WEIR_LOG_SAMPLE_TARGET', default: '100', help: 'auto sampling: log lines per second per route (latency samples); a route below this rate logs every request' },
  { key: 'logSampleMax', flag: 'log-sample-max', env: 'WEIR_LOG_SAMPLE_MAX', default: '2000', help: 'auto sampling: log lines per second over all routes; targets are scaled down above it' },
  { key: 'heapGrowthPercent', flag: 'heap-growth-percent', env: 'WEIR_HEAP_GROWTH_PERCENT', default: '', help: 'garbage collection for the log pipeline: V8 old-generation growth after a full GC in percent, with the young generation kept at its initial size (default: 150 with Elasticsearch shipping, else 0 = V8\'s own heuristics); see docs/TELEMETRY.md' },
  { key: 'telemetryQueueCapacity', flag: 'telemetry-queue', env: 'WEIR_TELEMETRY_QUEUE_CAPACITY', default: '10000', help: 'log records held in memory for Elasticsearch; above it they go to the spool (memory bound: about 2x this many records)' },
];

const isLoopback = (host: string): boolean => host === '::1' || host.startsWith('127.') || host === 'localhost';

function addr(name: string, raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(raw.trim());
  if (!m) throw new TelemetrySettingsError(`${name}: "${raw}" is not host:port`);
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) throw new TelemetrySettingsError(`${name}: port ${port} is outside 0..65535`);
  // Syslog has no authentication: anything that can reach the port can write traffic records.
  if (!isLoopback(host) || (isIP(host) === 0 && host !== 'localhost')) throw new TelemetrySettingsError(`${name}: "${host}" must be a loopback address (syslog has no authentication)`);
  return { host, port };
}

function whole(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new TelemetrySettingsError(`${name}: "${raw}" is not a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new TelemetrySettingsError(`${name}: ${n} is outside ${min}..${max}`);
  return n;
}

/**
 * `get(key)` returns the raw value and the name to report it by (flag or env var); `logTarget` is the agent's
 * WEIR_LOG_TARGET, which decides the default source and conflicts with the agent's own receivers.
 */
export function resolveTelemetrySettings(
  get: (key: TelemetrySettingKey) => { value: string; name: string },
  logTarget: { value: string; name: string },
): TelemetrySettings {
  const v = (k: TelemetrySettingKey): string => get(k).value.trim();
  const onOff = v('telemetry');
  if (onOff !== 'on' && onOff !== 'off') throw new TelemetrySettingsError(`${get('telemetry').name}: "${onOff}" must be on or off`);
  const logFile = v('logFile') || null;
  const elasticsearch = resolveElasticsearchSettings((k) => get(ES_KEYS[k]));
  let source: LogSource;
  const rawSource = v('logSource');
  // With shipping every request is a line: the ring batches many per write where UDP costs a datagram (and a
  // receive) per line, and it buffers a burst instead of losing it (BENCHMARKS.md "Log pipeline").
  if (rawSource === '') source = logFile ? 'file' : logTarget.value !== '' ? 'none' : elasticsearch ? 'ring' : 'udp';
  else if (rawSource === 'udp' || rawSource === 'ring' || rawSource === 'file' || rawSource === 'none') source = rawSource;
  else throw new TelemetrySettingsError(`${get('logSource').name}: "${rawSource}" must be udp, ring, file or none`);
  if (onOff === 'on') {
    if ((source === 'udp' || source === 'ring') && logTarget.value !== '') {
      throw new TelemetrySettingsError(`${logTarget.name} is set, but log source ${source} makes the agent's own receiver HAProxy's log target; unset one of them (rsyslog setups use ${get('logSource').name}=file)`);
    }
    if (source === 'file' && !logFile) throw new TelemetrySettingsError(`${get('logSource').name}=file needs ${get('logFile').name}`);
  }
  const sampling = resolveSampling(get, elasticsearch !== null || source === 'file' || source === 'none');
  return {
    enabled: onOff === 'on',
    source,
    udpAddr: addr(get('logUdpAddr').name, v('logUdpAddr')),
    tcpAddr: addr(get('logTcpAddr').name, v('logTcpAddr')),
    logFile,
    elasticsearch,
    spoolMaxBytes: whole(get('spoolMaxBytes').name, v('spoolMaxBytes'), 1024 * 1024, 1024 ** 4),
    windowSeconds: whole(get('telemetryWindowSeconds').name, v('telemetryWindowSeconds'), 1, 3600),
    flushTimeoutMs: whole(get('telemetryFlushTimeoutMs').name, v('telemetryFlushTimeoutMs'), 0, 600_000),
    queueCapacity: whole(get('telemetryQueueCapacity').name, v('telemetryQueueCapacity'), 100, 1_000_000),
    sampling,
    heapGrowthPercent: v('heapGrowthPercent') === '' ? (elasticsearch && onOff === 'on' ? DEFAULT_HEAP_GROWTH_PERCENT : 0) : whole(get('heapGrowthPercent').name, v('heapGrowthPercent'), 0, 1000),
  };
}

/** `linesAreTheProduct`: Elasticsearch ships every line, or the lines go to a file or a collector of the user's. */
function resolveSampling(get: (key: TelemetrySettingKey) => { value: string; name: string }, linesAreTheProduct: boolean): LogSampling {
  const raw = get('logSample').value.trim();
  const name = get('logSample').name;
  const mode = raw === '' ? (linesAreTheProduct ? 'all' : 'auto') : raw;
  const targetPerRoute = whole(get('logSampleTarget').name, get('logSampleTarget').value, 1, 1_000_000);
  const maxLinesPerSecond = whole(get('logSampleMax').name, get('logSampleMax').value, 1, 10_000_000);
  if (mode === 'all') return { mode: 'all' };
  if (mode === 'auto') return { mode: 'auto', targetPerRoute, maxLinesPerSecond };
  const m = /^1\/(\d+)$/.exec(mode);
  if (m) return { mode: 'fixed', oneIn: whole(name, m[1]!, 1, 1_000_000) };
  throw new TelemetrySettingsError(`${name}: "${raw}" must be all, auto or 1/N (e.g. 1/100)`);
}

const ES_KEYS: Record<EsSettingKey, TelemetrySettingKey> = { url: 'elasticsearchUrl', apiKey: 'elasticsearchApiKey', username: 'elasticsearchUsername', password: 'elasticsearchPassword', ca: 'elasticsearchCa' };
