// [edge] The HAProxy side of DNS service discovery: one `server-template` per {dns}/{srv} target
// of a route, and the `resolvers` section they use. HAProxy resolves the names itself and fills
// the template's slots at runtime, so records changing need no reload; a changed name, port or
// slot count is structural (the planner's structural key covers the whole route model).
import type { Route } from '../../model/gateway.js';
import type { DnsSettings } from '../edge-settings.js';

export const RESOLVERS_NAME = 'weir';

export interface DiscoveryModel {
  /** Server names are `<prefix>1` … `<prefix><slots>`. */
  prefix: string;
  slots: number;
  /** `name:port` (A/AAAA) or the SRV name. */
  fqdn: string;
  kind: 'dns' | 'srv';
}

export type DnsModelSettings = Pick<DnsSettings, 'nameservers' | 'hold'>;

export interface ResolversModel {
  name: string;
  /** Empty: `parse-resolv-conf`. */
  nameservers: Array<{ name: string; address: string; port: number }>;
  hold: string;
}

export function discoveryModels(route: Route): DiscoveryModel[] {
  return route.discovered.map((d, i) => ({ prefix: `d${i}_`, slots: d.slots, fqdn: d.kind === 'dns' ? `${d.name}:${d.port}` : d.name, kind: d.kind }));
}

export function resolversModel(gateways: ReadonlyArray<{ routes: ReadonlyArray<{ discovery: DiscoveryModel[] }> }>, dns: DnsModelSettings | undefined): ResolversModel | null {
  if (!gateways.some((g) => g.routes.some((r) => r.discovery.length > 0))) return null;
  return {
    name: RESOLVERS_NAME,
    nameservers: (dns?.nameservers ?? []).map((n, i) => ({ name: `ns${i}`, address: n.host, port: n.port })),
    hold: dns?.hold ?? '1h',
  };
}

/** Server names a route's templates give HAProxy (for the server-state dump before a reload). */
export function templateServerNames(d: DiscoveryModel): string[] {
  return Array.from({ length: d.slots }, (_, i) => `${d.prefix}${i + 1}`);
}
