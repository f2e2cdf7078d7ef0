// The agent's own Prometheus metrics. Labels are bounded: kinds, results and reasons come
// from fixed lists; gateway names appear only where the number of gateways bounds them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry: Registry;
  readonly syncs: Counter<'scope' | 'result'>;
  readonly applies: Counter<'kind' | 'result'>;
  readonly reloads: Counter;
  readonly reloadFailures: Counter<'stage'>;
  readonly reloadDuration: Histogram;
  readonly runtimeCommands: Counter<'result'>;
  readonly applyDuration: Histogram<'kind'>;
  readonly invalidGateways: Gauge;
  readonly gatewayRejections: Counter<'reason'>;
  readonly appliedGateways: Gauge;
  readonly haproxyRestarts: Counter;
  readonly haproxyUp: Gauge;
  readonly storeUp: Gauge;
  readonly lastApplySuccess: Gauge;
  readonly configInfo: Gauge<'checksum'>;
  readonly servingFromCache: Gauge;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registry = new Registry();
    this.registry = registry;
    const r = [registry];
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: registry, prefix: 'weir_agent_' });
      // [telemetry] prom-client also exports three gauges named `*_total`, which `promtool check metrics` rejects
      // (`_total` means counter). The same counts stay available as weir_agent_nodejs_active_{handles,requests,resources}.
      for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total']) registry.removeSingleMetric(`weir_agent_nodejs_${n}`);
    }
    this.syncs = new Counter({ name: 'weir_agent_syncs_total', help: 'Store reads by scope (namespace: a full list; gateways: only the keys a change named) and result.', labelNames: ['scope', 'result'], registers: r });
    this.applies = new Counter({ name: 'weir_agent_applies_total', help: 'Applied changes by kind (runtime, reload, start) and result.', labelNames: ['kind', 'result'], registers: r });
    this.reloads = new Counter({ name: 'weir_haproxy_reloads_total', help: 'Successful HAProxy reloads.', registers: r });
    this.reloadFailures = new Counter({ name: 'weir_haproxy_reload_failures_total', help: 'Failed reloads by stage (check, reload).', labelNames: ['stage'], registers: r });
    this.reloadDuration = new Histogram({
      name: 'weir_haproxy_reload_duration_seconds',
      help: 'Time from staging a config to the new worker running.',
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.runtimeCommands = new Counter({ name: 'weir_haproxy_runtime_commands_total', help: 'Runtime API commands sent, by result.', labelNames: ['result'], registers: r });
    this.applyDuration = new Histogram({
      name: 'weir_agent_apply_duration_seconds',
      help: 'Time to apply a change, by kind.',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    });
    this.invalidGateways = new Gauge({ name: 'weir_gateways_invalid', help: 'Gateway definitions currently rejected.', registers: r });
    this.gatewayRejections = new Counter({ name: 'weir_gateway_rejections_total', help: 'Rejected gateway definitions by reason (validation, conflict, haproxy, store).', labelNames: ['reason'], registers: r });
    this.appliedGateways = new Gauge({ name: 'weir_gateways_applied', help: 'Gateways HAProxy serves.', registers: r });
    this.haproxyRestarts = new Counter({ name: 'weir_haproxy_restarts_total', help: 'Times the agent restarted a dead HAProxy master.', registers: r });
    this.haproxyUp = new Gauge({ name: 'weir_haproxy_up', help: '1 when the HAProxy master answers and runs a worker.', registers: r });
    this.storeUp = new Gauge({ name: 'weir_store_up', help: '1 when the last store read succeeded.', registers: r });
    this.lastApplySuccess = new Gauge({ name: 'weir_agent_last_successful_apply_timestamp_seconds', help: 'Unix time of the last successful apply.', registers: r });
    this.configInfo = new Gauge({ name: 'weir_agent_applied_config_info', help: 'Checksum of the applied configuration (value is always 1).', labelNames: ['checksum'], registers: r });
    this.servingFromCache = new Gauge({ name: 'weir_agent_serving_from_cache', help: '1 when HAProxy was booted from the last-good cache and the store has not been read since.', registers: r });
  }

  setConfigChecksum(checksum: string): void {
    this.configInfo.reset();
    this.configInfo.set({ checksum: checksum.slice(0, 16) }, 1);
  }
}
