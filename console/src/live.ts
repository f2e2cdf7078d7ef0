// The namespace's event stream, read with fetch() (EventSource cannot send a bearer token) and
// parsed with eventsource-parser. Reconnects with backoff; while it is down the screens poll
// (with ETags), and after a reconnect they re-read everything, since events are not replayed.
import { createParser } from 'eventsource-parser';
import type { Api } from './api';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface LiveEvent {
  type: 'gateway' | 'agent' | 'release' | 'hello' | 'bye';
  data: Record<string, unknown>;
}

export interface LiveOptions {
  api: Api;
  path: string;
  onEvent: (ev: LiveEvent) => void;
  onState: (s: LiveState, detail: string) => void;
}

/** Runs until the returned function is called. */
export function openLive(o: LiveOptions): () => void {
  const ctl = new AbortController();
  let attempt = 0;
  let stopped = false;
  let refused = '';
  const run = async (): Promise<void> => {
    while (!stopped) {
      if (!refused) o.onState(attempt === 0 ? 'connecting' : 'reconnecting', attempt === 0 ? '' : `attempt ${attempt + 1}`);
      try {
        const res = await fetch(o.api.url(o.path), { headers: o.api.headers({ accept: 'text/event-stream' }), cache: 'no-store', signal: ctl.signal });
        if (!res.ok || !res.body) {
          // 401/403 will not get better by retrying soon: say so and back off long.
          refused = `event stream refused: HTTP ${res.status}`;
          o.onState('offline', refused);
          attempt = Math.max(attempt, 4);
        } else {
          const parser = createParser({
            onEvent: (m) => {
              if (!m.event) return;
              if (m.event === 'hello') {
                attempt = 0;
                refused = '';
                o.onState('live', '');
              }
              try {
                o.onEvent({ type: m.event as LiveEvent['type'], data: JSON.parse(m.data) as Record<string, unknown> });
              } catch {
                // a malformed event only costs its refresh; polling covers it
              }
            },
          });
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.feed(value);
          }
        }
      } catch (err) {
        if (stopped) return;
        if (!refused) o.onState('reconnecting', (err as Error).message);
      }
      if (stopped) return;
      attempt += 1;
      if (!refused) o.onState('reconnecting', 'stream ended');
      const wait = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)) * (0.8 + Math.random() * 0.4);
      await new Promise((r) => setTimeout(r, wait));
    }
  };
  void run();
  return () => {
    stopped = true;
    ctl.abort();
  };
}
