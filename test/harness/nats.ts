// A real nats-server with JetStream for store tests: free ports, its own store dir,
// stop by PID (SIGTERM, then SIGKILL), restart on the same port and dir for outage drills.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePorts } from './ports.js';
import { sleep, tempDir } from './tmp.js';

/** NATS_SERVER_BIN, else the first nats-server on PATH or in /usr/sbin (where Debian puts it). */
export function findNatsServer(): string | undefined {
  if (process.env.NATS_SERVER_BIN) return existsSync(process.env.NATS_SERVER_BIN) ? process.env.NATS_SERVER_BIN : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  return dirs.map((d) => join(d, 'nats-server')).find((p) => existsSync(p));
}

export class NatsServerMissingError extends Error {
  override readonly name = 'NatsServerMissingError';
  constructor(bin: string) {
    super(`nats-server not found (${bin}): install it (\`apt-get install nats-server\`, which \`make test\` does) or set NATS_SERVER_BIN`);
  }
}

export interface NatsHarness {
  url: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  pid(): number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Starts again on the same port and store dir (JetStream state survives). */
  restart(): Promise<void>;
  /** Stops the server and removes the store dir. Safe to call twice. */
  dispose(): Promise<void>;
}

export async function startNatsServer(opts: { readyTimeoutMs?: number } = {}): Promise<NatsHarness> {
  const bin = findNatsServer();
  if (!bin) throw new NatsServerMissingError(process.env.NATS_SERVER_BIN ?? 'looked on PATH and in /usr/sbin');
  const [port, monitorPort] = (await freePorts(2)) as [number, number];
  const dir = await tempDir('weir-nats-');
  let child: ChildProcess | undefined;
  let log = '';

  const launch = async (): Promise<void> => {
    log = '';
    const c = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-sd', dir.path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    // If the test process dies without cleanup, do not leave a server behind.
    const killOnExit = (): void => {
      if (c.pid !== undefined && c.exitCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    };
    process.once('exit', killOnExit);
    c.once('exit', () => process.off('exit', killOnExit));
    c.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
    // /healthz answers 200 once the server accepts clients and JetStream is up.
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`nats-server exited with ${c.exitCode} while starting:\n${log.slice(-2000)}`);
      const ok = await fetch(`http://127.0.0.1:${monitorPort}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await sleep(50);
    }
    await stop(0);
    throw new Error(`nats-server did not become healthy on port ${port} within ${opts.readyTimeoutMs ?? 10_000} ms:\n${log.slice(-2000)}`);
  };

  const stop = async (graceMs = 3000): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    process.kill(c.pid, 'SIGTERM');
    const timer = setTimeout(() => c.pid !== undefined && c.exitCode === null && process.kill(c.pid, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    await dir.remove();
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    storeDir: dir.path,
    pid: () => child?.pid,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    dispose: async () => {
      await stop();
      await dir.remove();
    },
  };
}
