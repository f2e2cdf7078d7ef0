// The agent's optional NATS link (WEIR_NATS_URL). Two jobs:
//   1. `weir.<org>.<env>.gateways.changed` → agent.requestSync('nats'): a write through the
//      control API applies within milliseconds instead of at the next poll.
//   2. An AgentStatusEvent on `weir.<org>.<env>.agents.<id>.status` every heartbeat interval,
//      and at once when what the agent serves, its problems or its health change.
//   3. [telemetry] each closed traffic window on `weir.<org>.<env>.metrics.<gateway>` (WEIR_METRICS).
// NATS is an accelerator, never a dependency: the agent keeps polling the store on its own
// interval, the connection is retried forever, and after every (re)connect the link publishes
// its status and asks for one sync, so a change announced while it was away is not missed.
import type { NatsConnection, Subscription } from 'nats';
import { Counter, type Registry } from 'prom-client';
import type { AgentStatus } from './agent.js';
import type { Logger } from '../runtime/log.js';
import { isDnsLabel } from '../store/store-writer.js';
import { natsAuthFromEnv, natsErrText, NatsConnector, parseNatsServers } from '../events/nats-connection.js';
import type { ChangeHint, Namespace } from '../store/store.js';
import { subjects, type AgentStatusEvent, type GatewayChangedEvent } from '../events/contract.js';
import type { GatewayWindowReport } from '../metrics/window-report.js';
import { metricsMaxAgeFromEnv } from '../metrics/nats-window-stream.js';
import { NatsWindowPublisher } from './telemetry/nats-window-publisher.js';

/** What the link needs from an agent; `Agent` satisfies it. */
export interface LinkedAgent {
  readonly settings: { namespace: Namespace; heartbeatIntervalMs: number };
  getStatus(): AgentStatus;
  requestSync(reason: string, hint?: ChangeHint): void;
  /** Told when change events start and stop arriving (the agent polls less while they do). */
  setEventsConnected(connected: boolean): void;
  onStatusChange(listener: () => void): () => void;
  readonly metrics: { registry: Registry };
  /** [telemetry] closed traffic windows to publish (absent or null: telemetry off). */
  readonly telemetry?: { onWindow(listener: (r: GatewayWindowReport) => void): () => void } | null;
}

export interface AgentNatsLinkOptions {
  servers: string[];
  token?: string;
  credsFile?: string;
  logger: Logger;
  /** Overrides settings.heartbeatIntervalMs (tests). */
  heartbeatIntervalMs?: number;
  retryMs?: number;
  /** [telemetry] max age of the WEIR_METRICS stream when the agent creates it. */
  metricsMaxAgeMs?: number;
}

export class AgentNatsLink {
  private readonly connector: NatsConnector;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly ns: Namespace;
  private sub: Subscription | undefined;
  private beat: NodeJS.Timeout | undefined;
  private lastFingerprint = '';
  private readonly offs: Array<() => void> = [];
  private readonly counters: { events: Counter<'kind'> };
  private readonly windows: NatsWindowPublisher;
  private stopped = false;

  constructor(
    private readonly agent: LinkedAgent,
    opts: AgentNatsLinkOptions,
  ) {
    this.log = opts.logger.child({ component: 'nats-link' });
    this.ns = agent.settings.namespace;
    this.intervalMs = opts.heartbeatIntervalMs ?? agent.settings.heartbeatIntervalMs;
    this.connector = new NatsConnector({
      servers: opts.servers,
      name: `weir-agent-${agent.getStatus().agentId}`,
      logger: this.log,
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.credsFile ? { credsFile: opts.credsFile } : {}),
      ...(opts.retryMs !== undefined ? { retryMs: opts.retryMs } : {}),
    });
    const registry = agent.metrics.registry;
    const existing = registry.getSingleMetric('weir_agent_nats_messages_total');
    this.counters = {
      events:
        (existing as Counter<'kind'> | undefined) ??
        new Counter({ name: 'weir_agent_nats_messages_total', help: 'NATS messages by kind (change_received, status_published, status_failed, reconnect, window_published, window_failed, window_dropped).', labelNames: ['kind'], registers: [registry] }),
    };
    this.windows = new NatsWindowPublisher({
      logger: this.log,
      ...(opts.metricsMaxAgeMs !== undefined ? { stream: { maxAgeMs: opts.metricsMaxAgeMs } } : {}),
      count: (kind, n = 1) => this.counters.events.inc({ kind }, n),
    });
  }

  start(): void {
    this.offs.push(this.connector.onUp((nc, reason) => this.onUp(nc, reason)));
    this.offs.push(
      this.connector.onDown(() => {
        this.agent.setEventsConnected(false);
        this.windows.detach();
      }),
    );
    this.offs.push(this.agent.onStatusChange(() => this.publishIfChanged()));
    const telemetry = this.agent.telemetry;
    if (telemetry) this.offs.push(telemetry.onWindow((r) => this.windows.publish(r)));
    this.connector.start();
    this.scheduleBeat();
  }

  /** Beats at the interval −10 %..0 (never later: the control API counts missed beats), out of step with other agents. */
  private scheduleBeat(): void {
    if (this.stopped) return;
    this.beat = setTimeout(() => {
      this.publishStatus('heartbeat');
      this.scheduleBeat();
    }, this.intervalMs * (0.9 + 0.1 * Math.random()));
    this.beat.unref();
  }

  isConnected(): boolean {
    return this.connector.isConnected();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.beat);
    for (const off of this.offs) off();
    this.agent.setEventsConnected(false);
    this.sub?.unsubscribe();
    await this.connector.close();
  }

  /** The heartbeat payload for the agent's current status. */
  statusEvent(): AgentStatusEvent {
    return toStatusEvent(this.agent.getStatus(), this.intervalMs);
  }

  private onUp(nc: NatsConnection, reason: 'connected' | 'reconnected'): void {
    if (this.stopped) return;
    // Core subscriptions survive reconnects; only the first connect subscribes.
    if (!this.sub || this.sub.isClosed()) {
      this.sub = nc.subscribe(subjects.gatewaysChanged(this.ns), {
        callback: (err, msg) => {
          if (err) return this.log.warn({ err: err.message }, 'change subscription error');
          this.counters.events.inc({ kind: 'change_received' });
          // The event names the gateway and its new version: the agent reads that key only.
          // A body it cannot read still means "something changed": a full read.
          const hint = changeHint(msg.data);
          if (!hint) this.log.warn({ subject: msg.subject, bytes: msg.data.length }, 'unreadable change event; reading the whole namespace');
          this.agent.requestSync('nats', hint ?? undefined);
        },
      });
    }
    if (reason === 'reconnected') this.counters.events.inc({ kind: 'reconnect' });
    this.agent.setEventsConnected(true);
    this.windows.attach(nc);
    this.publishStatus(reason);
    // Anything announced while we were away (or before the first connect) is unknown: re-read.
    this.agent.requestSync(`nats ${reason}`);
  }

  private publishIfChanged(): void {
    const fp = fingerprint(this.agent.getStatus());
    if (fp === this.lastFingerprint) return;
    this.publishStatus('changed');
  }

  private publishStatus(why: string): void {
    // While disconnected the client would buffer stale beats; skip, a fresh one follows the reconnect.
    const nc = this.connector.current();
    if (!nc || this.stopped) return;
    const status = this.agent.getStatus();
    this.lastFingerprint = fingerprint(status);
    try {
      nc.publish(subjects.agentStatus(this.ns, status.agentId), JSON.stringify(toStatusEvent(status, this.intervalMs)));
      this.counters.events.inc({ kind: 'status_published' });
    } catch (err) {
      this.counters.events.inc({ kind: 'status_failed' });
      this.log.warn({ err: natsErrText(err), why }, 'cannot publish agent status');
    }
  }
}

export function toStatusEvent(s: AgentStatus, intervalMs: number): AgentStatusEvent {
  return {
    agentId: s.agentId,
    namespace: s.namespace,
    at: new Date().toISOString(),
    intervalMs,
    ready: s.ready,
    haproxyRunning: s.haproxy.running,
    servingFromCache: s.servingFromCache,
    storeOk: s.store.ok,
    applied: s.applied.map((a) => ({ name: a.name, version: a.version })),
    problems: s.problems.map((p) => ({ name: p.name, version: p.version, errors: p.errors })),
    lastApplyAt: s.lastApply?.at ?? null,
    lastError: s.lastError,
    reservedPorts: s.reservedPorts,
  };
}

/** The gateway and version a `gateways.changed` event names, or null when the body is not such an event. */
export function changeHint(data: Uint8Array): ChangeHint | null {
  let ev: Partial<GatewayChangedEvent>;
  try {
    ev = JSON.parse(new TextDecoder().decode(data)) as Partial<GatewayChangedEvent>;
  } catch {
    return null;
  }
  if (typeof ev !== 'object' || ev === null || typeof ev.gateway !== 'string' || !isDnsLabel(ev.gateway)) return null;
  if (ev.version !== null && typeof ev.version !== 'string') return null;
  return { name: ev.gateway, version: ev.version };
}

/** The parts of a status worth an immediate event: what the event carries, less its timestamps. */
function fingerprint(s: AgentStatus): string {
  return JSON.stringify([s.ready, s.haproxy.running, s.servingFromCache, s.store.ok, s.applied.map((a) => [a.name, a.version]), s.problems.map((p) => [p.name, p.version, p.errors]), s.lastError]);
}

/** Builds the link from settings (WEIR_NATS_URL) and NATS_TOKEN / NATS_CREDS; null when unset. */
export function linkFromSettings(agent: LinkedAgent & { settings: { natsUrl: string | null } }, env: NodeJS.ProcessEnv, logger: Logger): AgentNatsLink | null {
  const url = agent.settings.natsUrl;
  if (!url) return null;
  return new AgentNatsLink(agent, { servers: parseNatsServers('WEIR_NATS_URL', url), logger, ...natsAuthFromEnv(env), metricsMaxAgeMs: metricsMaxAgeFromEnv(env) });
}
