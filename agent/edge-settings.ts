// Settings of the production-edge features (guards against a lying store, DNS service discovery,
// TLS): rows for the agent's SETTINGS table (agent/settings.ts spreads them in) and their
// validation, kept here so the shared settings file only gains a few lines.
import { isIP } from 'node:net';
import { SettingsError } from '../runtime/settings-parse.js';

export interface MassRemovalSettings {
  /** Removing more than this percentage of the served gateways in one sync is held back (100: never). */
  thresholdPercent: number;
  /** How long the store must keep giving the same answer before such a removal goes ahead. */
  holdMs: number;
  /** The guard applies only when at least this many gateways would go. */
  minGateways: number;
}

export interface DnsSettings {
  /** `nameserver` lines of the `resolvers` section; null: `parse-resolv-conf` (/etc/resolv.conf). */
  nameservers: Array<{ host: string; port: number }> | null;
  /** How long HAProxy keeps the last addresses while the DNS servers time out, refuse or fail. */
  hold: string;
  /** How often the agent resolves DNS targets itself to compare the record count with the slots. */
  checkIntervalMs: number;
}

export interface EdgeSettings {
  massRemoval: MassRemovalSettings;
  dns: DnsSettings;
}

export type EdgeSettingKey = 'massRemovalThreshold' | 'massRemovalHoldMs' | 'dnsResolvers' | 'dnsHold' | 'dnsCheckIntervalMs';

export interface EdgeSettingSpec {
  key: EdgeSettingKey;
  flag: string;
  env: string;
  help: string;
  default: string;
}

/** Fixed by issue 11: smaller removals are everyday edits, never a store that lies. */
export const MASS_REMOVAL_MIN_GATEWAYS = 5;

export const EDGE_SETTINGS: EdgeSettingSpec[] = [
  { key: 'massRemovalThreshold', flag: 'mass-removal-threshold', env: 'WEIR_MASS_REMOVAL_THRESHOLD', default: '50', help: `percentage of the served gateways above which one sync's removals (of at least ${MASS_REMOVAL_MIN_GATEWAYS}) are held until the store says the same for WEIR_MASS_REMOVAL_HOLD_MS; 100 turns the guard off` },
  { key: 'massRemovalHoldMs', flag: 'mass-removal-hold', env: 'WEIR_MASS_REMOVAL_HOLD_MS', default: '60000', help: 'milliseconds the store must give the same answer before a mass removal goes ahead' },
  { key: 'dnsResolvers', flag: 'dns-resolvers', env: 'WEIR_DNS_RESOLVERS', default: '', help: 'DNS servers HAProxy resolves {dns}/{srv} targets with: ip[:port],… (default: the nameservers of /etc/resolv.conf)' },
  { key: 'dnsHold', flag: 'dns-hold', env: 'WEIR_DNS_HOLD', default: '1h', help: 'how long DNS-discovered servers keep their last addresses while the DNS servers time out, refuse or fail' },
  { key: 'dnsCheckIntervalMs', flag: 'dns-check-interval', env: 'WEIR_DNS_CHECK_INTERVAL_MS', default: '10000', help: 'milliseconds between the agent\'s own lookups of DNS targets (record count vs slots: weir_dns_records_over_slots)' },
];

function whole(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new SettingsError(`${name}: "${raw}" is not a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new SettingsError(`${name}: ${n} is outside ${min}..${max}`);
  return n;
}

/** `ip[:port]` or `[ipv6]:port`, comma-separated; port 53 when absent. */
export function parseNameservers(name: string, raw: string): Array<{ host: string; port: number }> {
  const out: Array<{ host: string; port: number }> = [];
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(part) ?? (isIP(part) === 6 ? [part, part, undefined] : /^([^:]+)(?::(\d+))?$/.exec(part));
    const host = m?.[1] ?? '';
    const port = m?.[2] === undefined ? 53 : Number(m[2]);
    if (!m || isIP(host) === 0) throw new SettingsError(`${name}: "${part}" is not an IP address with an optional port (HAProxy's resolvers take addresses, not names)`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SettingsError(`${name}: port ${m[2] ?? ''} in "${part}" is outside 1..65535`);
    out.push({ host, port });
  }
  if (out.length === 0) throw new SettingsError(`${name}: "${raw}" names no DNS server`);
  if (out.length > 16) throw new SettingsError(`${name}: ${out.length} DNS servers, at most 16`);
  return out;
}

export function resolveEdgeSettings(get: (key: EdgeSettingKey) => { value: string; name: string }): EdgeSettings {
  const v = (k: EdgeSettingKey): string => get(k).value.trim();
  const hold = v('dnsHold');
  if (!/^[1-9]\d{0,8}(ms|s|m|h|d)?$/.test(hold)) throw new SettingsError(`${get('dnsHold').name}: "${hold}" is not a duration like 30s, 10m or 1h`);
  const resolvers = v('dnsResolvers');
  return {
    massRemoval: {
      thresholdPercent: whole(get('massRemovalThreshold').name, v('massRemovalThreshold'), 0, 100),
      holdMs: whole(get('massRemovalHoldMs').name, v('massRemovalHoldMs'), 0, 86_400_000),
      minGateways: MASS_REMOVAL_MIN_GATEWAYS,
    },
    dns: {
      nameservers: resolvers === '' ? null : parseNameservers(get('dnsResolvers').name, resolvers),
      hold,
      checkIntervalMs: whole(get('dnsCheckIntervalMs').name, v('dnsCheckIntervalMs'), 100, 3_600_000),
    },
  };
}
