// `GET …/events` as server-sent events (text/event-stream). Each stream:
//   - starts with `retry:` and an `event: hello` naming the feeds behind it;
//   - carries `event: gateway|agent|release` with a JSON `data:` line and an increasing `id:`;
//   - sends a comment every `heartbeatMs` (15 s) so proxies keep it open, and re-checks the
//     token then: a revoked token ends the stream with `event: bye`;
//   - is dropped when the client stops reading (more than `maxBufferedBytes` queued), since the
//     client re-reads everything on reconnect anyway; and ends with `event: bye` on shutdown.
// There is no replay (Last-Event-ID): events only say what to re-read.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { namespaceKey, type Namespace } from '../store/store.js';
import { ApiError } from './errors.js';
import type { ConsoleEvent, EventHub } from './event-hub.js';

export interface EventStreamOptions {
  heartbeatMs?: number;
  maxStreams?: number;
  maxBufferedBytes?: number;
  registry?: Registry;
}

interface Open {
  end(reason: string): void;
}

export class EventStreams {
  private readonly open = new Set<Open>();
  private readonly heartbeatMs: number;
  private readonly maxStreams: number;
  private readonly maxBuffered: number;
  private readonly gauge: Gauge;

  constructor(
    private readonly hub: EventHub,
    opts: EventStreamOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.maxStreams = opts.maxStreams ?? 1000;
    this.maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
    this.gauge = new Gauge({ name: 'weir_control_event_streams', help: 'Open GET …/events streams.', registers: opts.registry ? [opts.registry] : [] });
  }

  /**
   * Takes the response over and streams until the client leaves, the token stops being valid
   * (`stillAllowed`, checked every heartbeat) or `closeAll`.
   */
  async serve(req: FastifyRequest, reply: FastifyReply, ns: Namespace, stillAllowed: () => Promise<boolean>): Promise<void> {
    if (this.open.size >= this.maxStreams) throw new ApiError(503, 'too_many_streams', `this control API serves at most ${this.maxStreams} event streams; poll the resources instead`, undefined, { 'retry-after': '10' });
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-request-id': req.id,
      connection: 'keep-alive',
    });
    let seq = 0;
    let ended = false;
    const write = (chunk: string): void => {
      if (ended) return;
      res.write(chunk);
      if (res.writableLength > this.maxBuffered) stream.end('slow_reader');
    };
    const send = (event: string, data: unknown): void => write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let unsubscribe: (() => void) | undefined;
    let checking = false;
    const timer = setInterval(() => {
      write(': ping\n\n');
      if (checking) return;
      checking = true;
      stillAllowed().then(
        (ok) => {
          checking = false;
          if (!ok) stream.end('token_revoked');
        },
        () => (checking = false),
      );
    }, this.heartbeatMs);
    timer.unref();
    const stream: Open = {
      end: (reason) => {
        if (ended) return;
        send('bye', { reason });
        ended = true;
        clearInterval(timer);
        unsubscribe?.();
        this.open.delete(stream);
        this.gauge.set(this.open.size);
        res.end();
      },
    };
    this.open.add(stream);
    this.gauge.set(this.open.size);
    res.on('close', () => {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      unsubscribe?.();
      this.open.delete(stream);
      this.gauge.set(this.open.size);
    });
    write(`retry: 2000\n\n`);
    send('hello', { namespace: namespaceKey(ns), feeds: this.hub.feedNames(), heartbeat_s: this.heartbeatMs / 1000 });
    let off: () => void;
    try {
      off = await this.hub.subscribe(ns, (ev: ConsoleEvent) => send(ev.type, ev));
    } catch {
      stream.end('shutdown'); // the hub closed while this stream was opening
      return;
    }
    if (ended) off();
    else unsubscribe = off;
  }

  /** Ends every stream with `event: bye` (server shutdown). */
  closeAll(reason = 'shutdown'): void {
    for (const s of [...this.open]) s.end(reason);
  }
}
