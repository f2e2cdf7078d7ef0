// The control API with its NATS side switched on when WEIR_NATS_URL is set: gateway changes
// and audit records go out through the outbox publisher, agent status comes in from the
// heartbeats. Without WEIR_NATS_URL this is exactly `control/main.ts` (file audit, no status).
//   node dist/control/nats-main.js        (the Kubernetes Deployment runs this)
// Settings on top of control/settings.ts:
//   WEIR_NATS_URL              nats://host:4222[,nats://host2:4222]  (NATS_TOKEN / NATS_CREDS)
//   WEIR_CONTROL_OUTBOX_DIR    outbox directory (default <WEIR_CONTROL_STATE_DIR>/outbox); keep it
//                              on a volume that survives restarts, one directory per replica
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Namespace } from '../store/store.js';
import { createLogger, type Logger } from '../runtime/log.js';
import { natsAuthFromEnv, NatsConnector, parseNatsServers } from '../events/nats-connection.js';
import { SettingsError } from '../runtime/settings-parse.js';
import { FileAuditSink } from './audit-file.js';
import type { AuditRecord } from '../events/contract.js';
import { runControl, type RunningControl } from './main.js';
import { ControlMetrics } from './metrics.js';
import { NatsAgentStatusSource } from './nats-agent-status.js';
import { NatsEventPublisher } from './nats-publisher.js';
import { natsEventFeed } from './nats-event-feed.js';
import type { AuditSink } from './seams.js';
import { resolveControlSettings } from './settings.js';

/** Audit to NATS (durable outbox) and to the local audit.jsonl: the file is the on-box copy. */
class TeeAuditSink implements AuditSink {
  constructor(private readonly sinks: AuditSink[]) {}
  async record(ns: Namespace | null, rec: AuditRecord): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.record(ns, rec)));
  }
}

/** The control API and, with NATS, the pieces the release controller shares with it. */
export type RunningControlWithNats = RunningControl & { nats?: { connector: NatsConnector; agentStatus: NatsAgentStatusSource; publisher: NatsEventPublisher } };

export async function runControlWithNats(env: NodeJS.ProcessEnv = process.env, opts: { handleSignals?: boolean } = {}): Promise<RunningControlWithNats> {
  const handleSignals = opts.handleSignals !== false;
  const url = (env.WEIR_NATS_URL ?? '').trim();
  if (url === '') return runControl(env, { handleSignals });
  let servers: string[];
  try {
    servers = parseNatsServers('WEIR_NATS_URL', url);
  } catch (err) {
    throw new SettingsError((err as Error).message);
  }
  const settings = resolveControlSettings(env);
  const logger: Logger = createLogger({ name: 'weir-control', ...(env.WEIR_LOG_LEVEL ? { level: env.WEIR_LOG_LEVEL } : {}) });
  const metrics = new ControlMetrics();
  const connector = new NatsConnector({ servers, name: 'weir-control', logger: logger.child({ component: 'nats' }), ...natsAuthFromEnv(env) });
  const publisher = await NatsEventPublisher.open({
    connector,
    outboxDir: env.WEIR_CONTROL_OUTBOX_DIR || join(settings.stateDir, 'outbox'),
    logger: logger.child({ component: 'nats-publisher' }),
    registry: metrics.registry,
    reporter: metrics,
  });
  const agentStatus = new NatsAgentStatusSource({ connector, logger: logger.child({ component: 'agent-status' }) });
  const fileAudit = new FileAuditSink(join(settings.stateDir, 'audit.jsonl'));
  let running: RunningControl;
  try {
    running = await runControl(env, {
      events: publisher,
      agentStatus,
      audit: new TeeAuditSink([publisher, fileAudit]),
      // This replica's copy; WEIR_AUDIT in JetStream has every replica's.
      auditLog: fileAudit,
      eventFeeds: [natsEventFeed(connector, logger.child({ component: 'event-feed' }))],
      logger,
      metrics,
      handleSignals,
      releaseEvents: publisher,
      // [metrics] the agents' windows on WEIR_METRICS, when Elasticsearch is not configured.
      natsWindows: { connection: () => connector.current() ?? null, location: connector.location },
    });
  } catch (err) {
    agentStatus.close();
    await publisher.close();
    await fileAudit.close();
    await connector.close();
    throw err;
  }
  const closeControl = running.close;
  const close = async (): Promise<void> => {
    await closeControl();
    agentStatus.close();
    // Whatever is still in the outbox stays on disk for the next start.
    await publisher.close();
    await fileAudit.close();
    await connector.close();
  };
  // The signal handlers of runControl call its own close; finish ours after it.
  if (handleSignals) {
    const onSignal = (): void => void close().catch(() => undefined);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { ...running, nats: { connector, agentStatus, publisher }, close };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runControlWithNats().then(
    (c) => {
      if (c.bootstrapToken) process.stderr.write(`\nAdmin token (shown once, store it now):\n  ${c.bootstrapToken}\n\n`);
    },
    (err: unknown) => {
      process.stderr.write(`weir control: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
