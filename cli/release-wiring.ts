// Composition of the release controller from parts of Weir that release/ only knows as ports:
// the store's documents and leases, the control API's gateway write path, the agents' status
// heartbeats, a window-aggregate metrics source. Used by `weir control` (the controller runs
// in the API process by default) and by `weir release-controller` (the same thing alone).
import type { Registry } from 'prom-client';
import type { Logger } from '../runtime/log.js';
import { LeaderElection } from '../store/lease.js';
import type { OpenedStore } from '../store/open-store.js';
import type { TrafficWindowSource } from '../metrics/window-source.js';
import { ReleaseController, ReleaseMetrics, type AgentAckSource, type GatewayRouteWriter, type ReleaseService } from '../release/index.js';
import type { ReleaseSettings } from '../release/settings.js';

export const LEASE_NAME = 'release-controller';

export interface ReleaseParts {
  store: OpenedStore;
  service: ReleaseService;
  writer: GatewayRouteWriter;
  agents?: AgentAckSource | undefined;
  metricsSource: TrafficWindowSource | null;
  registry: Registry;
  logger: Logger;
  holder?: string;
}

export interface RunningReleaseController {
  controller: ReleaseController;
  election: LeaderElection;
  close(): Promise<void>;
}

export function startReleaseController(parts: ReleaseParts, settings: ReleaseSettings): RunningReleaseController {
  const log = parts.logger.child({ component: 'release-controller' });
  const election = new LeaderElection({
    backend: parts.store.leases(),
    name: LEASE_NAME,
    ttlMs: settings.lease.ttlMs,
    renewMs: settings.lease.renewMs,
    skewMs: settings.lease.skewMs,
    logger: log,
    ...(parts.holder ? { holder: parts.holder } : {}),
  });
  const controller = new ReleaseController({
    store: parts.store,
    gateways: parts.store as OpenedStore & { get: NonNullable<OpenedStore['get']> },
    writer: parts.writer,
    agents: parts.agents,
    metricsSource: parts.metricsSource,
    service: parts.service,
    leadership: election,
    logger: log,
    metrics: new ReleaseMetrics(parts.registry),
    settings: settings.controller,
  });
  election.start();
  controller.start();
  log.info({ lease: LEASE_NAME, holder: election.holder, takeoverBoundMs: election.takeoverBoundMs, metrics: parts.metricsSource?.location ?? 'none', agents: parts.agents ? 'nats' : 'none' }, 'release controller started');
  let closing: Promise<void> | undefined;
  return {
    controller,
    election,
    close: () =>
      (closing ??= (async () => {
        await controller.stop();
        await election.stop();
      })()),
  };
}
