// Control API settings from WEIR_* environment variables, checked at start so a typo fails
// with the variable's name.
import { join, resolve } from 'node:path';
import { packageRoot } from '../runtime/package-root.js';
import { int, parseHostPort, SettingsError } from '../runtime/settings-parse.js';
import { DEFAULT_BODY_LIMIT } from './request-body.js';
import { DEFAULT_PORT_RANGE, parsePortRanges, parseVhostDomain, type PortRangeRule } from './gateway-placement.js';

export interface ControlSettings {
  /** WEIR_STORE, parsed by the agent's `openStore`. */
  store: string;
  addr: { host: string; port: number };
  stateDir: string;
  /** WEIR_ADMIN_TOKEN: becomes the admin token at first start. */
  adminToken: string | undefined;
  bodyLimitBytes: number;
  /** The console build served at /ui/; null = no console (WEIR_CONSOLE_DIR=off). */
  consoleDir: string | null;
  /** WEIR_PORT_RANGE: where gateways written without a port get one. */
  portRanges: PortRangeRule[];
  /** WEIR_VHOST_DOMAIN: automatic virtual hosts <gateway>.<env>.<org>.<domain>; off when unset. */
  vhostDomain: string | undefined;
  /** [edge] Serve HTTPS with this PEM chain and key (both or neither), re-read every reloadMs. */
  tls: { cert: string; key: string; reloadMs: number } | null;
}

export interface ControlSettingSpec {
  key: keyof ControlSettings | 'tlsCert' | 'tlsKey' | 'tlsReloadMs';
  env: string;
  default: string;
  help: string;
}

export const CONTROL_SETTINGS: ControlSettingSpec[] = [
  { key: 'store', env: 'WEIR_STORE', default: 'file://./var/store', help: 'where gateways are stored: file:///path, vault:<mount>, nats://host:4222' },
  { key: 'addr', env: 'WEIR_CONTROL_ADDR', default: '127.0.0.1:9100', help: 'host:port the control API listens on' },
  { key: 'stateDir', env: 'WEIR_CONTROL_STATE_DIR', default: './var/control', help: 'tokens (hashed) and the audit log' },
  { key: 'adminToken', env: 'WEIR_ADMIN_TOKEN', default: '', help: 'admin token to install at first start (weir_<id>_<secret>); else one is generated and shown once' },
  { key: 'consoleDir', env: 'WEIR_CONSOLE_DIR', default: '', help: 'the web console build served at /ui/ (default: the bundled dist/ui); off serves no console' },
  { key: 'bodyLimitBytes', env: 'WEIR_CONTROL_BODY_LIMIT', default: String(DEFAULT_BODY_LIMIT), help: 'largest request body in bytes (413 above)' },
  { key: 'portRanges', env: 'WEIR_PORT_RANGE', default: DEFAULT_PORT_RANGE, help: 'ports for gateways written without one: lo-hi, or per namespace org/env=lo-hi,org/*=lo-hi,*=lo-hi (most specific wins; "none" disables)' },
  { key: 'vhostDomain', env: 'WEIR_VHOST_DOMAIN', default: '', help: 'when set, every http gateway written also answers <gateway>.<env>.<org>.<domain> (Vamp-style virtual hosts)' },
  // [edge]
  { key: 'tlsCert', env: 'WEIR_CONTROL_TLS_CERT', default: '', help: 'PEM certificate chain (leaf first) to serve HTTPS with; re-read every 10 s' },
  { key: 'tlsKey', env: 'WEIR_CONTROL_TLS_KEY', default: '', help: 'PEM private key of WEIR_CONTROL_TLS_CERT' },
  { key: 'tlsReloadMs', env: 'WEIR_CONTROL_TLS_RELOAD_MS', default: '10000', help: 'milliseconds between checks of the TLS files (a changed valid pair replaces the certificate in place)' },
];

export function resolveControlSettings(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ControlSettings {
  const v = (key: ControlSettingSpec['key']): string => {
    const spec = CONTROL_SETTINGS.find((s) => s.key === key) as ControlSettingSpec;
    return env[spec.env] ?? spec.default;
  };
  const limitRaw = v('bodyLimitBytes').trim();
  if (!/^\d+$/.test(limitRaw) || Number(limitRaw) < 1024 || Number(limitRaw) > 64 * 1024 * 1024) {
    throw new SettingsError(`WEIR_CONTROL_BODY_LIMIT: "${limitRaw}" must be a whole number of bytes between 1024 and 67108864`);
  }
  const store = v('store').trim();
  if (store === '') throw new SettingsError('WEIR_STORE: is empty');
  const admin = v('adminToken').trim();
  const consoleDir = v('consoleDir').trim();
  const tlsCert = v('tlsCert').trim();
  const tlsKey = v('tlsKey').trim();
  if ((tlsCert === '') !== (tlsKey === '')) throw new SettingsError(`${tlsCert === '' ? 'WEIR_CONTROL_TLS_KEY' : 'WEIR_CONTROL_TLS_CERT'} is set without ${tlsCert === '' ? 'WEIR_CONTROL_TLS_CERT' : 'WEIR_CONTROL_TLS_KEY'}: give both (HTTPS) or neither (HTTP)`);
  return {
    store,
    addr: parseHostPort('WEIR_CONTROL_ADDR', v('addr')),
    stateDir: resolve(cwd, v('stateDir')),
    adminToken: admin === '' ? undefined : admin,
    bodyLimitBytes: Number(limitRaw),
    consoleDir: consoleDir === 'off' ? null : consoleDir === '' ? join(packageRoot(), 'dist', 'ui') : resolve(cwd, consoleDir),
    portRanges: v('portRanges').trim() === 'none' ? [] : parsePortRanges('WEIR_PORT_RANGE', v('portRanges')),
    vhostDomain: parseVhostDomain('WEIR_VHOST_DOMAIN', v('vhostDomain')),
    tls: tlsCert === '' ? null : { cert: resolve(cwd, tlsCert), key: resolve(cwd, tlsKey), reloadMs: int('WEIR_CONTROL_TLS_RELOAD_MS', v('tlsReloadMs'), 100, 3_600_000) },
  };
}
