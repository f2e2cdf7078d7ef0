import { Agent } from '../agent/agent.js';
import { startHttpServer } from '../agent/http-server.js';
import { createLogger, type Logger } from '../runtime/log.js';
import { resolveSettings, type AgentSettings } from '../agent/settings.js';
import { openStore } from '../store/open-store.js';
import { applyHeapGrowth } from '../runtime/heap-growth.js';

export interface RunningAgent {
  agent: Agent;
  httpPort: number;
  stop: () => Promise<void>;
}

/**
 * Starts an agent with its HTTP endpoints; used by `weir agent` and `weir up`. `env` is where
 * the settings came from: store credentials (VAULT_*) and NATS auth are read from it too.
 */
export async function launchAgent(settings: AgentSettings, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<RunningAgent> {
  // Process-wide, so here and not in Agent (tests run several agents in one process).
  if (settings.telemetry.enabled && settings.telemetry.heapGrowthPercent > 0) {
    applyHeapGrowth(settings.telemetry.heapGrowthPercent);
    logger.info({ heapGrowthPercent: settings.telemetry.heapGrowthPercent }, 'V8 heap growth set for the log pipeline');
  }
  const store = await openStore(settings.store, { logger: logger.child({ component: 'store' }), env });
  const agent = new Agent(settings, store, logger);
  await agent.start();
  // [nats-link] optional: change events and status heartbeats over NATS (WEIR_NATS_URL); the client is loaded only then.
  const link = settings.natsUrl ? (await import('../agent/nats-link.js')).linkFromSettings(agent, env, logger) : null;
  link?.start();
  const http = await startHttpServer(agent, settings.httpAddr, logger);
  return {
    agent,
    httpPort: http.port,
    stop: async () => {
      await link?.stop();
      await http.close();
      await agent.stop();
    },
  };
}

/** Stops cleanly on SIGTERM/SIGINT; a second signal exits at once. */
export function onShutdown(logger: Logger, stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(130);
      stopping = true;
      logger.info({ signal }, 'shutting down');
      stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}

export async function runAgentCommand(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv, host: string): Promise<number> {
  const settings = resolveSettings(flags, env, host);
  const logger = createLogger({ name: 'weir-agent' }).child({ agent: settings.agentId, namespace: `${settings.namespace.org}/${settings.namespace.env}` });
  const running = await launchAgent(settings, logger, env);
  return onShutdown(logger, running.stop);
}
