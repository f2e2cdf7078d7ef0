// What changed in a namespace, for the `GET …/events` stream: gateway writes, agent status
// changes and release transitions, gathered from pluggable feeds (the store's watch, the agent
// status source, NATS) and fanned out to the streams of that namespace. A feed is opened when a
// namespace gets its first stream and closed with its last, so an idle control API watches
// nothing. Events say *what* changed; clients read the resource for its state, so a lost or
// duplicated event costs one extra read, never a wrong screen.
import type { Logger } from '../runtime/log.js';
import { namespaceKey, type Namespace } from '../store/store.js';

export type ConsoleEvent =
  | {
      type: 'gateway';
      /** Null when the source knows only that something in the namespace changed. */
      gateway: string | null;
      version?: string | null;
      action?: 'put' | 'delete';
      by?: string;
      at: string;
      via: 'nats' | 'store';
    }
  | { type: 'agent'; agentId: string; health: 'ok' | 'degraded' | 'quiet' | 'gone'; at: string }
  | { type: 'release'; gateway: string; at: string; release: unknown };

export type EmitEvent = (ev: ConsoleEvent) => void;
export type CloseFeed = () => Promise<void> | void;

/** One source of events. `open` must not throw for a namespace the source knows nothing of. */
export interface EventFeed {
  readonly name: string;
  open(ns: Namespace, emit: EmitEvent): Promise<CloseFeed>;
}

interface Topic {
  listeners: Set<EmitEvent>;
  /** Resolves to the feeds' closers once they are open. */
  opened: Promise<CloseFeed[]>;
}

export class EventHub {
  private readonly topics = new Map<string, Topic>();
  private closed = false;

  constructor(
    private readonly feeds: readonly EventFeed[],
    private readonly log: Logger,
  ) {}

  /** Feeds' names, for the stream's hello event. */
  feedNames(): string[] {
    return this.feeds.map((f) => f.name);
  }

  /** Starts delivering the namespace's events to `listener`; the returned function stops it. */
  async subscribe(ns: Namespace, listener: EmitEvent): Promise<() => void> {
    if (this.closed) throw new Error('event hub closed');
    const key = namespaceKey(ns);
    let topic = this.topics.get(key);
    if (!topic) {
      const listeners = new Set<EmitEvent>();
      const emit: EmitEvent = (ev) => {
        for (const l of listeners) l(ev);
      };
      const opened = Promise.all(
        this.feeds.map(async (f) => {
          try {
            return await f.open(ns, emit);
          } catch (err) {
            this.log.warn({ err, feed: f.name, namespace: key }, 'event feed did not open; clients fall back to polling');
            return () => undefined;
          }
        }),
      );
      topic = { listeners, opened };
      this.topics.set(key, topic);
    }
    topic.listeners.add(listener);
    await topic.opened;
    const t = topic;
    return () => {
      if (!t.listeners.delete(listener) || t.listeners.size > 0) return;
      if (this.topics.get(key) === t) this.topics.delete(key);
      void closeAll(t, this.log);
    };
  }

  /** Streams currently open, per namespace (tests and metrics). */
  listenerCount(ns: Namespace): number {
    return this.topics.get(namespaceKey(ns))?.listeners.size ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.topics.values()];
    this.topics.clear();
    await Promise.all(all.map((t) => closeAll(t, this.log)));
  }
}

async function closeAll(t: Topic, log: Logger): Promise<void> {
  for (const close of await t.opened) {
    try {
      await close();
    } catch (err) {
      log.warn({ err }, 'closing an event feed failed');
    }
  }
}
