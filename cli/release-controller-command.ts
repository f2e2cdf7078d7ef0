// `weir release-controller`: the release controller alone, with the same settings as the one in
// `weir control` (WEIR_STORE, WEIR_NATS_URL, WEIR_CONTROL_STATE_DIR, WEIR_RELEASE_*). It writes
// gateways through the same write path (validation, CAS, audit, change events through its own
// outbox) and takes the same lease, so it can run beside control replicas: one acts at a time.
// Serves /metrics, /healthz and /readyz on WEIR_RELEASE_CONTROLLER_ADDR.
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { FileAuditSink } from '../control/audit-file.js';
import { GatewayService, type Store } from '../control/gateway-service.js';
import { ControlMetrics } from '../control/metrics.js';
import { NatsAgentStatusSource } from '../control/nats-agent-status.js';
import { NatsEventPublisher } from '../control/nats-publisher.js';
import { GatewayServiceRouteWriter } from '../control/release-writer.js';
import { resolveControlSettings } from '../control/settings.js';
import { natsAuthFromEnv, NatsConnector, parseNatsServers } from '../events/nats-connection.js';
import type { AuditRecord } from '../events/contract.js';
import { ReleaseService } from '../release/index.js';
import { resolveReleaseSettings } from '../release/settings.js';
import { createLogger } from '../runtime/log.js';
import { SettingsError } from '../runtime/settings-parse.js';
import { processHolderId } from '../store/lease.js';
import { openStore } from '../store/open-store.js';
import type { Namespace } from '../store/store.js';
import { startReleaseController } from './release-wiring.js';
import { openWindowSource } from './window-source.js';

export interface RunningStandaloneController {
  port: number;
  holder: string;
  close(): Promise<void>;
}

export async function runReleaseController(env: NodeJS.ProcessEnv = process.env, opts: { handleSignals?: boolean } = {}): Promise<RunningStandaloneController> {
  const control = resolveControlSettings(env);
  const settings = resolveReleaseSettings(env);
  const natsUrl = (env.WEIR_NATS_URL ?? '').trim();
  let servers: string[] | null = null;
  if (natsUrl !== '') {
    try {
      servers = parseNatsServers('WEIR_NATS_URL', natsUrl);
    } catch (err) {
      throw new SettingsError((err as Error).message);
    }
  }
  const log = createLogger({ name: 'weir-release-controller', ...(env.WEIR_LOG_LEVEL ? { level: env.WEIR_LOG_LEVEL } : {}) });
  const store = await openStore(control.store, { logger: log, env });
  if (!store.get || !store.put || !store.delete) {
    await store.close();
    throw new SettingsError(`WEIR_STORE: store ${store.location} cannot be written to`);
  }
  const metrics = new ControlMetrics();
  const stateDir = join(control.stateDir, 'release-controller');
  const connector = servers ? new NatsConnector({ servers, name: 'weir-release-controller', logger: log.child({ component: 'nats' }), ...natsAuthFromEnv(env) }) : null;
  const publisher = connector
    ? await NatsEventPublisher.open({ connector, outboxDir: join(stateDir, 'outbox'), logger: log.child({ component: 'nats-publisher' }), registry: metrics.registry, reporter: metrics })
    : null;
  const agents = connector ? new NatsAgentStatusSource({ connector, logger: log.child({ component: 'agent-status' }) }) : undefined;
  const fileAudit = new FileAuditSink(join(stateDir, 'audit.jsonl'));
  const audit = {
    record: async (ns: Namespace | null, rec: AuditRecord): Promise<void> => {
      await Promise.all([fileAudit.record(ns, rec), ...(publisher ? [publisher.record(ns, rec)] : [])]);
    },
  };
  const gateways = new GatewayService({ store: store as Store, audit, events: publisher ?? undefined, metrics, log, agentStatus: agents });
  const service = new ReleaseService({ store, gateways: store as Store, audit, events: publisher ?? undefined, logger: log.child({ component: 'releases' }) });
  const metricsSource = await openWindowSource(settings, env, connector ?? undefined, log);
  const holder = processHolderId('weir-release-controller');
  const running = startReleaseController({ store, service, writer: new GatewayServiceRouteWriter(gateways, holder), agents, metricsSource, registry: metrics.registry, logger: log, holder }, settings);

  const http: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      void metrics.registry.metrics().then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', leader: running.election.isLeader(), epoch: running.election.epoch, holder, store: store.location }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"GET /metrics, /healthz or /readyz"}}');
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(settings.addr.port, settings.addr.host, () => resolve());
  });
  const port = (http.address() as { port: number }).port;
  log.info({ addr: `${settings.addr.host}:${port}` }, 'release controller serving /metrics, /healthz, /readyz');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await running.close();
      await new Promise<void>((r) => http.close(() => r()));
      await metricsSource?.close().catch(() => undefined);
      agents?.close();
      await publisher?.close();
      await fileAudit.close();
      await connector?.close();
      await store.close();
      log.info('release controller stopped');
    })());
  if (opts.handleSignals !== false) {
    const onSignal = (): void => void close().catch(() => undefined);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { port, holder, close };
}

export async function runReleaseControllerCommand(env: NodeJS.ProcessEnv): Promise<number> {
  await runReleaseController(env);
  return 0;
}
