// A local nats-server with JetStream for `weir up`, when the binary is installed. Production
// deployments run NATS themselves and point WEIR_NATS_URL at it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';

export function findNatsServer(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/usr/local/bin'])) {
    const p = `${dir}/nats-server`;
    if (dir && existsSync(p)) return p;
  }
  return null;
}

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

export interface LocalNats {
  url: string;
  stop: () => Promise<void>;
}

/** Starts nats-server on 127.0.0.1:<port> with JetStream under `storeDir`; reuses one already listening there. */
export async function startLocalNats(bin: string, port: number, storeDir: string): Promise<LocalNats> {
  const url = `nats://127.0.0.1:${port}`;
  if (await portOpen(port)) return { url, stop: async () => undefined };
  await mkdir(storeDir, { recursive: true });
  const child: ChildProcess = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const deadline = Date.now() + 10_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nats-server did not start on port ${port}: ${stderr.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
