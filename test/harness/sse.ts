// Reads a server-sent event stream over fetch() with a bearer token, as the console does.
import * as assert from 'uvu/assert';

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads an SSE stream until `until` says stop; returns the events. */
export async function readEvents(url: string, token: string, until: (evs: SseEvent[]) => boolean, onOpen?: () => Promise<void>): Promise<SseEvent[]> {
  const ctl = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buf = '';
  let opened = false;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
    }
    if (!opened && events.some((e) => e.event === 'hello')) {
      opened = true;
      await onOpen?.();
    }
    if (until(events)) break;
  }
  ctl.abort();
  return events;
}

