// Runs the control API: settings → store → tokens/audit → HTTP. SIGTERM/SIGINT close it
// gracefully (in-flight requests finish, then the store closes). The NATS wiring passes its
// publisher, agent status and audit sink through `extras`.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger, type Logger } from '../runtime/log.js';
import { openStore, type OpenedStore } from '../store/open-store.js';
import type { ReleaseEventPublisher } from '../release/index.js';
import { FileAuditSink } from './audit-file.js';
import type { Store } from './gateway-service.js';
import { ControlMetrics } from './metrics.js';
import { SettingsError } from '../runtime/settings-parse.js';
import { elasticsearchSettingsFromEnv, EsSettingsError } from '../metrics/es-settings.js';
import { EsConfigError } from '../metrics/es-connection.js';
import { windowSourceFromEnv, type WindowSourceChoice } from '../metrics/open-window-source.js';
import type { AgentStatusSource, AuditSink, ChangePublisher, TrafficMetricsSource } from './seams.js';
import type { AuditLog } from './audit-read.js';
import type { EventFeed } from './event-hub.js';
import { WindowTrafficMetrics } from './traffic-metrics-source.js';
import { createControlServer, type ControlServer } from './server.js';
import { resolveControlSettings, type ControlSettings } from './settings.js';
import { ensureAdminToken, FileTokenStore, type TokenStore } from './tokens.js';
import type { Server as HttpsServer } from 'node:https';
import { loadControlTls, watchControlTls } from './tls-listener.js';

export interface ControlExtras {
  events?: ChangePublisher;
  agentStatus?: AgentStatusSource;
  /** Replaces the window source made from the environment (closed with the server either way). */
  trafficMetrics?: TrafficMetricsSource;
  /** The NATS connection the metrics endpoints read the agents' windows from when Elasticsearch is not configured. */
  natsWindows?: WindowSourceChoice['nats'];
  /** Replaces the file audit log (e.g. the NATS one). */
  audit?: AuditSink;
  /** What `GET …/audit` reads; by default the file audit log (when `audit` is not replaced). */
  auditLog?: AuditLog;
  /** Feeds of the event stream besides the store's watch and the agent status (e.g. NATS). */
  eventFeeds?: EventFeed[];
  tokens?: TokenStore;
  logger?: Logger;
  /** Shared with publishers so their failures show in /metrics. */
  metrics?: ControlMetrics;
  /** Install SIGTERM/SIGINT handlers (default true). */
  handleSignals?: boolean;
  /** Release transitions to NATS. */
  releaseEvents?: ReleaseEventPublisher;
}

export interface RunningControl {
  server: ControlServer;
  settings: ControlSettings;
  /** The generated admin token at first start (no WEIR_ADMIN_TOKEN): show it once. */
  bootstrapToken: string | undefined;
  /** What else runs beside the API in the same process (the release controller) is built from. */
  store: OpenedStore;
  logger: Logger;
  metrics: ControlMetrics;
  close(): Promise<void>;
}

export class StoreNotWritableError extends Error {
  override readonly name = 'StoreNotWritableError';
}

export async function runControl(env: NodeJS.ProcessEnv = process.env, extras: ControlExtras = {}): Promise<RunningControl> {
  const settings = resolveControlSettings(env);
  // Checked before anything opens, so a bad Elasticsearch setting fails the start with its variable's name.
  try {
    if (!extras.trafficMetrics) elasticsearchSettingsFromEnv(env);
  } catch (err) {
    throw err instanceof EsSettingsError ? new SettingsError(err.message) : err;
  }
  const log = extras.logger ?? createLogger({ name: 'weir-control', ...(env.WEIR_LOG_LEVEL ? { level: env.WEIR_LOG_LEVEL } : {}) });
  // [edge] HTTPS: a bad certificate or key fails the start, naming the variables.
  const tls = settings.tls ? await loadControlTls(settings.tls) : null;
  const opened = await openStore(settings.store, { logger: log, env });
  if (!opened.get || !opened.put || !opened.delete) {
    await opened.close();
    throw new StoreNotWritableError(`store ${opened.location} cannot be written to by the control API`);
  }
  const store = opened as Store & OpenedStore;
  let trafficMetrics = extras.trafficMetrics;
  let windowsAt = trafficMetrics ? 'custom' : 'off';
  if (!trafficMetrics) {
    try {
      // Elasticsearch when configured, else the NATS stream the agents publish to.
      const windows = await windowSourceFromEnv(env, { ...(extras.natsWindows ? { nats: extras.natsWindows } : {}), logger: log });
      if (windows) {
        trafficMetrics = new WindowTrafficMetrics(windows);
        windowsAt = `${windows.kind} ${windows.location}`;
      }
    } catch (err) {
      await store.close();
      // Bad WEIR_ELASTICSEARCH_* / CA file / WEIR_METRICS_MAX_AGE / WEIR_TELEMETRY_WINDOW_S: a settings error.
      throw err instanceof EsConfigError || err instanceof Error ? new SettingsError(err.message) : err;
    }
  }
  log.info({ source: windowsAt }, 'traffic metrics source');
  const tokens = extras.tokens ?? new FileTokenStore(join(settings.stateDir, 'tokens.json'));
  const fileAudit = extras.audit ? undefined : new FileAuditSink(join(settings.stateDir, 'audit.jsonl'));
  const boot = await ensureAdminToken(tokens, settings.adminToken !== undefined ? { fromEnv: settings.adminToken } : {});
  if (boot.created) log.warn({ tokenId: boot.id, fromEnv: boot.fromEnv }, 'first start: admin token installed');

  const server = createControlServer({
    store,
    tokens,
    audit: extras.audit ?? (fileAudit as FileAuditSink),
    logger: log,
    bodyLimitBytes: settings.bodyLimitBytes,
    consoleDir: settings.consoleDir,
    ...((extras.auditLog ?? fileAudit) ? { auditLog: (extras.auditLog ?? fileAudit) as AuditLog } : {}),
    ...(extras.eventFeeds ? { eventFeeds: extras.eventFeeds } : {}),
    portRanges: settings.portRanges,
    vhostDomain: settings.vhostDomain,
    ...(extras.events ? { events: extras.events } : {}),
    ...(extras.agentStatus ? { agentStatus: extras.agentStatus } : {}),
    ...(trafficMetrics ? { trafficMetrics } : {}),
    ...(extras.metrics ? { metrics: extras.metrics } : {}),
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    ...(extras.releaseEvents ? { releaseEvents: extras.releaseEvents } : {}),
  });
  await server.listen(settings.addr.host, settings.addr.port);
  const stopTlsWatch = tls && settings.tls ? watchControlTls(server.app.server as unknown as HttpsServer, settings.tls, tls, log, settings.tls.reloadMs) : () => undefined;
  if (tls) log.info({ fingerprint: tls.fingerprint, notAfter: tls.notAfter }, 'control API serves HTTPS');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      stopTlsWatch();
      await server.close();
      await trafficMetrics?.close().catch((err: unknown) => log.warn({ err }, 'closing the traffic metrics source failed'));
      await fileAudit?.close();
      await store.close();
      log.info('control API stopped');
    })());
  const onSignal = (sig: NodeJS.Signals): void => {
    log.info({ signal: sig }, 'stopping control API');
    close().catch((err: unknown) => {
      log.error({ err }, 'error while stopping');
      process.exitCode = 1;
    });
  };
  if (extras.handleSignals !== false) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  return { server, settings, bootstrapToken: boot.token, store, logger: log, metrics: server.metrics, close };
}

// `node dist/control/main.js`: run standalone and show a generated admin token once.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runControl().then(
    (c) => {
      if (c.bootstrapToken) process.stderr.write(`\nAdmin token (shown once, store it now):\n  ${c.bootstrapToken}\n\n`);
    },
    (err: unknown) => {
      process.stderr.write(`weir control: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
