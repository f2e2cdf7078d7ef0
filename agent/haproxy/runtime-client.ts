import type { Logger } from '../../runtime/log.js';
import { CliConnection, type CliAddress, type CliCommand } from './cli-connection.js';
import { RuntimeCommandError } from './errors.js';
import { replyError } from './runtime-replies.js';
import { parseShowInfo, parseShowStat, type StatRecord } from './stat-parse.js';

export type { CliCommand } from './cli-connection.js';

export interface RuntimeClientOptions {
  /** The admin stats socket: a unix path, or `host:port`. */
  socket: CliAddress;
  connectTimeoutMs?: number;
  /** Per reply; in a batch the timer restarts after every reply. */
  timeoutMs?: number;
  /** Max payload bytes per `add map` command; HAProxy rejects payloads larger than its buffer (tune.bufsize, 16 KB). */
  mapChunkBytes?: number;
  logger?: Logger;
}

export interface BatchResult {
  command: string;
  ok: boolean;
  /** Reply text without the prompt and payload echo. */
  reply: string;
  /** Set when `ok` is false: HAProxy's error text. */
  error?: string;
}

export type ServerAdminState = 'ready' | 'drain' | 'maint';

/** Client for HAProxy's runtime API (the `stats socket ... level admin`), on one prompt-mode session. */
export class RuntimeClient {
  private readonly conn: CliConnection;
  private readonly chunkBytes: number;

  constructor(opts: RuntimeClientOptions) {
    this.conn = new CliConnection({
      address: opts.socket,
      connectTimeoutMs: opts.connectTimeoutMs,
      replyTimeoutMs: opts.timeoutMs,
      logger: opts.logger,
    });
    this.chunkBytes = opts.mapChunkBytes ?? 8192;
  }

  get socket(): CliAddress {
    return this.conn.address;
  }

  /** Runs one command; throws RuntimeCommandError if HAProxy's reply is an error. */
  async execute(cmd: string, payload?: string[]): Promise<string> {
    const [r] = await this.batch([payload ? { command: cmd, payload } : cmd]);
    if (!r) throw new Error('unreachable: batch returned no result');
    if (!r.ok) throw new RuntimeCommandError(r.command, r.error ?? r.reply);
    return r.reply;
  }

  /** Pipelines all commands in one write; command errors are reported per command, socket errors throw. */
  async batch(cmds: Array<string | CliCommand>): Promise<BatchResult[]> {
    const list = cmds.map((c) => (typeof c === 'string' ? { command: c } : c));
    const replies = await this.conn.send(list);
    return list.map((c, i) => toResult(c, replies[i] ?? ''));
  }

  /** Like batch() but throws the first command error. */
  async batchOrThrow(cmds: Array<string | CliCommand>): Promise<BatchResult[]> {
    const results = await this.batch(cmds);
    const bad = results.find((r) => !r.ok);
    if (bad) throw new RuntimeCommandError(bad.command, bad.error ?? bad.reply);
    return results;
  }

  /** Starts a new (empty) version of a map; returns the version for `add map @ver` / `commit map @ver`. */
  async prepareMap(mapPath: string): Promise<number> {
    const reply = await this.execute(`prepare map ${mapPath}`);
    const m = /New version created: (\d+)/.exec(reply);
    if (!m?.[1]) throw new RuntimeCommandError(`prepare map ${mapPath}`, reply);
    return Number(m[1]);
  }

  /** Replaces a whole map atomically: prepare, add the entries to the new version, commit. */
  async replaceMap(mapPath: string, entries: Array<[string, string]>): Promise<void> {
    const version = await this.prepareMap(mapPath);
    const lines = entries.map(([k, v]) => {
      if (/\s/.test(k) || k === '' || v.includes('\n')) throw new TypeError(`map key must be non-empty without whitespace, value single-line: ${JSON.stringify([k, v])}`);
      return `${k} ${v}`;
    });
    const cmds: CliCommand[] = chunkLines(lines, this.chunkBytes).map((payload) => ({ command: `add map @${version} ${mapPath}`, payload }));
    cmds.push({ command: `commit map @${version} ${mapPath}` });
    // On failure the prepared version is left uncommitted; HAProxy drops it at the next prepare/commit.
    await this.batchOrThrow(cmds);
  }

  async setServerAddr(backend: string, server: string, ip: string, port?: number): Promise<string> {
    return this.execute(`set server ${backend}/${server} addr ${ip}${port === undefined ? '' : ` port ${port}`}`);
  }

  async setServerState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    await this.execute(`set server ${backend}/${server} state ${state}`);
  }

  /** `weight` is absolute (0–256) or a percentage string like `"50%"` of the initial weight. */
  async setServerWeight(backend: string, server: string, weight: number | `${number}%`): Promise<void> {
    await this.execute(`set server ${backend}/${server} weight ${weight}`);
  }

  /** Raw `show servers state` text (parse with state-file.ts). */
  async showServersState(backend?: string): Promise<string> {
    return `${await this.execute(backend ? `show servers state ${backend}` : 'show servers state')}\n`;
  }

  async showStat(): Promise<StatRecord[]> {
    return parseShowStat(await this.execute('show stat'));
  }

  async showInfo(): Promise<Record<string, string>> {
    return parseShowInfo(await this.execute('show info'));
  }

  close(): void {
    this.conn.close();
  }
}

function toResult(c: CliCommand, raw: string): BatchResult {
  // Prompt mode echoes "+ " for each payload line before the reply.
  const reply = (c.payload ? raw.replace(/^(?:\+ )+(?:\n)?/, '') : raw).replace(/\n+$/, '');
  const error = replyError(c.command, reply);
  return error === null ? { command: c.command, ok: true, reply } : { command: c.command, ok: false, reply, error };
}

function chunkLines(lines: string[], maxBytes: number): string[][] {
  const chunks: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const line of lines) {
    const n = Buffer.byteLength(line) + 1;
    if (cur.length > 0 && size + n > maxBytes) {
      chunks.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(line);
    size += n;
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}
