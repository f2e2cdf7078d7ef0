// Release controller settings (WEIR_RELEASE_*), the same whether it runs inside `weir control`
// or alone as `weir release-controller`. Checked at start: a typo fails naming the variable.
import { int, parseHostPort, parseNamespace, SettingsError } from '../runtime/settings-parse.js';
import type { Namespace } from '../store/store.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ReleaseControllerSettings } from './controller/controller.js';

export interface ReleaseSettings {
  /** Run the controller inside `weir control` (it takes the lease with any standalone one). */
  enabled: boolean;
  controller: ReleaseControllerSettings;
  lease: { ttlMs: number; renewMs: number; skewMs: number };
  /** `weir release-controller`: where /metrics, /healthz and /readyz are served. */
  addr: { host: string; port: number };
  metricsSource: 'auto' | 'nats' | 'elasticsearch' | 'none';
}

export interface ReleaseSettingSpec {
  env: string;
  default: string;
  help: string;
}

export const RELEASE_SETTINGS: ReleaseSettingSpec[] = [
  { env: 'WEIR_RELEASE_CONTROLLER', default: 'on', help: 'on: `weir control` also runs the release controller (one of all replicas acts, by lease); off: run `weir release-controller` separately' },
  { env: 'WEIR_RELEASE_METRICS_SOURCE', default: 'auto', help: 'window aggregates the judge reads: auto (Elasticsearch when WEIR_ELASTICSEARCH_URL is set, else NATS), nats, elasticsearch, none' },
  { env: 'WEIR_RELEASE_SWEEP_MS', default: String(DEFAULT_CONTROLLER_SETTINGS.sweepMs), help: 'how often every namespace is listed for runs and metadata triggers (store watches and API writes are seen at once)' },
  { env: 'WEIR_RELEASE_METRICS_LAG_MS', default: String(DEFAULT_CONTROLLER_SETTINGS.metricsLagMs), help: 'how long after a 10 s window ends a tick reads it (agents close windows 2 s after their end); a tick then waits up to 6 s more until every live agent\'s window is in' },
  { env: 'WEIR_RELEASE_CONCURRENCY', default: String(DEFAULT_CONTROLLER_SETTINGS.concurrency), help: 'runs driven at once (a slow hook holds only its own run)' },
  { env: 'WEIR_RELEASE_NAMESPACES', default: '', help: 'comma-separated org/env the controller serves; empty: every namespace in the store' },
  { env: 'WEIR_RELEASE_METADATA_TRIGGER', default: 'on', help: 'start runs from release.vamp.io/policy gateway metadata (Vamp\'s trigger)' },
  { env: 'WEIR_RELEASE_LEASE_TTL_MS', default: '15000', help: 'controller lease time to live; a controller that died is replaced within ttl + 1 s skew + ttl/3' },
  { env: 'WEIR_RELEASE_CONTROLLER_ADDR', default: '127.0.0.1:9102', help: 'weir release-controller only: host:port of /metrics, /healthz, /readyz' },
];

const onOff = (name: string, raw: string): boolean => {
  const v = raw.trim().toLowerCase();
  if (v === 'on' || v === 'true' || v === '1') return true;
  if (v === 'off' || v === 'false' || v === '0') return false;
  throw new SettingsError(`${name}: "${raw}" must be on or off`);
};

export function resolveReleaseSettings(env: NodeJS.ProcessEnv = process.env): ReleaseSettings {
  const v = (name: string): string => env[name] ?? (RELEASE_SETTINGS.find((s) => s.env === name) as ReleaseSettingSpec).default;
  const source = v('WEIR_RELEASE_METRICS_SOURCE').trim();
  if (!['auto', 'nats', 'elasticsearch', 'none'].includes(source)) throw new SettingsError(`WEIR_RELEASE_METRICS_SOURCE: "${source}" must be auto, nats, elasticsearch or none`);
  const nsRaw = v('WEIR_RELEASE_NAMESPACES').trim();
  const namespaces: Namespace[] | null = nsRaw === '' ? null : nsRaw.split(',').map((s) => parseNamespace('WEIR_RELEASE_NAMESPACES', s.trim()));
  const ttlMs = int('WEIR_RELEASE_LEASE_TTL_MS', v('WEIR_RELEASE_LEASE_TTL_MS'), 3000, 600_000);
  return {
    enabled: onOff('WEIR_RELEASE_CONTROLLER', v('WEIR_RELEASE_CONTROLLER')),
    controller: {
      ...DEFAULT_CONTROLLER_SETTINGS,
      sweepMs: int('WEIR_RELEASE_SWEEP_MS', v('WEIR_RELEASE_SWEEP_MS'), 100, 3_600_000),
      metricsLagMs: int('WEIR_RELEASE_METRICS_LAG_MS', v('WEIR_RELEASE_METRICS_LAG_MS'), 0, 60_000),
      concurrency: int('WEIR_RELEASE_CONCURRENCY', v('WEIR_RELEASE_CONCURRENCY'), 1, 1024),
      namespaces,
      metadataTrigger: onOff('WEIR_RELEASE_METADATA_TRIGGER', v('WEIR_RELEASE_METADATA_TRIGGER')),
    },
    lease: { ttlMs, renewMs: Math.floor(ttlMs / 3), skewMs: 1000 },
    addr: parseHostPort('WEIR_RELEASE_CONTROLLER_ADDR', v('WEIR_RELEASE_CONTROLLER_ADDR')),
    metricsSource: source as ReleaseSettings['metricsSource'],
  };
}
