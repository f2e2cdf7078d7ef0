import { connect, type Socket } from 'node:net';
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import { RuntimeSocketError } from './errors.js';

/** A CLI socket address: a unix socket path, or `host:port` for a TCP stats socket. */
export type CliAddress = string;

export interface CliConnectionOptions {
  /** Unix socket path or `host:port`. */
  address: CliAddress;
  /** How long to wait for the connection and the first prompt. */
  connectTimeoutMs?: number;
  /** How long to wait for each reply (the timer restarts after every reply in a pipeline). */
  replyTimeoutMs?: number;
  logger?: Logger;
}

/** A command as written to the socket; `payload` lines follow `<<` and end with an empty line. */
export interface CliCommand {
  command: string;
  payload?: string[];
}

interface Pending {
  resolve: (reply: string) => void;
  reject: (err: Error) => void;
  gotData: boolean;
}

// Prompt mode ends every reply with "\n> " (stats socket) or "master> " / "master[ReloadFailed]> "
// (master CLI). The first reply line never starts with "> ", so this framing is unambiguous.
const PROMPT = /(?:^|\n)(?:master(?:\[[^\]\n]*\])?)?> /;

/**
 * One persistent prompt-mode session on an HAProxy CLI socket. Commands are pipelined and replies
 * paired in order. If HAProxy closed the connection (idle timeout, reload), the next call reconnects.
 */
export class CliConnection {
  readonly address: CliAddress;
  private readonly connectTimeoutMs: number;
  private readonly replyTimeoutMs: number;
  private readonly log: Logger;
  private sock: Socket | null = null;
  private ready: Promise<Socket> | null = null;
  private buf = '';
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Last prompt seen; the master shows `master[ReloadFailed]> ` after a failed reload. */
  lastPrompt = '';

  constructor(opts: CliConnectionOptions) {
    this.address = opts.address;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 10_000;
    this.log = opts.logger ?? silentLogger();
  }

  /** Sends the commands in one write and resolves with their raw replies, in order. */
  async send(cmds: CliCommand[]): Promise<string[]> {
    if (cmds.length === 0) return [];
    const wire = cmds.map(encode).join('');
    let reused = this.sock !== null;
    for (;;) {
      const sock = await this.open();
      const replies = cmds.map(() => this.expect());
      this.armTimer();
      sock.write(wire);
      try {
        return await Promise.all(replies);
      } catch (err) {
        // HAProxy closes idle sessions; if a reused session died before any reply byte arrived,
        // HAProxy never read the commands, so sending them again on a fresh session is safe.
        const untouched = this.lastFailureUntouched;
        if (reused && untouched && err instanceof RuntimeSocketError && err.reason.startsWith('connection closed')) {
          this.log.debug({ socket: this.address }, 'CLI session was closed by HAProxy; reconnecting');
          reused = false;
          continue;
        }
        throw err;
      }
    }
  }

  /** Closes the session; pending commands fail. */
  close(): void {
    this.fail(new RuntimeSocketError(this.address, 'connection closed by the client'));
    this.sock?.destroy();
    this.sock = null;
    this.ready = null;
  }

  private lastFailureUntouched = false;

  private expect(): Promise<string> {
    return new Promise<string>((resolve, reject) => this.pending.push({ resolve, reject, gotData: false }));
  }

  private open(): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    if (this.ready) return this.ready;
    this.ready = new Promise<Socket>((resolve, reject) => {
      const sock = connect(toConnectTarget(this.address));
      sock.setEncoding('utf8');
      let opened = false;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new RuntimeSocketError(this.address, `no answer within ${this.connectTimeoutMs} ms (is HAProxy running?)`));
      }, this.connectTimeoutMs);
      sock.once('connect', () => sock.write('prompt\n'));
      sock.on('data', (chunk: string) => {
        if (!opened) {
          this.buf += chunk;
          const m = PROMPT.exec(this.buf);
          if (!m) return;
          opened = true;
          clearTimeout(timer);
          this.lastPrompt = m[0].replace(/^\n/, '');
          this.buf = this.buf.slice(m.index + m[0].length);
          this.sock = sock;
          this.ready = null;
          resolve(sock);
          return;
        }
        this.onData(chunk);
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (!opened) {
          clearTimeout(timer);
          this.ready = null;
          reject(new RuntimeSocketError(this.address, `cannot connect (${err.code ?? err.message}); is HAProxy running and the socket path right?`, { cause: err }));
        }
      });
      sock.on('close', () => {
        if (!opened) {
          clearTimeout(timer);
          this.ready = null;
          reject(new RuntimeSocketError(this.address, 'connection closed before the first prompt'));
          return;
        }
        if (this.sock === sock) {
          this.sock = null;
          this.buf = '';
          this.fail(new RuntimeSocketError(this.address, 'connection closed by HAProxy before the reply ended'));
        }
      });
      this.buf = '';
    });
    return this.ready;
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    const head = this.pending[0];
    if (head) head.gotData = true;
    for (;;) {
      const m = PROMPT.exec(this.buf);
      if (!m) return;
      const reply = this.buf.slice(0, m.index);
      this.lastPrompt = m[0].replace(/^\n/, '');
      this.buf = this.buf.slice(m.index + m[0].length);
      const p = this.pending.shift();
      if (this.pending[0] && this.buf.length > 0) this.pending[0].gotData = true;
      if (p) p.resolve(reply);
      if (this.pending.length === 0) this.clearTimer();
      else this.armTimer();
    }
  }

  private fail(err: RuntimeSocketError): void {
    this.clearTimer();
    const all = this.pending;
    this.pending = [];
    this.lastFailureUntouched = all.length > 0 && all.every((p) => !p.gotData);
    for (const p of all) p.reject(err);
  }

  private armTimer(): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      const err = new RuntimeSocketError(this.address, `no reply within ${this.replyTimeoutMs} ms`);
      this.sock?.destroy();
      this.sock = null;
      this.fail(err);
    }, this.replyTimeoutMs);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Sends one command on a fresh connection without prompt mode and returns all HAProxy wrote until it closed. */
export function sendOnce(address: CliAddress, command: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(toConnectTarget(address));
    let data = '';
    sock.setEncoding('utf8');
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new RuntimeSocketError(address, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => sock.write(`${command}\n`));
    sock.on('data', (d: string) => (data += d));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new RuntimeSocketError(address, `cannot connect (${err.code ?? err.message})`, { cause: err }));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

function encode(c: CliCommand): string {
  if (c.command.includes('\n')) throw new TypeError(`CLI command must be a single line: ${JSON.stringify(c.command)}`);
  if (!c.payload) return `${c.command}\n`;
  for (const line of c.payload) {
    // An empty line ends the payload early and the rest would run as commands.
    if (line === '' || line.includes('\n')) throw new TypeError(`CLI payload lines must be non-empty single lines: ${JSON.stringify(line)}`);
  }
  return `${c.command} <<\n${c.payload.join('\n')}\n\n`;
}

function toConnectTarget(address: CliAddress): { path: string } | { host: string; port: number } {
  const m = /^(?:tcp@)?(\[[^\]]+\]|[^/:][^:]*):(\d+)$/.exec(address);
  if (m && m[1] && m[2] && !address.startsWith('/')) return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  return { path: address.replace(/^unix@/, '') };
}
