/**
 * One prompt-mode CLI session pinned to the HAProxy worker that accepted it. Unlike the runtime client's
 * CliConnection it never reconnects: after a reload the session stays on the old worker (HAProxy keeps a
 * stopping worker alive while a CLI session is open), which is how the old worker's last counters are read
 * before it exits. A closed session means that worker is gone, or that we let it go.
 */
import { connect, type Socket } from 'node:net';
import { RuntimeSocketError } from '../haproxy/errors.js';

const PROMPT = '\n> ';

export class WorkerSession {
  private sock: Socket | null = null;
  private buf = '';
  private waiters: Array<{ resolve: (s: string) => void; reject: (e: Error) => void }> = [];
  private closedErr: Error | null = null;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly address: string,
    private readonly replyTimeoutMs: number,
  ) {}

  /** Connects and enters prompt mode; rejects with RuntimeSocketError when nobody answers. */
  static open(address: string, opts: { connectTimeoutMs?: number; replyTimeoutMs?: number } = {}): Promise<WorkerSession> {
    const s = new WorkerSession(address, opts.replyTimeoutMs ?? 5000);
    return new Promise((resolve, reject) => {
      const sock = connect({ path: address });
      sock.setEncoding('utf8');
      let opened = false;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new RuntimeSocketError(address, `no prompt within ${opts.connectTimeoutMs ?? 2000} ms`));
      }, opts.connectTimeoutMs ?? 2000);
      sock.once('connect', () => sock.write('prompt\n'));
      sock.on('data', (chunk: string) => {
        s.buf += chunk;
        if (!opened) {
          // The first prompt is a bare "> " (no reply before it).
          const i = s.buf.indexOf('> ');
          if (i < 0) return;
          opened = true;
          clearTimeout(timer);
          s.buf = s.buf.slice(i + 2);
          s.sock = sock;
          resolve(s);
        }
        s.drain();
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (!opened) {
          clearTimeout(timer);
          reject(new RuntimeSocketError(address, `cannot connect (${err.code ?? err.message})`, { cause: err }));
        }
      });
      sock.on('close', () => {
        if (!opened) {
          clearTimeout(timer);
          reject(new RuntimeSocketError(address, 'connection closed before the first prompt'));
        }
        s.fail(new RuntimeSocketError(address, 'the worker closed the session'));
      });
    });
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  /** Sends the commands in one write; resolves with one reply per command. */
  send(commands: string[]): Promise<string[]> {
    if (this.closedErr || !this.sock) return Promise.reject(this.closedErr ?? new RuntimeSocketError(this.address, 'session not open'));
    const replies = commands.map(() => new Promise<string>((resolve, reject) => this.waiters.push({ resolve, reject })));
    this.arm();
    this.sock.write(commands.map((c) => `${c}\n`).join(''));
    return Promise.all(replies);
  }

  close(): void {
    this.fail(new RuntimeSocketError(this.address, 'session closed by the agent'));
  }

  private drain(): void {
    for (;;) {
      const i = this.buf.indexOf(PROMPT);
      if (i < 0) break;
      const reply = this.buf.slice(0, i + 1);
      this.buf = this.buf.slice(i + PROMPT.length);
      this.waiters.shift()?.resolve(reply);
    }
    if (this.waiters.length === 0) this.disarm();
    else this.arm();
  }

  private arm(): void {
    this.disarm();
    this.timer = setTimeout(() => this.fail(new RuntimeSocketError(this.address, `no reply within ${this.replyTimeoutMs} ms`)), this.replyTimeoutMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private fail(err: Error): void {
    if (this.closedErr) return;
    this.closedErr = err;
    this.disarm();
    this.sock?.destroy();
    this.sock = null;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
