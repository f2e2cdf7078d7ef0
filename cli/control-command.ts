import { runControlWithNats, type RunningControlWithNats } from '../control/nats-main.js';
import { GatewayServiceRouteWriter } from '../control/release-writer.js';
import { resolveReleaseSettings } from '../release/settings.js';
import { processHolderId } from '../store/lease.js';
import { openWindowSource } from './window-source.js';
import { startReleaseController, type RunningReleaseController } from './release-wiring.js';

export type RunningControlWithReleases = RunningControlWithNats & { releaseController?: RunningReleaseController };

/**
 * The control API (NATS events when WEIR_NATS_URL is set) with the release controller in the
 * same process unless WEIR_RELEASE_CONTROLLER=off. Settings are checked before anything starts.
 */
export async function runControlWithReleases(env: NodeJS.ProcessEnv = process.env, opts: { handleSignals?: boolean } = {}): Promise<RunningControlWithReleases> {
  const releaseSettings = resolveReleaseSettings(env);
  const handleSignals = opts.handleSignals !== false;
  const running = await runControlWithNats(env, { handleSignals: false });
  const releases = running.server.releases;
  const onSignal = (close: () => Promise<void>) => (sig: NodeJS.Signals) => {
    running.logger.info({ signal: sig }, 'stopping');
    close().catch((err: unknown) => {
      running.logger.error({ err }, 'error while stopping');
      process.exitCode = 1;
    });
  };
  if (!releaseSettings.enabled || !releases) {
    if (handleSignals) {
      process.once('SIGTERM', onSignal(running.close));
      process.once('SIGINT', onSignal(running.close));
    }
    return running;
  }
  let metricsSource;
  try {
    metricsSource = await openWindowSource(releaseSettings, env, running.nats?.connector, running.logger);
  } catch (err) {
    await running.close();
    throw err;
  }
  const holder = processHolderId('weir-control');
  const controller = startReleaseController(
    {
      store: running.store,
      service: releases,
      writer: new GatewayServiceRouteWriter(running.server.gateways, holder),
      agents: running.nats?.agentStatus,
      metricsSource,
      registry: running.metrics.registry,
      logger: running.logger,
      holder,
    },
    releaseSettings,
  );
  const closeControl = running.close;
  let closing: Promise<void> | undefined;
  // The controller stops first (its lease is released at once), then the API and its store.
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await controller.close();
      await metricsSource?.close().catch(() => undefined);
      await closeControl();
    })());
  if (handleSignals) {
    process.once('SIGTERM', onSignal(close));
    process.once('SIGINT', onSignal(close));
  }
  return { ...running, releaseController: controller, close };
}

/** `weir control`: the control API and the release controller; SIGTERM stops both. */
export async function runControlCommand(env: NodeJS.ProcessEnv): Promise<number> {
  const running = await runControlWithReleases(env);
  if (running.bootstrapToken) process.stderr.write(`\nAdmin token (shown once, store it now):\n  ${running.bootstrapToken}\n\n`);
  return 0;
}
