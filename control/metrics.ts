// The control API's Prometheus metrics, in their own registry (several servers can share a
// process in tests). Labels are bounded: route templates, fixed methods, status classes, ops.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PublishErrorReporter } from './seams.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export class ControlMetrics implements PublishErrorReporter {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status_class'>;
  readonly duration: Histogram<'method' | 'route' | 'status_class'>;
  readonly storeErrors: Counter<'op' | 'kind'>;
  readonly publishErrors: Counter<'kind'>;
  readonly auditErrors: Counter;
  readonly casRetries: Counter;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'weir_control_' });
    const labelNames = ['method', 'route', 'status_class'] as const;
    this.requests = new Counter({ name: 'weir_control_http_requests_total', help: 'HTTP requests by method, route template and status class.', labelNames, registers: r });
    this.duration = new Histogram({
      name: 'weir_control_http_request_duration_seconds',
      help: 'HTTP request latency by method, route template and status class.',
      labelNames,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    });
    this.storeErrors = new Counter({ name: 'weir_control_store_errors_total', help: 'Failed store calls by operation and kind (unavailable, conflict, other).', labelNames: ['op', 'kind'], registers: r });
    this.publishErrors = new Counter({ name: 'weir_control_publish_errors_total', help: 'Failed event publications (gateway changes, NATS) by kind.', labelNames: ['kind'], registers: r });
    this.auditErrors = new Counter({ name: 'weir_control_audit_errors_total', help: 'Audit records that could not be written.', registers: r });
    this.casRetries = new Counter({ name: 'weir_control_cas_retries_total', help: 'Read-modify-write retries after a version conflict.', registers: r });
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const labels = { method: METHODS.has(method) ? method : 'OTHER', route, status_class: `${Math.floor(status / 100)}xx` };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
  }

  /** Called by event publishers (the NATS outbox) so their failures show up here. */
  publishError(kind: string): void {
    this.publishErrors.inc({ kind: /^[a-z_]{1,32}$/.test(kind) ? kind : 'other' });
  }
}
