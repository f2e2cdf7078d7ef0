// Which window source a process reads (the control API's metrics endpoints, the release controller):
// Elasticsearch when WEIR_ELASTICSEARCH_URL is set (production: the agents ship their windows there), else
// NATS when the process has a NATS connection (the embedded default, `make up`), else none.
import type { NatsConnection } from 'nats';
import type { Logger } from '../runtime/log.js';
import { elasticsearchSettingsFromEnv } from './es-settings.js';
import { metricsMaxAgeFromEnv, NatsWindowSource } from './nats-window-stream.js';
import type { TrafficSeriesSource } from './window-source.js';

export interface WindowSourceChoice {
  /** The process's NATS connection, if it has one (e.g. `NatsConnector.current`, its `location`). */
  nats?: { connection: () => NatsConnection | null; location: string };
  logger?: Logger;
  /** The agents' WEIR_TELEMETRY_WINDOW_S (default 10). */
  windowSeconds?: number;
}

/** Throws EsSettingsError / EsConfigError (bad WEIR_ELASTICSEARCH_*) or Error (bad WEIR_METRICS_MAX_AGE). */
export async function windowSourceFromEnv(env: NodeJS.ProcessEnv, choice: WindowSourceChoice = {}): Promise<TrafficSeriesSource | null> {
  const es = elasticsearchSettingsFromEnv(env);
  const windowSeconds = choice.windowSeconds ?? windowSecondsFromEnv(env);
  if (es) {
    // Loaded only when used: the client costs ~0.5 s of CPU at start.
    const { ElasticsearchWindowSource } = await import('./es-window-source.js');
    return ElasticsearchWindowSource.fromSettings(es, { windowSeconds, ...(choice.logger ? { logger: choice.logger } : {}) });
  }
  if (choice.nats) {
    return new NatsWindowSource({ ...choice.nats, windowSeconds, stream: { maxAgeMs: metricsMaxAgeFromEnv(env) }, ...(choice.logger ? { logger: choice.logger } : {}) });
  }
  return null;
}

/** WEIR_TELEMETRY_WINDOW_S as the agents read it (1..3600, default 10). */
export function windowSecondsFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = (env.WEIR_TELEMETRY_WINDOW_S ?? '').trim();
  if (raw === '') return 10;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new Error(`WEIR_TELEMETRY_WINDOW_S: "${raw}" must be a whole number of seconds between 1 and 3600`);
  return n;
}
