// Which window-aggregate source the release judge reads (metrics/window-source.ts): NATS (the
// embedded default: agents publish each closed window on weir.<org>.<env>.metrics.<gateway>)
// or Elasticsearch (weir-metrics-*), chosen by WEIR_RELEASE_METRICS_SOURCE.
import type { NatsConnector } from '../events/nats-connection.js';
import type { TrafficWindowSource } from '../metrics/window-source.js';
import type { Logger } from '../runtime/log.js';
import type { ReleaseSettings } from '../release/settings.js';

export async function openWindowSource(settings: ReleaseSettings, env: NodeJS.ProcessEnv, connector: NatsConnector | undefined, log: Logger): Promise<TrafficWindowSource | null> {
  void env;
  void connector;
  if (settings.metricsSource === 'none') return null;
  log.warn('no window-aggregate source is built in yet: releases judge every tick as Error (paused) until one is configured');
  return null;
}
