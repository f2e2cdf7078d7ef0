// The NATS feed of the event stream: gateway changes announced by any control API replica
// (`weir.<org>.<env>.gateways.changed`) and release transitions (`weir.<org>.<env>.releases.<gateway>`).
// Core subscriptions per namespace with open streams; the nats client re-subscribes them after
// a reconnect, and a new connection object gets new ones.
import type { Subscription } from 'nats';
import type { Logger } from '../runtime/log.js';
import type { NatsConnector } from '../events/nats-connection.js';
import { subjects, type GatewayChangedEvent, type ReleaseEvent } from '../events/contract.js';
import type { Namespace } from '../store/store.js';
import type { CloseFeed, EmitEvent, EventFeed } from './event-hub.js';

function parse(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as unknown;
  } catch {
    return undefined;
  }
}

export function natsEventFeed(connector: Pick<NatsConnector, 'onUp'>, log: Logger): EventFeed {
  return {
    name: 'nats',
    async open(ns: Namespace, emit: EmitEvent): Promise<CloseFeed> {
      let subs: Subscription[] = [];
      const offUp = connector.onUp((nc) => {
        if (subs.length > 0 && subs.every((s) => !s.isClosed())) return;
        subs.forEach((s) => s.unsubscribe());
        subs = [
          nc.subscribe(subjects.gatewaysChanged(ns), {
            callback: (err, msg) => {
              if (err) return log.warn({ err: err.message }, 'gateway change subscription error');
              const ev = parse(msg.data) as Partial<GatewayChangedEvent> | undefined;
              if (!ev || typeof ev.gateway !== 'string') return;
              emit({ type: 'gateway', gateway: ev.gateway, version: ev.version ?? null, ...(ev.action ? { action: ev.action } : {}), ...(ev.by ? { by: ev.by } : {}), at: ev.at ?? new Date().toISOString(), via: 'nats' });
            },
          }),
          nc.subscribe(subjects.namespaceReleases(ns), {
            callback: (err, msg) => {
              if (err) return log.warn({ err: err.message }, 'release subscription error');
              // The subject names the gateway (NATS permissions are per subject); the body is a ReleaseEvent.
              const gateway = msg.subject.split('.')[4] ?? '';
              const body = parse(msg.data) as Partial<ReleaseEvent> | undefined;
              if (gateway === '' || body === undefined || typeof body !== 'object' || body === null) return;
              emit({ type: 'release', gateway, at: typeof body.at === 'string' ? body.at : new Date().toISOString(), release: body });
            },
          }),
        ];
      });
      return () => {
        offUp();
        subs.forEach((s) => s.unsubscribe());
        subs = [];
      };
    },
  };
}
