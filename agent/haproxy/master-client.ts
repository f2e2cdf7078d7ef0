import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import { CliConnection, sendOnce, type CliAddress } from './cli-connection.js';
import { ReloadFailedError, RuntimeCommandError, RuntimeSocketError } from './errors.js';
import { parseShowProc, type ProcInfo } from './proc-parse.js';
import { replyError } from './runtime-replies.js';

export type { ProcInfo, MasterProc, WorkerProc, ProgramProc } from './proc-parse.js';

export interface MasterClientOptions {
  /** The master CLI socket (`-S <path>`), unix path or `host:port`. */
  socket: CliAddress;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  logger?: Logger;
  /** Supplies HAProxy's recent stderr lines for ReloadFailedError (HaproxyProcess.recentStderr). */
  stderrTail?: () => string[];
}

export interface ReloadOptions {
  /** Give up waiting for the new worker after this long (default 30 s). */
  timeoutMs?: number;
  /** `show proc` poll interval while waiting (default 50 ms). */
  pollMs?: number;
}

export interface ReloadOutcome {
  newWorkerPid: number;
  durationMs: number;
}

/** Client for the master CLI (master-worker mode, `-S`). */
export class MasterClient {
  private readonly conn: CliConnection;
  private readonly log: Logger;
  private readonly stderrTail: () => string[];

  constructor(private readonly opts: MasterClientOptions) {
    this.conn = new CliConnection({
      address: opts.socket,
      connectTimeoutMs: opts.connectTimeoutMs,
      replyTimeoutMs: opts.timeoutMs,
      logger: opts.logger,
    });
    this.log = opts.logger ?? silentLogger();
    this.stderrTail = opts.stderrTail ?? (() => []);
  }

  async showProc(): Promise<ProcInfo> {
    const [reply] = await this.conn.send([{ command: 'show proc' }]);
    return parseShowProc(reply ?? '');
  }

  /** True if the last prompt was `master[ReloadFailed]> `. */
  get reloadFailedPrompt(): boolean {
    return this.conn.lastPrompt.includes('ReloadFailed');
  }

  /** Runs a runtime-API command in the current worker (`@1 <cmd>`). */
  async workerCommand(cmd: string): Promise<string> {
    const full = `@1 ${cmd}`;
    const [raw] = await this.conn.send([{ command: full }]);
    const reply = (raw ?? '').replace(/\n+$/, '');
    const err = replyError(full, reply);
    if (err !== null) throw new RuntimeCommandError(full, err);
    return reply;
  }

  /**
   * Reloads via the master CLI and waits for the outcome. 2.6 answers `reload` with nothing and the
   * master re-executes, so success is observed in `show proc`: the master's reload counter moved on,
   * and a worker PID not seen before is running with `[failed: 0]`.
   */
  async reload(opts: ReloadOptions = {}): Promise<ReloadOutcome> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const pollMs = opts.pollMs ?? 50;
    const started = Date.now();
    const before = await this.showProc();
    const oldPids = new Set([...before.workers, ...before.oldWorkers].map((w) => w.pid));
    // The session dies with the re-exec; a fresh one-shot connection keeps the persistent one clean.
    this.conn.close();
    await sendOnce(this.opts.socket, 'reload', this.opts.connectTimeoutMs ?? 3000);
    this.log.info({ oldWorkers: [...oldPids] }, 'HAProxy reload requested');
    let lastErr: unknown = null;
    while (Date.now() - started < timeoutMs) {
      await new Promise((r) => setTimeout(r, pollMs));
      let now: ProcInfo;
      try {
        now = await this.showProc();
      } catch (err) {
        // Unreachable while the master re-executes.
        if (err instanceof RuntimeSocketError) {
          lastErr = err;
          continue;
        }
        throw err;
      }
      if (now.master.reloads <= before.master.reloads) continue;
      const fresh = now.workers.find((w) => !oldPids.has(w.pid));
      if (fresh && now.master.failedReloads === 0) {
        const durationMs = Date.now() - started;
        this.log.info({ newWorkerPid: fresh.pid, durationMs }, 'HAProxy reload succeeded');
        return { newWorkerPid: fresh.pid, durationMs };
      }
      if (now.master.failedReloads > 0 || this.reloadFailedPrompt) {
        throw new ReloadFailedError(`show proc reports ${now.master.failedReloads} failed reload(s) and no new worker`, this.stderrTail().slice(-10));
      }
    }
    const why = lastErr instanceof Error ? `; last error: ${lastErr.message}` : '';
    throw new ReloadFailedError(`no new worker within ${timeoutMs} ms${why}`, this.stderrTail().slice(-10));
  }

  close(): void {
    this.conn.close();
  }
}
