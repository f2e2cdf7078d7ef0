/**
 * Syslog over TCP for HAProxy's `ring` forwarding (`server ... log-proto octet-count`).
 *
 * Framing (RFC 6587): octet counting, `MSG-LEN SP SYSLOG-MSG`, and also the non-transparent framing HAProxy
 * calls `legacy` (one message per LF-terminated line). A frame that starts with a digit is octet-counted (a
 * syslog message itself starts with `<`), anything else runs to the next LF. Frames above `maxFrameBytes`
 * are skipped whole and reported through `onOversized`; they never end the connection.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import { MAX_LINE_BYTES } from './log-record.js';
import type { LineSink } from './syslog-udp.js';

export class SyslogTcpError extends Error {
  override name = 'SyslogTcpError';
}

export interface SyslogTcpOptions {
  host?: string;
  port: number;
  maxFrameBytes?: number;
  /** Same contract as the UDP receiver's sink: false = not taken (counted as dropped). */
  sink: LineSink;
  onOversized?: () => void;
  logger?: Logger;
}

export interface SyslogTcpStats {
  connections: number;
  frames: number;
  bytes: number;
  dropped: number;
  oversized: number;
}

export interface SyslogTcpReceiver {
  address(): { host: string; port: number };
  stats(): SyslogTcpStats;
  close(): Promise<void>;
}

/** Incremental RFC 6587 frame decoder (one per connection). */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes still to discard of an oversized frame. -1: discard up to the next LF (oversized LF frame). */
  private skip = 0;

  constructor(
    private readonly maxFrame: number,
    /** A frame's range in `buf` (trailing CR/LF/NUL cut), valid only during the call. */
    private readonly onFrame: (buf: Buffer, start: number, end: number) => void,
    private readonly onOversized: () => void,
  ) {}

  push(chunk: Buffer): void {
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - pos);
        this.skip -= n;
        pos += n;
        if (this.skip > 0) break;
      }
      if (this.skip === -1) {
        const nl = data.indexOf(10, pos);
        if (nl < 0) {
          pos = data.length;
          break;
        }
        this.skip = 0;
        pos = nl + 1;
      }
      // Stray separators between frames.
      while (pos < data.length && (data[pos] === 10 || data[pos] === 13 || data[pos] === 0)) pos += 1;
      if (pos >= data.length) break;
      const c = data[pos]!;
      if (c >= 48 && c <= 57) {
        const sp = data.indexOf(32, pos);
        if (sp < 0) {
          if (data.length - pos > 10) {
            // Ten digits and no space: not a length. Resynchronise at the next LF.
            this.onOversized();
            this.skip = -1;
            continue;
          }
          break;
        }
        const len = Number(data.toString('latin1', pos, sp));
        if (!Number.isSafeInteger(len) || sp - pos > 10) {
          this.onOversized();
          this.skip = -1;
          continue;
        }
        if (len > this.maxFrame) {
          this.onOversized();
          pos = sp + 1;
          this.skip = len;
          continue;
        }
        if (data.length < sp + 1 + len) break;
        this.emit(data, sp + 1, sp + 1 + len);
        pos = sp + 1 + len;
      } else {
        const nl = data.indexOf(10, pos);
        if (nl < 0) {
          if (data.length - pos > this.maxFrame) {
            this.onOversized();
            this.skip = -1;
            pos = data.length;
          }
          break;
        }
        if (nl - pos > this.maxFrame) this.onOversized();
        else this.emit(data, pos, nl);
        pos = nl + 1;
      }
    }
    // Keep only the unfinished frame (copied, so the big chunk it came from can be freed).
    this.buf = pos >= data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(pos));
    data = Buffer.alloc(0);
  }

  private emit(data: Buffer, start: number, end: number): void {
    while (end > start && (data[end - 1] === 10 || data[end - 1] === 13 || data[end - 1] === 0)) end -= 1;
    if (end > start) this.onFrame(data, start, end);
  }
}

const isLoopback = (host: string): boolean => host === '::1' || host.startsWith('127.') || host === 'localhost';

export async function startSyslogTcp(opts: SyslogTcpOptions): Promise<SyslogTcpReceiver> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new SyslogTcpError(`syslog TCP receiver: refusing to bind non-loopback address ${host}`);
  const log = opts.logger ?? silentLogger();
  const maxFrame = opts.maxFrameBytes ?? MAX_LINE_BYTES;
  const stats: SyslogTcpStats = { connections: 0, frames: 0, bytes: 0, dropped: 0, oversized: 0 };
  const sockets = new Set<Socket>();
  const sink = opts.sink;
  const deliver = typeof sink === 'function' ? (b: Buffer, s: number, e: number) => sink(b.toString('utf8', s, e)) : sink.bytes;
  const server: Server = createServer((sock) => {
    stats.connections += 1;
    sockets.add(sock);
    const decoder = new FrameDecoder(
      maxFrame,
      (buf, start, end) => {
        stats.frames += 1;
        let taken: boolean | void;
        try {
          taken = deliver(buf, start, end);
        } catch (err) {
          taken = false;
          log.error({ err }, 'syslog TCP sink threw; line dropped');
        }
        if (taken === false) stats.dropped += 1;
      },
      () => {
        stats.oversized += 1;
        opts.onOversized?.();
      },
    );
    sock.on('data', (chunk: Buffer) => {
      stats.bytes += chunk.length;
      decoder.push(chunk);
    });
    sock.on('error', (err) => log.debug({ err: err.message }, 'syslog TCP connection error'));
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new SyslogTcpError(`syslog TCP receiver: cannot listen on ${host}:${opts.port}: ${err.message}`)));
    server.listen(opts.port, host, () => resolve());
  });
  const a = server.address();
  const bound = a && typeof a === 'object' ? { host: a.address, port: a.port } : { host, port: opts.port };
  log.info(bound, 'syslog TCP receiver listening');
  return {
    address: () => bound,
    stats: () => ({ ...stats }),
    close: () =>
      new Promise<void>((resolve) => {
        // [edge] Half-close first: HAProxy stops sending when it sees our FIN and keeps the rest
        // in its ring for the next receiver; what it wrote before still arrives and is read here.
        // Destroying at once lost the lines in flight (bench/drills/es-down.ts: 1 per restart).
        const gone = [...sockets].map((s) => new Promise<void>((r) => {
          s.once('close', () => r());
          s.end();
          setTimeout(() => s.destroy(), 500).unref();
        }));
        server.close();
        void Promise.all(gone).then(() => resolve());
      }),
  };
}
