// [edge] DNS service discovery targets: `{dns: <name>, port}` (every A/AAAA address of the name
// becomes a server) and `{srv: <_service._proto.name>}` (every SRV record). HAProxy resolves
// them itself at runtime through a `resolvers` section and fills `server-template` slots, so
// addresses follow DNS with no reload. Kept apart from schema.ts so the gateway schema only
// gains the two union members.
import { z } from 'zod';
import { checkHostname } from './hosts.js';

export const DEFAULT_DNS_SLOTS = 16;
export const MAX_DNS_SLOTS = 1024;
/** At most this many DNS/SRV targets per route. */
export const MAX_DISCOVERY_TARGETS = 16;

/** A target HAProxy resolves at runtime. */
export type DiscoveredTarget =
  | { kind: 'dns'; name: string; port: number; slots: number }
  | { kind: 'srv'; name: string; slots: number };

const SRV_NAME = /^_[A-Za-z0-9][A-Za-z0-9-]{0,62}\._(tcp|udp)\.(.+)$/;

const slots = z
  .int({ error: 'expected a whole number of slots' })
  .min(1, { error: 'slots must be between 1 and 1024' })
  .max(MAX_DNS_SLOTS, { error: `slots must be between 1 and ${MAX_DNS_SLOTS}` })
  .optional()
  .describe(`Servers HAProxy keeps for the records (server-template), default ${DEFAULT_DNS_SLOTS}, at most ${MAX_DNS_SLOTS}. Records above it get no traffic: the agent counts them (weir_dns_records_over_slots) and warns in /status. Changing it needs a reload; the records themselves never do.`);

export const DnsTargetSchema = z
  .strictObject({
    dns: z.string({ error: 'expected a DNS name' }).describe('Fully qualified DNS name whose A records (AAAA when it has none) are the servers, e.g. a Kubernetes headless service `shop.default.svc.cluster.local`. HAProxy applies no search domains.'),
    port: z.int({ error: 'expected a port number' }).min(1, { error: 'port must be between 1 and 65535' }).max(65535, { error: 'port must be between 1 and 65535' }).describe('Port of every server.'),
    slots,
  })
  .describe('Servers from DNS A/AAAA records, followed at runtime by HAProxy (no reload).');

export const SrvTargetSchema = z
  .strictObject({
    srv: z.string({ error: 'expected an SRV name such as _http._tcp.shop.default.svc.cluster.local' }).describe('SRV name `_service._proto.name`; each record gives a server host and port. Record weights and priorities are ignored (HAProxy would give weight-0 records no traffic).'),
    slots,
  })
  .describe('Servers from DNS SRV records, followed at runtime by HAProxy (no reload).');

export type DiscoveryInput = z.output<typeof DnsTargetSchema> | z.output<typeof SrvTargetSchema>;

export const isDiscoveryInput = (t: unknown): t is DiscoveryInput => typeof t === 'object' && t !== null && ('dns' in t || 'srv' in t);

/** A checked DiscoveredTarget, or the message saying what is wrong with it. */
export function normalizeDiscovery(t: DiscoveryInput): { ok: true; target: DiscoveredTarget } | { ok: false; field: string; message: string } {
  const count = t.slots ?? DEFAULT_DNS_SLOTS;
  if ('dns' in t) {
    const name = t.dns.toLowerCase().replace(/\.$/, '');
    const problem = checkHostname(name);
    if (problem) return { ok: false, field: 'dns', message: problem };
    if (!name.includes('.')) return { ok: false, field: 'dns', message: `"${name}" is a single label: HAProxy's resolver applies no search domains, so give the fully qualified name (e.g. ${name}.default.svc.cluster.local)` };
    return { ok: true, target: { kind: 'dns', name, port: t.port, slots: count } };
  }
  const m = SRV_NAME.exec(t.srv);
  if (!m) return { ok: false, field: 'srv', message: `${JSON.stringify(t.srv.slice(0, 80))} is not an SRV name: use _service._tcp.name or _service._udp.name, e.g. _http._tcp.shop.default.svc.cluster.local` };
  const host = (m[2] as string).toLowerCase().replace(/\.$/, '');
  const problem = checkHostname(host);
  if (problem) return { ok: false, field: 'srv', message: problem };
  return { ok: true, target: { kind: 'srv', name: `${t.srv.slice(0, t.srv.length - (m[2] as string).length).toLowerCase()}${host}`, slots: count } };
}

/** `name:port` for DNS targets, the SRV name for SRV ones: how targets are named in messages and metrics. */
export const discoveryLabel = (t: DiscoveredTarget): string => (t.kind === 'dns' ? `${t.name}:${t.port}` : t.name);
