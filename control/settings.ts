// Control API settings from WEIR_* environment variables, checked at start so a typo fails
// with the variable's name.
import { resolve } from 'node:path';
import { parseHostPort, SettingsError } from '../runtime/settings-parse.js';
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
  /** WEIR_PORT_RANGE: where gateways written without a port get one. */
  portRanges: PortRangeRule[];
  /** WEIR_VHOST_DOMAIN: automatic virtual hosts <gateway>.<env>.<org>.<domain>; off when unset. */
  vhostDomain: string | undefined;
}

export interface ControlSettingSpec {
  key: keyof ControlSettings;
  env: string;
  default: string;
  help: string;
}

export const CONTROL_SETTINGS: ControlSettingSpec[] = [
  { key: 'store', env: 'WEIR_STORE', default: 'file://./var/store', help: 'where gateways are stored: file:///path, vault:<mount>, nats://host:4222' },
  { key: 'addr', env: 'WEIR_CONTROL_ADDR', default: '127.0.0.1:9100', help: 'host:port the control API listens on' },
  { key: 'stateDir', env: 'WEIR_CONTROL_STATE_DIR', default: './var/control', help: 'tokens (hashed) and the audit log' },
  { key: 'adminToken', env: 'WEIR_ADMIN_TOKEN', default: '', help: 'admin token to install at first start (weir_<id>_<secret>); else one is generated and shown once' },
  { key: 'bodyLimitBytes', env: 'WEIR_CONTROL_BODY_LIMIT', default: String(DEFAULT_BODY_LIMIT), help: 'largest request body in bytes (413 above)' },
  { key: 'portRanges', env: 'WEIR_PORT_RANGE', default: DEFAULT_PORT_RANGE, help: 'ports for gateways written without one: lo-hi, or per namespace org/env=lo-hi,org/*=lo-hi,*=lo-hi (most specific wins; "none" disables)' },
  { key: 'vhostDomain', env: 'WEIR_VHOST_DOMAIN', default: '', help: 'when set, every http gateway written also answers <gateway>.<env>.<org>.<domain> (Vamp-style virtual hosts)' },
];

export function resolveControlSettings(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ControlSettings {
  const v = (key: keyof ControlSettings): string => {
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
  return {
    store,
    addr: parseHostPort('WEIR_CONTROL_ADDR', v('addr')),
    stateDir: resolve(cwd, v('stateDir')),
    adminToken: admin === '' ? undefined : admin,
    bodyLimitBytes: Number(limitRaw),
    portRanges: v('portRanges').trim() === 'none' ? [] : parsePortRanges('WEIR_PORT_RANGE', v('portRanges')),
    vhostDomain: parseVhostDomain('WEIR_VHOST_DOMAIN', v('vhostDomain')),
  };
}
