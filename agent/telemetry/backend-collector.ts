/**
 * Per backend server gauges read at scrape time from HAProxy's `show stat` (parsed by header, so column order
 * changes between versions do not matter). Only enabled slots of gateways in the running model are reported:
 * labels stay bounded by configuration (server = the slot name, never an address). One `show stat` serves all
 * three gauges of a scrape. A failed read counts in weir_backend_stats_scrape_errors_total and the gauges are
 * simply absent from that scrape: /metrics never answers 500 because HAProxy is busy or reloading.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HaproxyModel } from '../plan/haproxy-model.js';
import type { StatRecord } from '../haproxy/stat-parse.js';
import { STAT_TYPE } from '../haproxy/stat-parse.js';

export interface BackendCollectorOptions {
  registry: Registry;
  /** `show stat` through the runtime API. */
  showStat: () => Promise<StatRecord[]>;
  /** The model HAProxy runs now (null before the first apply). */
  running: () => HaproxyModel | null;
}

interface Sample {
  labels: { gateway: string; route: string; server: string };
  up: number;
  sessions: number;
  queue: number;
}

type Labels = 'gateway' | 'route' | 'server';

/** Operational state: UP (and "UP 1/3" while going down), no health check, or admin-drained but alive. */
const isUp = (status: string): boolean => status.startsWith('UP') || status === 'no check' || status.startsWith('DRAIN');

export class BackendCollector {
  private inFlight: Promise<Sample[] | null> | null = null;
  private readonly errors: Counter;

  constructor(private readonly opts: BackendCollectorOptions) {
    const registers = [opts.registry];
    this.errors = new Counter({ name: 'weir_backend_stats_scrape_errors_total', help: 'Failed `show stat` reads at scrape time (the backend server gauges are absent from that scrape)', registers });
    // prom-client calls every metric's collect() concurrently per scrape: they share one `show stat`.
    const gauge = (name: string, help: string, pick: (s: Sample) => number): Gauge<Labels> => {
      const samples = (): Promise<Sample[] | null> => this.snapshot();
      return new Gauge<Labels>({
        name,
        help,
        labelNames: ['gateway', 'route', 'server'],
        registers,
        async collect() {
          this.reset();
          const list = await samples();
          for (const s of list ?? []) this.set(s.labels, pick(s));
        },
      });
    };
    gauge('weir_backend_server_up', 'Backend server (slot) operational state from HAProxy: 1 up, 0 down or in maintenance', (s) => s.up);
    gauge('weir_backend_server_current_sessions', 'Current sessions on the backend server (HAProxy scur)', (s) => s.sessions);
    gauge('weir_backend_server_current_queue', 'Requests queued for the backend server (HAProxy qcur)', (s) => s.queue);
  }

  private snapshot(): Promise<Sample[] | null> {
    if (this.inFlight) return this.inFlight;
    const p = this.read().finally(() => {
      // Released on the next tick so the sibling gauges of the same scrape still share it.
      setImmediate(() => {
        if (this.inFlight === p) this.inFlight = null;
      });
    });
    this.inFlight = p;
    return p;
  }

  private async read(): Promise<Sample[] | null> {
    const model = this.opts.running();
    if (!model || model.gateways.length === 0) return [];
    const wanted = new Map<string, { gateway: string; route: string }>();
    for (const g of model.gateways) for (const r of g.routes) for (const s of r.slots) if (s.enabled) wanted.set(`${r.backend}/${s.name}`, { gateway: g.name, route: r.name });
    let rows: StatRecord[];
    try {
      rows = await this.opts.showStat();
    } catch {
      this.errors.inc();
      return null;
    }
    const out: Sample[] = [];
    for (const row of rows) {
      if (row.type !== STAT_TYPE.server) continue;
      const key = wanted.get(`${row.pxname}/${row.svname}`);
      if (!key) continue;
      out.push({ labels: { ...key, server: row.svname }, up: isUp(row.status) ? 1 : 0, sessions: Number(row.scur ?? 0) || 0, queue: Number(row.qcur ?? 0) || 0 });
    }
    return out;
  }
}
