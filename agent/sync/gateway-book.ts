// Store snapshot → the set of gateways to serve. Each gateway is judged on its own: an
// invalid definition is reported and its last applied version keeps serving; a gateway
// disappears only when its entry is gone from a store that was read successfully.
import type { Gateway } from '../../model/gateway.js';
import { parseGateway } from '../../model/parse.js';
import { checkNamespace } from '../../model/namespace.js';
import { formatModelError } from '../../model/errors.js';
import type { StoreEntry, StoreSnapshot } from '../../store/store.js';

export interface ResolvedGateway {
  entry: StoreEntry;
  gateway: Gateway;
}

export interface GatewayProblem {
  name: string | null;
  source: string;
  version: string | null;
  errors: string[];
  /** The version still served instead, if any. */
  servingVersion: string | null;
}

export interface Resolution {
  desired: ResolvedGateway[];
  problems: GatewayProblem[];
}

type ParseCacheValue = { ok: true; gateway: Gateway } | { ok: false; errors: string[] };

export class GatewayBook {
  /** What HAProxy serves now, by gateway name (updated only after a successful apply). */
  private applied = new Map<string, ResolvedGateway>();
  private parseCache = new Map<string, ParseCacheValue>();

  /**
   * @param reservedPorts ports the agent's own listeners hold, with what holds them: HAProxy
   *   would bind a gateway there too (SO_REUSEPORT) and split that port's traffic between both.
   */
  constructor(private readonly reservedPorts: ReadonlyMap<number, string> = new Map()) {}

  appliedEntries(): StoreEntry[] {
    return [...this.applied.values()].map((r) => r.entry);
  }

  /** The applied entry of one gateway, if HAProxy serves it. */
  appliedEntry(name: string): StoreEntry | undefined {
    return this.applied.get(name)?.entry;
  }

  appliedGateways(): ResolvedGateway[] {
    return [...this.applied.values()];
  }

  /** Records what was applied; the next resolution falls back to these versions. */
  commit(resolved: ResolvedGateway[]): void {
    this.applied = new Map(resolved.map((r) => [r.gateway.name, r]));
  }

  parse(entry: StoreEntry): ParseCacheValue {
    const key = `${entry.source}\0${entry.version}\0${entry.body.length}`;
    const hit = this.parseCache.get(key);
    if (hit && hit.ok) return hit;
    const result = parseGateway(entry.body, { source: entry.source, format: entry.format, expectedName: entry.name });
    const value: ParseCacheValue = result.ok ? { ok: true, gateway: result.gateway } : { ok: false, errors: result.errors.map(formatModelError) };
    if (this.parseCache.size > 20_000) this.parseCache.clear(); // bounded: entries are cheap to recompute
    this.parseCache.set(key, value);
    return value;
  }

  resolve(snapshot: StoreSnapshot): Resolution {
    const problems: GatewayProblem[] = [];
    const candidates: ResolvedGateway[] = [];
    const fallbackUsed = new Set<string>();

    const fallback = (name: string): ResolvedGateway | undefined => {
      const prev = this.applied.get(name);
      if (prev) fallbackUsed.add(name);
      return prev;
    };

    for (const entry of snapshot.entries) {
      const parsed = this.parse(entry);
      if (parsed.ok) {
        candidates.push({ entry, gateway: parsed.gateway });
        continue;
      }
      const prev = fallback(entry.name);
      if (prev) candidates.push(prev);
      problems.push({ name: entry.name, source: entry.source, version: entry.version, errors: parsed.errors, servingVersion: prev?.entry.version ?? null });
    }

    // An entry the store could not hand over (unreadable file…) keeps its applied version.
    const seen = new Set(candidates.map((c) => c.gateway.name));
    for (const p of snapshot.problems) {
      const prev = [...this.applied.values()].find((a) => a.entry.source === p.source);
      if (prev && !seen.has(prev.gateway.name)) {
        candidates.push(prev);
        seen.add(prev.gateway.name);
        fallbackUsed.add(prev.gateway.name);
      }
      problems.push({ name: prev?.gateway.name ?? null, source: p.source, version: null, errors: [`${p.source}: ${p.message}`], servingVersion: prev?.entry.version ?? null });
    }

    const incumbents = new Set(this.applied.keys());
    let checked = checkNamespace(
      candidates.map((c) => ({ source: c.entry.source, gateway: c.gateway })),
      { incumbents, reservedPorts: this.reservedPorts },
    );
    const bySource = new Map(candidates.map((c) => [c.entry.source, c]));
    let accepted = checked.accepted.map((a) => bySource.get(a.source)).filter((c): c is ResolvedGateway => c !== undefined);

    if (checked.rejected.length > 0) {
      // A new version that conflicts with another gateway falls back to its applied version, if that fits.
      const retry: ResolvedGateway[] = [...accepted];
      for (const r of checked.rejected) {
        const prev = this.applied.get(r.gateway.name);
        const usePrev = prev && prev.entry.version !== bySource.get(r.source)?.entry.version ? prev : undefined;
        if (usePrev) {
          retry.push(usePrev);
          fallbackUsed.add(r.gateway.name);
        }
        problems.push({
          name: r.gateway.name,
          source: r.source,
          version: bySource.get(r.source)?.entry.version ?? null,
          errors: r.errors.map(formatModelError),
          servingVersion: usePrev?.entry.version ?? null,
        });
      }
      const bySource2 = new Map(retry.map((c) => [c.entry.source, c]));
      checked = checkNamespace(retry.map((c) => ({ source: c.entry.source, gateway: c.gateway })), { incumbents, reservedPorts: this.reservedPorts });
      accepted = checked.accepted.map((a) => bySource2.get(a.source)).filter((c): c is ResolvedGateway => c !== undefined);
      for (const r of checked.rejected) {
        problems.push({ name: r.gateway.name, source: r.source, version: null, errors: r.errors.map(formatModelError), servingVersion: null });
      }
    }
    return { desired: accepted, problems };
  }

  /** Drops a gateway whose definition HAProxy refused, falling back to its applied version. */
  withoutGateway(desired: ResolvedGateway[], name: string): ResolvedGateway[] {
    const prev = this.applied.get(name);
    const rest = desired.filter((d) => d.gateway.name !== name);
    const current = desired.find((d) => d.gateway.name === name);
    if (prev && current && prev.entry.version !== current.entry.version) rest.push(prev);
    return rest;
  }
}
