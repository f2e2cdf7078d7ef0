import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HaproxyProcess, type HaproxyProcessOptions } from '../../agent/haproxy/process.js';
import { RuntimeClient } from '../../agent/haproxy/runtime-client.js';
import { haproxyBin } from './haproxy-bin.js';
import { tempDir } from './tmp.js';

export interface HaproxyInstance {
  dir: string;
  configPath: string;
  adminSocket: string;
  masterSocket: string;
  pidFile: string;
  proc: HaproxyProcess;
  runtime: RuntimeClient;
  /** Writes a new config (body after the standard global/defaults) to the live config path. */
  writeConfig: (body: string) => Promise<void>;
  /** Stops HAProxy (any master we started or adopted, plus stray workers) and removes the temp dir. */
  cleanup: () => Promise<void>;
}

/** Global + defaults with the admin socket; `body` holds frontends/backends. */
export function renderConfig(adminSocket: string, body: string, globalExtra = ''): string {
  return `global
  stats socket ${adminSocket} mode 600 level admin
  stats timeout 2m
  hard-stop-after 5s
${globalExtra}
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
${body}
`;
}

/** Starts a supervised HAProxy in a temp dir. The caller must `cleanup()` in a finally block. */
export async function startHaproxy(
  body: string,
  opts: Partial<HaproxyProcessOptions> & { globalExtra?: string } = {},
): Promise<HaproxyInstance> {
  const { globalExtra, ...procOpts } = opts;
  const tmp = await tempDir('weir-haproxy-');
  const dir = tmp.path;
  const configPath = join(dir, 'haproxy.cfg');
  const adminSocket = join(dir, 'admin.sock');
  const masterSocket = join(dir, 'master.sock');
  const pidFile = join(dir, 'haproxy.pid');
  const writeConfig = (b: string): Promise<void> => writeFile(configPath, renderConfig(adminSocket, b, globalExtra));
  await writeConfig(body);
  const proc = new HaproxyProcess({
    bin: haproxyBin(),
    configPath,
    masterSocket,
    pidFile,
    stopTimeoutMs: 3000,
    restart: { initialDelayMs: 100, maxDelayMs: 1000 },
    ...procOpts,
  });
  const runtime = new RuntimeClient({ socket: adminSocket, timeoutMs: 5000 });
  const cleanup = async (): Promise<void> => {
    runtime.close();
    const workerPids: number[] = [];
    try {
      const p = await proc.master.showProc();
      workerPids.push(...p.workers.map((w) => w.pid), ...p.oldWorkers.map((w) => w.pid));
    } catch {
      // Master already gone.
    }
    await proc.stop({ mode: 'stop' }).catch(() => undefined);
    for (const pid of workerPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited with its master.
      }
    }
    await tmp.remove();
  };
  try {
    await proc.start();
    await proc.waitReady(10_000);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { dir, configPath, adminSocket, masterSocket, pidFile, proc, runtime, writeConfig, cleanup };
}
