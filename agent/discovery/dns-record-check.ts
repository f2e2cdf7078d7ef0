// [edge] The agent's own look at the records of DNS/SRV targets. HAProxy fills a target's
// `server-template` slots from the records and silently ignores records above the slot count;
// so the agent resolves each target itself (same DNS servers, every WEIR_DNS_CHECK_INTERVAL_MS),
// exports the counts and warns in /status when records go without a slot or a name has none.
// An observer on the side: it never changes what HAProxy serves.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../runtime/log.js';
import type { HaproxyModel } from '../plan/haproxy-model.js';
import type { DiscoveryModel } from '../plan/discovery-model.js';

export interface AgentWarning {
  /** What the warning is about, e.g. `shop/v1 target shop.default.svc.cluster.local:8080`. */
  source: string;
  message: string;
}

interface Target {
  gateway: string;
  route: string;
  d: DiscoveryModel;
}

type Lookup = { ok: true; records: number } | { ok: false; nxdomain: boolean; message: string };

export interface DnsRecordCheckOptions {
  /** null: the system's DNS servers (/etc/resolv.conf), as HAProxy's `parse-resolv-conf`. */
  nameservers: Array<{ host: string; port: number }> | null;
  intervalMs: number;
  registry: Registry;
  logger: Logger;
  running: () => HaproxyModel | null;
  /** Called when the warnings change (the status heartbeat carries them). */
  onChange: () => void;
}

export class DnsRecordCheck {
  private readonly resolver = new Resolver({ timeout: 2000, tries: 2 });
  private readonly records: Gauge<'gateway' | 'route' | 'target'>;
  private readonly slots: Gauge<'gateway' | 'route' | 'target'>;
  private readonly over: Gauge<'gateway' | 'route' | 'target'>;
  private readonly lookups: Counter<'result'>;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private current = new Map<string, AgentWarning>();
  private labelled = new Set<string>();

  constructor(private readonly o: DnsRecordCheckOptions) {
    if (o.nameservers) this.resolver.setServers(o.nameservers.map((n) => (isIP(n.host) === 6 ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)));
    const r = [o.registry];
    const labelNames = ['gateway', 'route', 'target'] as const;
    this.records = new Gauge({ name: 'weir_dns_records', help: 'Records the agent found for a DNS/SRV target at its last lookup (A, else AAAA addresses; SRV records).', labelNames, registers: r });
    this.slots = new Gauge({ name: 'weir_dns_slots', help: 'Server slots HAProxy keeps for a DNS/SRV target (its `slots`).', labelNames, registers: r });
    this.over = new Gauge({ name: 'weir_dns_records_over_slots', help: 'Records of a DNS/SRV target above its slots: HAProxy gives them no traffic.', labelNames, registers: r });
    this.lookups = new Counter({ name: 'weir_dns_lookups_total', help: "The agent's own lookups of DNS/SRV targets by result (ok, nxdomain, error).", labelNames: ['result'], registers: r });
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.resolver.cancel();
    await this.running?.catch(() => undefined);
  }

  warnings(): AgentWarning[] {
    return [...this.current.values()];
  }

  /** One pass over every target of the running model (tests call it directly). */
  async checkNow(): Promise<void> {
    const targets = this.targets();
    const next = new Map<string, AgentWarning>();
    const seen = new Set<string>();
    await Promise.all(
      targets.map(async (t) => {
        const labels = { gateway: t.gateway, route: t.route, target: t.d.fqdn };
        const key = JSON.stringify(labels);
        seen.add(key);
        const source = `${t.gateway}/${t.route} target ${t.d.fqdn}`;
        const res = await this.lookup(t.d);
        this.lookups.inc({ result: res.ok ? 'ok' : res.nxdomain ? 'nxdomain' : 'error' });
        this.slots.set(labels, t.d.slots);
        if (!res.ok) {
          // A DNS outage is not news about the records: keep the last counts and warnings.
          if (!res.nxdomain) {
            const prev = this.current.get(key);
            if (prev) next.set(key, prev);
            return;
          }
          this.records.set(labels, 0);
          this.over.set(labels, 0);
          next.set(key, { source, message: `${t.d.kind === 'srv' ? 'the SRV name' : 'the name'} does not exist (NXDOMAIN): the route gets no servers from this target (HAProxy empties its slots 30 s after the last valid answer)` });
          return;
        }
        this.records.set(labels, res.records);
        const extra = Math.max(0, res.records - t.d.slots);
        this.over.set(labels, extra);
        if (extra > 0) next.set(key, { source, message: `${res.records} records, ${t.d.slots} slots: ${extra} ${extra === 1 ? 'server gets' : 'servers get'} no traffic; raise \`slots\` of this target (a reload)` });
        else if (res.records === 0) next.set(key, { source, message: 'no records: the route gets no servers from this target' });
      }),
    );
    for (const key of this.labelled) {
      if (seen.has(key)) continue;
      const labels = JSON.parse(key) as Record<'gateway' | 'route' | 'target', string>;
      for (const g of [this.records, this.slots, this.over]) g.remove(labels);
    }
    this.labelled = seen;
    const changed = JSON.stringify([...next.values()]) !== JSON.stringify([...this.current.values()]);
    this.current = next;
    if (changed) {
      for (const w of next.values()) this.o.logger.warn({ target: w.source }, w.message);
      this.o.onChange();
    }
  }

  private targets(): Target[] {
    const model = this.o.running();
    if (!model) return [];
    return model.gateways.flatMap((g) => g.routes.flatMap((r) => r.discovery.map((d) => ({ gateway: g.name, route: r.name, d }))));
  }

  private async lookup(d: DiscoveryModel): Promise<Lookup> {
    try {
      if (d.kind === 'srv') return { ok: true, records: (await this.resolver.resolveSrv(d.fqdn)).length };
      const name = d.fqdn.slice(0, d.fqdn.lastIndexOf(':'));
      // HAProxy prefers IPv4 (resolve-prefer ipv4) and falls back to AAAA when there is none.
      const v4 = await this.resolver.resolve4(name).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENODATA') return [];
        throw err;
      });
      if (v4.length > 0) return { ok: true, records: new Set(v4).size };
      return { ok: true, records: new Set(await this.resolver.resolve6(name).catch(() => [])).size };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      return { ok: false, nxdomain: code === 'ENOTFOUND', message: (err as Error).message };
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.checkNow()
        .catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, 'DNS record check failed'))
        .finally(() => this.schedule(this.o.intervalMs));
    }, ms);
    this.timer.unref();
  }
}
