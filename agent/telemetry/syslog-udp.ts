import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';

export class SyslogReceiverError extends Error {
  override name = 'SyslogReceiverError';
}

export interface SyslogUdpOptions {
  /** Loopback only unless `allowNonLoopback`: HAProxy logs to the local agent, and syslog/UDP has no auth. */
  host?: string;
  /** 0 picks a free port (see `address()`). */
  port: number;
  /** SO_RCVBUF; bursts are absorbed here because UDP has no backpressure. Default 8 MiB (the kernel may cap it at rmem_max). */
  receiveBufferBytes?: number;
  allowNonLoopback?: boolean;
  /**
   * Gets each line. Returns false when it could not take the line (e.g. its queue is full); the receiver then
   * counts it as dropped. UDP cannot push back, so dropping-and-counting is the honest option.
   */
  sink: LineSink;
  logger?: Logger;
}

/**
 * Where received lines go: a function of the decoded line, or `{ bytes }`, called with the received bytes
 * and the line's range in them (valid only during the call), which saves decoding a line the sink reads as
 * bytes anyway.
 */
export type LineSink = ((line: string) => boolean | void) | { bytes: (buf: Buffer, start: number, end: number) => boolean | void };

export interface SyslogUdpStats {
  datagrams: number;
  bytes: number;
  dropped: number;
}

export interface SyslogUdpReceiver {
  address(): { host: string; port: number };
  stats(): SyslogUdpStats;
  close(): Promise<void>;
}

const isLoopback = (host: string): boolean => host === '::1' || host.startsWith('127.') || host === 'localhost';

export async function startSyslogUdp(opts: SyslogUdpOptions): Promise<SyslogUdpReceiver> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.logger ?? silentLogger();
  if (!opts.allowNonLoopback && !isLoopback(host)) {
    throw new SyslogReceiverError(`syslog UDP receiver: refusing to bind non-loopback address ${host} (set allowNonLoopback)`);
  }
  const family = isIP(host) === 6 || host === '::1' ? 'udp6' : 'udp4';
  const socket: Socket = createSocket({ type: family, recvBufferSize: opts.receiveBufferBytes ?? 8 * 1024 * 1024 });
  const stats: SyslogUdpStats = { datagrams: 0, bytes: 0, dropped: 0 };
  const sink = opts.sink;
  const deliver = typeof sink === 'function' ? (msg: Buffer, end: number) => sink(msg.toString('utf8', 0, end)) : (msg: Buffer, end: number) => sink.bytes(msg, 0, end);

  socket.on('message', (msg) => {
    stats.datagrams += 1;
    stats.bytes += msg.length;
    // One syslog message per datagram (RFC 5426); strip the trailing newline/NUL some senders add.
    let end = msg.length;
    while (end > 0 && (msg[end - 1] === 10 || msg[end - 1] === 13 || msg[end - 1] === 0)) end -= 1;
    let taken: boolean | void;
    try {
      taken = deliver(msg, end);
    } catch (err) {
      taken = false;
      log.error({ err }, 'syslog UDP sink threw; line dropped');
    }
    if (taken === false) stats.dropped += 1;
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(new SyslogReceiverError(`syslog UDP receiver: cannot bind ${host}:${opts.port}: ${err.message}`));
    };
    socket.once('error', onError);
    socket.bind(opts.port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  socket.on('error', (err) => log.error({ err }, 'syslog UDP receiver socket error'));
  const bound = socket.address();
  log.info({ host: bound.address, port: bound.port, rcvbuf: socket.getRecvBufferSize() }, 'syslog UDP receiver listening');

  return {
    address: () => ({ host: bound.address, port: bound.port }),
    stats: () => ({ ...stats }),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
