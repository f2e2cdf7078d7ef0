// Which window-aggregate source the release judge reads (metrics/window-source.ts), by
// WEIR_RELEASE_METRICS_SOURCE: `auto` = Elasticsearch (weir-metrics-*) when WEIR_ELASTICSEARCH_URL
// is set, else NATS (agents publish each closed window on weir.<org>.<env>.metrics.<gateway>:
// the embedded default); `nats`, `elasticsearch` force one; `none` judges every tick as Error.
import type { NatsConnector } from '../events/nats-connection.js';
import { windowSourceFromEnv } from '../metrics/open-window-source.js';
import type { TrafficWindowSource } from '../metrics/window-source.js';
import type { Logger } from '../runtime/log.js';
import { SettingsError } from '../runtime/settings-parse.js';
import type { ReleaseSettings } from '../release/settings.js';

export async function openWindowSource(settings: ReleaseSettings, env: NodeJS.ProcessEnv, connector: NatsConnector | undefined, log: Logger): Promise<TrafficWindowSource | null> {
  const choice = settings.metricsSource;
  if (choice === 'none') return null;
  const nats = connector ? { connection: () => connector.current() ?? null, location: connector.location } : undefined;
  if (choice === 'elasticsearch' && !env.WEIR_ELASTICSEARCH_URL) throw new SettingsError('WEIR_RELEASE_METRICS_SOURCE=elasticsearch needs WEIR_ELASTICSEARCH_URL');
  if (choice === 'nats' && !nats) throw new SettingsError('WEIR_RELEASE_METRICS_SOURCE=nats needs WEIR_NATS_URL');
  // `nats` ignores an Elasticsearch configuration the rest of the process may use.
  const sourceEnv = choice === 'nats' ? { ...env, WEIR_ELASTICSEARCH_URL: '' } : env;
  let source: TrafficWindowSource | null;
  try {
    source = await windowSourceFromEnv(sourceEnv, { ...(nats ? { nats } : {}), logger: log.child({ component: 'release-metrics' }) });
  } catch (err) {
    throw new SettingsError((err as Error).message);
  }
  if (!source) log.warn('the release controller has no metrics source (neither WEIR_ELASTICSEARCH_URL nor WEIR_NATS_URL): every tick is an Error and runs pause');
  return source;
}
