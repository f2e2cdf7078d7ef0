// Cross-gateway rules for one namespace: names, ports and virtual hosts are exclusive.
import type { Gateway } from './gateway.js';
import type { ModelError } from './errors.js';

export interface Candidate {
  source: string;
  gateway: Gateway;
}

export interface NamespaceOptions {
  /** Names of gateways already serving: they keep what they hold when a newcomer conflicts. */
  incumbents?: ReadonlySet<string>;
  /** Ports nobody may take, with what holds them (e.g. "the virtual-host frontend"). */
  reservedPorts?: ReadonlyMap<number, string>;
}

export interface NamespaceResult {
  accepted: Candidate[];
  rejected: Array<Candidate & { errors: ModelError[] }>;
}

/**
 * Accepts gateways greedily in priority order (incumbents first, then by name, then by
 * source), so a rejected gateway never blocks another; the loser's errors name the winner.
 */
export function checkNamespace(candidates: ReadonlyArray<Candidate>, opts: NamespaceOptions = {}): NamespaceResult {
  const incumbents = opts.incumbents ?? new Set<string>();
  const reserved = opts.reservedPorts ?? new Map<number, string>();
  const order = candidates
    .map((c, index) => ({ c, index, name: c.gateway.name.toLowerCase() }))
    .sort((a, b) => {
      const ia = incumbents.has(a.c.gateway.name) ? 0 : 1;
      const ib = incumbents.has(b.c.gateway.name) ? 0 : 1;
      if (ia !== ib) return ia - ib;
      if (a.name !== b.name) return a.name < b.name ? -1 : 1;
      return a.c.source < b.c.source ? -1 : a.c.source > b.c.source ? 1 : a.index - b.index;
    });

  const names = new Map<string, Candidate>();
  const ports = new Map<number, Candidate>();
  const vhosts = new Map<string, Candidate>();
  const acceptedIdx = new Set<number>();
  const rejected: NamespaceResult['rejected'] = [];

  for (const { c, index, name } of order) {
    const errors: ModelError[] = [];
    const err = (path: string, message: string) => errors.push({ source: c.source, path, message });
    const sameName = names.get(name);
    if (sameName) err('name', `gateway "${c.gateway.name}" is already defined in ${sameName.source}`);
    const holder = reserved.get(c.gateway.port);
    if (holder !== undefined) err('port', `port ${c.gateway.port} is reserved for ${holder}`);
    const portOwner = ports.get(c.gateway.port);
    if (portOwner) err('port', `port ${c.gateway.port} is already used by gateway "${portOwner.gateway.name}"`);
    for (const vh of c.gateway.virtualHosts) {
      const owner = vhosts.get(vh.toLowerCase());
      if (owner) err('virtual_hosts', `virtual host "${vh}" is already used by gateway "${owner.gateway.name}"`);
    }
    if (errors.length > 0) {
      rejected.push({ ...c, errors });
      continue;
    }
    names.set(name, c);
    ports.set(c.gateway.port, c);
    for (const vh of c.gateway.virtualHosts) vhosts.set(vh.toLowerCase(), c);
    acceptedIdx.add(index);
  }
  return { accepted: candidates.filter((_, i) => acceptedIdx.has(i)), rejected };
}
