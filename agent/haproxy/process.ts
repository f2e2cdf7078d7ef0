import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Logger } from '../../runtime/log.js';
import { silentLogger } from '../../runtime/log.js';
import { HaproxyExecError } from './errors.js';
import { MasterClient } from './master-client.js';

export interface HaproxyProcessOptions {
  bin: string;
  configPath: string;
  /** Master CLI socket path (`-S`). */
  masterSocket: string;
  pidFile: string;
  /** Attach to a master already answering on `masterSocket` instead of spawning one. */
  adopt?: boolean;
  /** Spawn in its own process group so it can outlive the agent (`stop({mode:'keep'})`). */
  detached?: boolean;
  /**
   * [edge] Never spawn: HAProxy is started elsewhere (its own container, a sidecar) and is only
   * attached to through the master socket. Liveness then comes from the socket, not from a PID,
   * which may belong to another PID namespace.
   */
  attachOnly?: boolean;
  /** How long `start()` waits for a master to attach to (attachOnly). */
  attachTimeoutMs?: number;
  restart?: { initialDelayMs?: number; maxDelayMs?: number; /** Backoff resets after running this long. */ stableMs?: number };
  /** Liveness poll interval for an adopted master. */
  pollIntervalMs?: number;
  /** How long a soft stop (SIGUSR1) may take before SIGTERM, then SIGKILL. */
  stopTimeoutMs?: number;
  logger?: Logger;
}

export interface HaproxyProcessEvents {
  started: [{ pid: number; adopted: boolean }];
  exited: [{ code: number | null; signal: NodeJS.Signals | null }];
  restarting: [{ attempt: number; delayMs: number }];
  stderr: [{ line: string }];
}

const STDERR_LINES = 50;

/** Supervises one HAProxy master (master-worker mode, `-W -S`): spawn or adopt, restart on death, stop. */
export class HaproxyProcess extends EventEmitter<HaproxyProcessEvents> {
  private readonly o: Required<Omit<HaproxyProcessOptions, 'restart' | 'logger'>> & {
    restart: { initialDelayMs: number; maxDelayMs: number; stableMs: number };
  };
  private readonly log: Logger;
  private child: ChildProcess | null = null;
  private masterPid: number | null = null;
  private adopted = false;
  private stopping = false;
  private attempt = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly stderrRing: string[] = [];
  readonly master: MasterClient;

  constructor(opts: HaproxyProcessOptions) {
    super();
    this.o = {
      bin: opts.bin,
      configPath: opts.configPath,
      masterSocket: opts.masterSocket,
      pidFile: opts.pidFile,
      adopt: opts.adopt ?? false,
      detached: opts.detached ?? false,
      attachOnly: opts.attachOnly ?? false,
      attachTimeoutMs: opts.attachTimeoutMs ?? 30_000,
      pollIntervalMs: opts.pollIntervalMs ?? 1000,
      stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
      restart: {
        initialDelayMs: opts.restart?.initialDelayMs ?? 500,
        maxDelayMs: opts.restart?.maxDelayMs ?? 30_000,
        stableMs: opts.restart?.stableMs ?? 30_000,
      },
    };
    this.log = opts.logger ?? silentLogger();
    this.master = new MasterClient({ socket: opts.masterSocket, connectTimeoutMs: 1000, logger: this.log, stderrTail: () => this.recentStderr() });
  }

  /** PID of the master, or null when none is running. */
  get pid(): number | null {
    return this.masterPid;
  }

  get isAdopted(): boolean {
    return this.adopted;
  }

  /** The last stderr lines of the spawned master (empty for an adopted one), for error reports. */
  recentStderr(): string[] {
    return [...this.stderrRing];
  }

  isRunning(): boolean {
    if (this.o.attachOnly) return this.masterPid !== null;
    return this.masterPid !== null && pidAlive(this.masterPid);
  }

  async start(): Promise<void> {
    this.stopping = false;
    if (this.o.attachOnly) return this.attach(this.o.attachTimeoutMs);
    if (this.o.adopt) {
      const pid = await this.runningMasterPid();
      if (pid !== null) {
        this.adopted = true;
        this.masterPid = pid;
        this.startedAt = Date.now();
        this.log.info({ pid }, 'adopted running HAProxy master');
        this.emit('started', { pid, adopted: true });
        this.watchAdopted();
        return;
      }
    }
    await this.spawnMaster();
  }

  /** Resolves when the master socket answers and a worker exists. */
  async waitReady(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.masterPid === null && !this.restartTimer) throw new HaproxyExecError(this.o.bin, `HAProxy exited during startup:\n${this.recentStderr().slice(-10).join('\n')}`);
      try {
        const proc = await this.master.showProc();
        if (proc.workers.length > 0) return;
        last = 'no worker yet';
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new HaproxyExecError(this.o.bin, `not ready within ${timeoutMs} ms (${last}); recent stderr:\n${this.recentStderr().slice(-10).join('\n')}`);
  }

  /** `stop`: soft-stop (SIGUSR1), then SIGTERM, then SIGKILL. `keep`: stop supervising and leave HAProxy running. */
  async stop(opts: { mode: 'stop' | 'keep' } = { mode: 'stop' }): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    this.master.close();
    const pid = this.masterPid;
    if (this.o.attachOnly) {
      // Started elsewhere, stopped elsewhere: its PID may not even be in this PID namespace.
      if (opts.mode === 'stop') this.log.info({ pid }, 'HAProxy was started elsewhere (WEIR_HAPROXY_MASTER_SOCKET): left running');
      return;
    }
    if (opts.mode === 'keep') {
      if (this.child) {
        if (!this.o.detached) this.log.warn({ pid }, 'HAProxy kept running but was not spawned detached: a signal to the agent process group reaches it too');
        this.child.removeAllListeners('exit');
        this.child.unref();
        for (const s of [this.child.stderr, this.child.stdout]) {
          if (s instanceof Socket) {
            s.removeAllListeners('data');
            s.unref();
          }
        }
      }
      this.child = null;
      return;
    }
    if (pid === null || !pidAlive(pid)) return;
    const exited = this.waitExit(pid);
    signal(pid, 'SIGUSR1');
    if (await withTimeout(exited, this.o.stopTimeoutMs)) return;
    this.log.warn({ pid }, 'HAProxy soft stop timed out; sending SIGTERM');
    signal(pid, 'SIGTERM');
    if (await withTimeout(exited, 2000)) return;
    signal(pid, 'SIGKILL');
    await withTimeout(exited, 2000);
  }

  private waitExit(pid: number): Promise<void> {
    const child = this.child;
    if (child && child.pid === pid) {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise((r) => child.once('exit', () => r()));
    }
    return new Promise((r) => {
      const t = setInterval(() => {
        if (!pidAlive(pid)) {
          clearInterval(t);
          r();
        }
      }, 50);
    });
  }

  private async runningMasterPid(): Promise<number | null> {
    try {
      const proc = await this.master.showProc();
      return proc.master.pid;
    } catch {
      return null;
    }
  }

  private spawnMaster(): Promise<void> {
    const args = ['-W', '-S', `${this.o.masterSocket},mode,600`, '-f', this.o.configPath, '-p', this.o.pidFile];
    return new Promise((resolve, reject) => {
      const child = spawn(this.o.bin, args, { detached: this.o.detached, stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      this.adopted = false;
      const onLine = (line: string): void => {
        this.stderrRing.push(line);
        if (this.stderrRing.length > STDERR_LINES) this.stderrRing.shift();
        this.emit('stderr', { line });
      };
      if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine);
      if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
      child.once('error', (err) => {
        this.child = null;
        this.masterPid = null;
        reject(new HaproxyExecError(this.o.bin, err.message, { cause: err }));
      });
      child.once('spawn', () => {
        const pid = child.pid ?? 0;
        this.masterPid = pid;
        this.startedAt = Date.now();
        this.log.info({ pid, args }, 'HAProxy master started');
        this.emit('started', { pid, adopted: false });
        resolve();
      });
      child.once('exit', (code, sig) => {
        if (this.child === child) this.child = null;
        this.masterPid = null;
        this.emit('exited', { code, signal: sig });
        if (this.stopping) return;
        this.log.error({ code, signal: sig, stderr: this.recentStderr().slice(-5) }, 'HAProxy master exited unexpectedly');
        this.scheduleRestart();
      });
    });
  }

  /** [edge] Waits for a master on the socket (started elsewhere) and attaches to it. */
  private async attach(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pid = await this.runningMasterPid();
      if (pid !== null) {
        this.adopted = true;
        this.masterPid = pid;
        this.startedAt = Date.now();
        this.log.info({ pid, socket: this.o.masterSocket }, 'attached to the HAProxy master');
        this.emit('started', { pid, adopted: true });
        this.watchAttached();
        return;
      }
      if (this.stopping || Date.now() > deadline) {
        throw new HaproxyExecError(this.o.bin, `no HAProxy master answers on ${this.o.masterSocket} (WEIR_HAPROXY_MASTER_SOCKET) after ${timeoutMs} ms: the agent only attaches to a master started elsewhere (the weir-haproxy container); start it with -S ${this.o.masterSocket}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** [edge] Attached master: alive while its socket answers with the same PID; then wait for the next one. */
  private watchAttached(): void {
    let misses = 0;
    const tick = (): void => {
      this.pollTimer = null;
      if (this.stopping) return;
      const pid = this.masterPid;
      void this.runningMasterPid().then((now) => {
        if (this.stopping) return;
        // The socket is away for a moment while the master re-executes on a reload: three misses in a row mean gone.
        misses = now === null ? misses + 1 : 0;
        if ((now !== null && now === pid) || (now === null && misses < 3)) {
          this.pollTimer = setTimeout(tick, this.o.pollIntervalMs);
          return;
        }
        // Gone, or another master took the socket (its container restarted): attach to whatever answers next.
        this.masterPid = null;
        this.adopted = false;
        this.emit('exited', { code: null, signal: null });
        this.log.error({ pid, now }, 'the HAProxy master the agent attached to is gone; waiting for the next one (no spawn: WEIR_HAPROXY_MASTER_SOCKET)');
        this.attach(Number.MAX_SAFE_INTEGER).catch(() => undefined);
      });
    };
    this.pollTimer = setTimeout(tick, this.o.pollIntervalMs);
  }

  private watchAdopted(): void {
    const tick = (): void => {
      this.pollTimer = null;
      if (this.stopping) return;
      const pid = this.masterPid;
      if (pid !== null && pidAlive(pid)) {
        this.pollTimer = setTimeout(tick, this.o.pollIntervalMs);
        return;
      }
      this.masterPid = null;
      this.adopted = false;
      this.emit('exited', { code: null, signal: null });
      this.log.error({ pid }, 'adopted HAProxy master is gone; starting our own');
      this.scheduleRestart();
    };
    this.pollTimer = setTimeout(tick, this.o.pollIntervalMs);
  }

  private scheduleRestart(): void {
    if (Date.now() - this.startedAt >= this.o.restart.stableMs) this.attempt = 0;
    this.attempt += 1;
    const delayMs = Math.min(this.o.restart.initialDelayMs * 2 ** (this.attempt - 1), this.o.restart.maxDelayMs);
    this.emit('restarting', { attempt: this.attempt, delayMs });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      // The config on disk is the last one that passed `haproxy -c` (the agent renames checked files into place).
      this.spawnMaster().catch((err: unknown) => {
        this.log.error({ err }, 'HAProxy restart failed');
        this.scheduleRestart();
      });
    }, delayMs);
  }

  private clearTimers(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.restartTimer = null;
    this.pollTimer = null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function withTimeout(p: Promise<void>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)));
  const ok = await Promise.race([p.then(() => true), timeout]);
  if (t) clearTimeout(t);
  return ok;
}
