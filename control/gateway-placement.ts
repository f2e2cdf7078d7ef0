// What the control API fills in for a gateway, as Vamp did: a port from the namespace's range
// when the definition has none (WEIR_PORT_RANGE), and a virtual host <gateway>.<env>.<org>.<domain>
// when WEIR_VHOST_DOMAIN is set. The file store gets neither: a file must name its port.
import { parseDocument } from 'yaml';
import { checkHostname } from '../model/hosts.js';
import { SettingsError } from '../runtime/settings-parse.js';
import type { Namespace } from '../store/store.js';

export interface PortRange {
  lo: number;
  hi: number;
}

/** `org/env`, `org/*` or `*` → a range. */
export interface PortRangeRule {
  scope: string;
  range: PortRange;
}

/** Vamp's default (vamp.operation.gateway.port-range). */
export const DEFAULT_PORT_RANGE = '40000-45000';

const SCOPE = /^(?:\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\/(?:\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?))$/;

/**
 * `40000-45000` (every namespace) or a list `acme/prod=41000-41999,acme/*=42000-42999,*=40000-45000`;
 * the most specific scope wins. A namespace no rule covers gets no automatic ports.
 */
export function parsePortRanges(name: string, raw: string): PortRangeRule[] {
  const rules: PortRangeRule[] = [];
  for (const part of raw.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const scope = eq < 0 ? '*' : part.slice(0, eq).trim();
    const m = /^(\d{1,5})-(\d{1,5})$/.exec((eq < 0 ? part : part.slice(eq + 1)).trim());
    if (!SCOPE.test(scope)) throw new SettingsError(`${name}: "${scope}" is not a namespace scope: use <org>/<env>, <org>/* or *`);
    if (!m) throw new SettingsError(`${name}: "${part}" is not a port range such as 40000-45000 (optionally <org>/<env>=40000-45000)`);
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) throw new SettingsError(`${name}: ${lo}-${hi} must be within 1-65535, low to high`);
    if (rules.some((r) => r.scope === scope)) throw new SettingsError(`${name}: "${scope}" is given twice`);
    rules.push({ scope, range: { lo, hi } });
  }
  return rules;
}

export function rangeFor(rules: readonly PortRangeRule[], ns: Namespace): PortRange | null {
  const pick = (scope: string) => rules.find((r) => r.scope === scope)?.range;
  return pick(`${ns.org}/${ns.env}`) ?? pick(`${ns.org}/*`) ?? pick('*') ?? null;
}

/** The lowest port of the range nobody holds (Vamp took the next one up; lowest keeps ranges dense). */
export function freePort(range: PortRange, taken: ReadonlySet<number>): number | null {
  for (let p = range.lo; p <= range.hi; p++) if (!taken.has(p)) return p;
  return null;
}

export function parseVhostDomain(name: string, raw: string): string | undefined {
  const domain = raw.trim().toLowerCase().replace(/\.$/, '');
  if (domain === '') return undefined;
  const problem = checkHostname(domain);
  if (problem) throw new SettingsError(`${name}: ${problem}`);
  return domain;
}

/** `<gateway>.<env>.<org>.<domain>`; gateway, env and org are DNS labels already. Null when too long for a host name. */
export function autoVirtualHost(gateway: string, ns: Namespace, domain: string): string | null {
  const host = `${gateway}.${ns.env}.${ns.org}.${domain}`.toLowerCase();
  return checkHostname(host) === null ? host : null;
}

/** What the definition says about its port: given, or unassigned (absent, null, 0, "0/tcp") with the mode it asks for. */
export function unassignedPort(text: string): { mode: 'http' | 'tcp' } | null {
  let data: unknown;
  try {
    data = parseDocument(text, { version: '1.2' }).toJS({ maxAliasCount: 100 });
  } catch {
    return null; // the parser reports it
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  const port = (data as Record<string, unknown>).port;
  if (port === undefined || port === null || port === 0 || port === '') return { mode: 'http' };
  if (typeof port === 'string') {
    const m = /^0?(?:\/(http|tcp))?$/.exec(port.trim());
    if (m) return { mode: m[1] === 'tcp' ? 'tcp' : 'http' };
  }
  return null;
}

/** Whether the definition is for an http port (the default), read without validating it. */
export function isHttpDefinition(text: string): boolean {
  try {
    const data = parseDocument(text, { version: '1.2' }).toJS({ maxAliasCount: 100 }) as Record<string, unknown> | null;
    return !(typeof data?.port === 'string' && /\/tcp\s*$/.test(data.port));
  } catch {
    return true;
  }
}
