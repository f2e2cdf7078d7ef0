// One long-lived NATS connection for the event side (agent link, control publisher, status
// source). Same style as the NATS KV store: connect in the background, retry the first connect
// forever, then let the client reconnect forever. Listeners hear "up" on the first connect and
// after every reconnect (so they can catch up on what they may have missed) and "down" on a
// disconnect. Core subscriptions survive reconnects: the client re-sends SUB on its own.
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, Events, type NatsConnection } from 'nats';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
// URL parsing lives in nats-servers.ts, which does not load the NATS client.
import { NatsUrlError, redactNatsUrl } from './nats-servers.js';
export { NatsUrlError, parseNatsServers, redactNatsUrl } from './nats-servers.js';

export interface NatsConnectorOptions {
  /** nats:// or tls:// URLs; credentials in a URL are accepted and never logged. */
  servers: string[];
  /** Connection name shown by the server (`nats server report connections`). */
  name: string;
  token?: string;
  /** A .creds file for decentralised auth. */
  credsFile?: string;
  logger?: Logger;
  /** Delay between first-connect attempts and the client's reconnect wait. */
  retryMs?: number;
  /** Connect timeout. */
  timeoutMs?: number;
}

export type NatsUpListener = (nc: NatsConnection, reason: 'connected' | 'reconnected') => void;
export type NatsDownListener = () => void;

export class NatsConnector {
  readonly location: string;
  private readonly log: Logger;
  private readonly retryMs: number;
  private nc: NatsConnection | undefined;
  private connected = false;
  private closed = false;
  private started = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly ups = new Set<NatsUpListener>();
  private readonly downs = new Set<NatsDownListener>();

  constructor(private readonly opts: NatsConnectorOptions) {
    if (opts.servers.length === 0) throw new NatsUrlError('no NATS server URLs given');
    this.location = opts.servers.map(redactNatsUrl).join(',');
    this.log = opts.logger ?? silentLogger();
    this.retryMs = opts.retryMs ?? 2000;
  }

  /** Starts connecting in the background; returns at once. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.attempt();
  }

  /** The connection while it is up; undefined while connecting or reconnecting. */
  current(): NatsConnection | undefined {
    return this.connected ? this.nc : undefined;
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Called on the first connect and after every reconnect (at once if already connected). */
  onUp(l: NatsUpListener): () => void {
    this.ups.add(l);
    if (this.connected && this.nc) l(this.nc, 'connected');
    return () => this.ups.delete(l);
  }

  onDown(l: NatsDownListener): () => void {
    this.downs.add(l);
    return () => this.downs.delete(l);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.connected = false;
    const nc = this.nc;
    this.nc = undefined;
    if (nc && !nc.isClosed()) {
      // drain() would wait for a server that may be gone; flush best-effort, then close.
      await nc.close().catch(() => undefined);
    }
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    try {
      const nc = await connect({
        servers: this.opts.servers,
        name: this.opts.name,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: Math.min(this.retryMs, 2000),
        timeout: this.opts.timeoutMs ?? 5000,
        ...(this.opts.token ? { token: this.opts.token } : {}),
        ...(this.opts.credsFile ? { authenticator: credsAuthenticator(readFileSync(this.opts.credsFile)) } : {}),
      });
      if (this.closed) {
        await nc.close();
        return;
      }
      this.nc = nc;
      this.connected = true;
      this.log.info({ nats: this.location, server: nc.getServer() }, 'nats connected');
      void this.follow(nc);
      this.emitUp(nc, 'connected');
    } catch (err) {
      this.log.warn({ err: natsErrText(err), nats: this.location }, 'nats cannot connect; retrying');
      this.retryTimer = setTimeout(() => void this.attempt(), this.retryMs);
      this.retryTimer.unref();
    }
  }

  private async follow(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        if (!this.connected) continue;
        this.connected = false;
        this.log.warn({ nats: this.location }, 'nats disconnected; reconnecting');
        for (const l of this.downs) safe(() => l(), this.log);
      } else if (s.type === Events.Reconnect) {
        this.connected = true;
        this.log.info({ nats: this.location, server: String(s.data) }, 'nats reconnected');
        this.emitUp(nc, 'reconnected');
      }
    }
    // The status iterator ends when the connection closes for good (only on close()).
    this.connected = false;
  }

  private emitUp(nc: NatsConnection, reason: 'connected' | 'reconnected'): void {
    for (const l of this.ups) safe(() => l(nc, reason), this.log);
  }
}

function safe(fn: () => void, log: Logger): void {
  try {
    fn();
  } catch (err) {
    log.error({ err: natsErrText(err) }, 'nats listener failed');
  }
}

export function natsErrText(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  return [e?.code, e?.message].filter(Boolean).join(' ') || String(err);
}

/** Reads NATS_TOKEN / NATS_CREDS like the NATS store does. */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv): { token?: string; credsFile?: string } {
  return {
    ...(env.NATS_TOKEN ? { token: env.NATS_TOKEN } : {}),
    ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}),
  };
}


