// Agent settings: flags override WEIR_* environment variables, which override defaults that
// work on one machine. Every value is checked here so a typo fails at start with its name.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Namespace } from '../store/store.js';
import { parseNatsServers } from '../events/nats-servers.js';
import { int, parseHostPort, parseNamespace, SettingsError } from '../runtime/settings-parse.js';
import { TELEMETRY_SETTINGS, resolveTelemetrySettings, type TelemetrySettingKey, type TelemetrySettings } from './telemetry/telemetry-settings.js';
import { EDGE_SETTINGS, resolveEdgeSettings, type EdgeSettingKey, type EdgeSettings } from './edge-settings.js';

export interface AgentSettings {
  store: string;
  namespace: Namespace;
  stateDir: string;
  httpAddr: { host: string; port: number };
  bindAddress: string;
  haproxyBin: string;
  templateDir: string | null;
  /** Existing master socket to attach to (sidecar); null = the agent runs HAProxy itself. */
  masterSocket: string | null;
  onExit: 'stop' | 'keep';
  reloadMinIntervalMs: number;
  debounceMs: number;
  persistDelayMs: number;
  pollIntervalMs: number;
  /** The poll while NATS change events arrive: only a safety net then (never shorter than pollIntervalMs). */
  pollIntervalWithNatsMs: number;
  vhostPort: number;
  monitorPort: number;
  serverSlots: number;
  hardStopAfter: string;
  maxReloads: number;
  maxconn: number | null;
  logTarget: string | null;
  agentId: string;
  /** NATS for change events and status heartbeats (agent/nats-link.ts); null = poll only. */
  natsUrl: string | null;
  heartbeatIntervalMs: number;
  /** [telemetry] log receiver, traffic metrics, Elasticsearch shipping (agent/telemetry/telemetry-settings.ts). */
  telemetry: TelemetrySettings;
  /** [edge] mass-removal guard, DNS discovery (agent/edge-settings.ts). */
  edge: EdgeSettings;
}

/** Ports of the agent's own listeners: a gateway there would share them (see GatewayBook). */
export function reservedPorts(s: Pick<AgentSettings, 'vhostPort' | 'monitorPort' | 'httpAddr'>): Map<number, string> {
  const out = new Map<number, string>();
  if (s.vhostPort > 0) out.set(s.vhostPort, 'the virtual-host frontend (WEIR_VHOST_PORT)');
  if (s.monitorPort > 0) out.set(s.monitorPort, "HAProxy's monitor frontend (WEIR_MONITOR_PORT)");
  if (s.httpAddr.port > 0 && !out.has(s.httpAddr.port)) out.set(s.httpAddr.port, "the agent's HTTP server (WEIR_HTTP_ADDR)");
  return out;
}

export interface SettingSpec {
  key: keyof AgentSettings | TelemetrySettingKey | EdgeSettingKey;
  flag: string;
  env: string;
  help: string;
  default: string;
}

export const SETTINGS: SettingSpec[] = [
  { key: 'store', flag: 'store', env: 'WEIR_STORE', default: 'file://./var/store', help: 'where gateways are stored: file:///path, vault:<mount>, nats://host:4222' },
  { key: 'namespace', flag: 'namespace', env: 'WEIR_NAMESPACE', default: 'default/default', help: 'organisation/environment this agent serves' },
  { key: 'stateDir', flag: 'state-dir', env: 'WEIR_STATE_DIR', default: './var/state', help: 'config, maps, sockets and the last-good cache' },
  { key: 'httpAddr', flag: 'http-addr', env: 'WEIR_HTTP_ADDR', default: '127.0.0.1:9101', help: 'host:port of /metrics, /healthz, /readyz, /status' },
  { key: 'bindAddress', flag: 'bind-address', env: 'WEIR_BIND_ADDRESS', default: '0.0.0.0', help: 'address gateway frontends bind to' },
  { key: 'haproxyBin', flag: 'haproxy-bin', env: 'WEIR_HAPROXY_BIN', default: 'haproxy', help: 'HAProxy 2.6+ binary' },
  { key: 'templateDir', flag: 'template-dir', env: 'WEIR_TEMPLATE_DIR', default: '', help: 'directory of HAProxy Liquid templates (default: the bundled haproxy-templates/)' },
  { key: 'masterSocket', flag: 'master-socket', env: 'WEIR_HAPROXY_MASTER_SOCKET', default: '', help: 'attach to an HAProxy master already running with this -S socket (sidecar mode)' },
  { key: 'onExit', flag: 'haproxy-on-exit', env: 'WEIR_HAPROXY_ON_EXIT', default: 'stop', help: 'on SIGTERM: stop HAProxy, or keep it serving (stop|keep)' },
  { key: 'reloadMinIntervalMs', flag: 'reload-min-interval', env: 'WEIR_RELOAD_MIN_INTERVAL_MS', default: '2000', help: 'minimum milliseconds between reloads; changes in between are coalesced' },
  { key: 'debounceMs', flag: 'debounce', env: 'WEIR_DEBOUNCE_MS', default: '10', help: 'milliseconds to wait for more store events before syncing' },
  { key: 'persistDelayMs', flag: 'persist-delay', env: 'WEIR_PERSIST_DELAY_MS', default: '250', help: 'milliseconds after a runtime change before the running config and cache are written to disk (bursts are written once)' },
  { key: 'pollIntervalMs', flag: 'poll-interval', env: 'WEIR_POLL_INTERVAL_MS', default: '5000', help: 'milliseconds between full store reads (watch events come sooner)' },
  { key: 'pollIntervalWithNatsMs', flag: 'poll-interval-with-nats', env: 'WEIR_POLL_INTERVAL_WITH_NATS_MS', default: '30000', help: 'milliseconds between full store reads while connected to NATS (events carry the changes; each Vault poll reads every key)' },
  { key: 'vhostPort', flag: 'vhost-port', env: 'WEIR_VHOST_PORT', default: '80', help: 'port of the shared virtual-host frontend; 0 disables it' },
  { key: 'monitorPort', flag: 'monitor-port', env: 'WEIR_MONITOR_PORT', default: '1988', help: 'port of HAProxy\'s /health monitor frontend; 0 disables it' },
  { key: 'serverSlots', flag: 'server-slots', env: 'WEIR_SERVER_SLOTS', default: '4', help: 'minimum pre-allocated server slots per route (targets up to this change without reload)' },
  { key: 'hardStopAfter', flag: 'hard-stop-after', env: 'WEIR_HARD_STOP_AFTER', default: '30s', help: 'HAProxy hard-stop-after: how long old workers may finish connections' },
  { key: 'maxReloads', flag: 'max-reloads', env: 'WEIR_MWORKER_MAX_RELOADS', default: '50', help: 'HAProxy mworker-max-reloads' },
  { key: 'maxconn', flag: 'maxconn', env: 'WEIR_MAXCONN', default: '', help: 'HAProxy global maxconn (default: derived by HAProxy from the file-descriptor limit)' },
  { key: 'logTarget', flag: 'log-target', env: 'WEIR_LOG_TARGET', default: '', help: 'syslog target for traffic logs (host:port), empty = none' },
  { key: 'agentId', flag: 'agent-id', env: 'WEIR_AGENT_ID', default: '', help: 'agent identity in status and logs (default: hostname)' },
  { key: 'natsUrl', flag: 'nats-url', env: 'WEIR_NATS_URL', default: '', help: 'NATS for change events and status heartbeats (nats://host:4222[,…]; NATS_TOKEN/NATS_CREDS); empty = poll only' },
  { key: 'heartbeatIntervalMs', flag: 'heartbeat-interval', env: 'WEIR_HEARTBEAT_INTERVAL_MS', default: '5000', help: 'milliseconds between status heartbeats on NATS' },
  // [telemetry]
  ...TELEMETRY_SETTINGS,
  // [edge]
  ...EDGE_SETTINGS,
];

/** Resolves settings from flags (already parsed into a map by flag name), the environment and defaults. */
export function resolveSettings(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env, hostname = 'agent'): AgentSettings {
  const raw = (spec: SettingSpec): { value: string; name: string } => {
    const f = flags[spec.flag];
    if (f !== undefined) return { value: f, name: `--${spec.flag}` };
    const e = env[spec.env];
    if (e !== undefined) return { value: e, name: spec.env };
    return { value: spec.default, name: spec.env };
  };
  const get = (key: keyof AgentSettings | TelemetrySettingKey | EdgeSettingKey): { value: string; name: string } => {
    const spec = SETTINGS.find((s) => s.key === key);
    if (!spec) throw new SettingsError(`unknown setting ${key}`);
    return raw(spec);
  };
  const v = (key: keyof AgentSettings): string => get(key).value;
  const n = (key: keyof AgentSettings, min: number, max: number): number => int(get(key).name, v(key), min, max);

  const bind = v('bindAddress');
  if (isIP(bind) === 0) throw new SettingsError(`${get('bindAddress').name}: "${bind}" is not an IP address`);
  const onExit = v('onExit');
  if (onExit !== 'stop' && onExit !== 'keep') throw new SettingsError(`${get('onExit').name}: "${onExit}" must be stop or keep`);
  const hardStop = v('hardStopAfter');
  if (!/^\d+(ms|s|m|h)?$/.test(hardStop)) throw new SettingsError(`${get('hardStopAfter').name}: "${hardStop}" is not a duration like 30s`);
  const logTarget = v('logTarget');
  if (logTarget !== '') parseHostPort(get('logTarget').name, logTarget);
  const agentId = v('agentId') || hostname;
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(agentId)) throw new SettingsError(`${get('agentId').name}: "${agentId}" may use letters, digits, . _ - only`);
  const natsUrl = v('natsUrl').trim();
  if (natsUrl !== '') {
    try {
      parseNatsServers(get('natsUrl').name, natsUrl);
    } catch (err) {
      throw new SettingsError((err as Error).message);
    }
  }

  return {
    store: v('store'),
    namespace: parseNamespace(get('namespace').name, v('namespace')),
    stateDir: resolve(v('stateDir')),
    httpAddr: parseHostPort(get('httpAddr').name, v('httpAddr')),
    bindAddress: bind,
    haproxyBin: v('haproxyBin'),
    templateDir: v('templateDir') ? resolve(v('templateDir')) : null,
    masterSocket: v('masterSocket') ? v('masterSocket') : null,
    onExit,
    reloadMinIntervalMs: n('reloadMinIntervalMs', 0, 3_600_000),
    debounceMs: n('debounceMs', 0, 60_000),
    persistDelayMs: n('persistDelayMs', 0, 60_000),
    pollIntervalMs: n('pollIntervalMs', 100, 3_600_000),
    pollIntervalWithNatsMs: n('pollIntervalWithNatsMs', 100, 3_600_000),
    vhostPort: n('vhostPort', 0, 65535),
    monitorPort: n('monitorPort', 0, 65535),
    serverSlots: n('serverSlots', 1, 1024),
    hardStopAfter: hardStop,
    maxReloads: n('maxReloads', 1, 10_000),
    maxconn: v('maxconn') === '' ? null : n('maxconn', 1, 10_000_000),
    logTarget: logTarget || null,
    agentId,
    natsUrl: natsUrl || null,
    heartbeatIntervalMs: n('heartbeatIntervalMs', 100, 3_600_000),
    // [telemetry]
    telemetry: telemetrySettings(get, logTarget, get('logTarget').name),
    // [edge]
    edge: resolveEdgeSettings(get),
  };
}

// [telemetry] validation errors surface as SettingsError like every other setting.
function telemetrySettings(get: (key: TelemetrySettingKey) => { value: string; name: string }, logTarget: string, logTargetName: string): TelemetrySettings {
  try {
    return resolveTelemetrySettings(get, { value: logTarget, name: logTargetName });
  } catch (err) {
    throw new SettingsError((err as Error).message);
  }
}
