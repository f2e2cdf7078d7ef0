import { existsSync } from 'node:fs';
import { HaproxyProcess, type HaproxyProcessEvents } from '../../agent/haproxy/process.js';
import { startHaproxy, type HaproxyInstance } from '../harness/haproxy-instance.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { get } from '../harness/http.js';
import { freePort } from '../harness/ports.js';
import { waitFor } from '../harness/tmp.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('haproxy process supervisor');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killQuietly(pid: number | null | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone.
  }
}

async function withSetup(
  fn: (h: HaproxyInstance, port: number, extra: { track: (pid: number | undefined) => void; others: HaproxyProcess[] }) => Promise<void>,
  opts: { detached?: boolean } = {},
): Promise<void> {
  const up: Upstream = await httpUpstream('up');
  const port = await freePort();
  let h: HaproxyInstance | null = null;
  const tracked: number[] = [];
  const others: HaproxyProcess[] = [];
  try {
    h = await startHaproxy(`frontend fe\n  bind 127.0.0.1:${port}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:${up.port}\n`, opts);
    await fn(h, port, { track: (pid) => pid && tracked.push(pid), others });
  } finally {
    for (const o of others) await o.stop({ mode: 'stop' }).catch(() => undefined);
    await h?.cleanup();
    for (const pid of tracked) killQuietly(pid);
    await up.close();
  }
}

function record(p: HaproxyProcess): Array<[keyof HaproxyProcessEvents, unknown]> {
  const events: Array<[keyof HaproxyProcessEvents, unknown]> = [];
  for (const name of ['started', 'exited', 'restarting'] as const) p.on(name, (e: unknown) => events.push([name, e]));
  return events;
}

t('restarts the master after kill -9 and traffic comes back', async () => {
  await withSetup(async (h, port, { track }) => {
    const events = record(h.proc);
    const oldMaster = h.proc.pid;
    const oldWorker = (await h.proc.master.showProc()).workers[0]?.pid;
    track(oldWorker);
    assert.ok(oldMaster !== null && h.proc.isRunning());
    assert.ok(h.proc.recentStderr().length >= 0);
    process.kill(oldMaster ?? 0, 'SIGKILL');
    await waitFor(() => h.proc.pid !== null && h.proc.pid !== oldMaster, { timeoutMs: 5000, what: 'a new master' });
    await h.proc.waitReady(5000);
    await waitFor(async () => (await get(`http://127.0.0.1:${port}/`)).body === 'up', { timeoutMs: 5000, what: 'traffic after restart' });
    assert.equal(
      events.map(([n]) => n),
      ['exited', 'restarting', 'started'],
    );
    assert.equal(events[0]?.[1], { code: null, signal: 'SIGKILL' });
    assert.equal(events[1]?.[1], { attempt: 1, delayMs: 100 });
  });
});

t('adopt: a second supervisor attaches to the running master, and restarts it if it dies', async () => {
  await withSetup(async (h, port, { track, others }) => {
    const second = new HaproxyProcess({
      bin: haproxyBin(),
      configPath: h.configPath,
      masterSocket: h.masterSocket,
      pidFile: h.pidFile,
      adopt: true,
      pollIntervalMs: 100,
      stopTimeoutMs: 3000,
      restart: { initialDelayMs: 50, maxDelayMs: 500 },
    });
    others.push(second);
    const events = record(second);
    await second.start();
    assert.is(second.pid, h.proc.pid);
    assert.ok(second.isAdopted);
    assert.equal(events, [['started', { pid: h.proc.pid, adopted: true }]]);
    await second.waitReady(2000);
    // The first supervisor lets go (as if the old agent exited) and the master dies.
    const masterPid = h.proc.pid;
    track((await h.proc.master.showProc()).workers[0]?.pid);
    await h.proc.stop({ mode: 'keep' });
    process.kill(masterPid ?? 0, 'SIGKILL');
    await waitFor(() => second.pid !== null && second.pid !== masterPid && !second.isAdopted, { timeoutMs: 5000, what: 'adopter restarts its own master' });
    await second.waitReady(5000);
    await waitFor(async () => (await get(`http://127.0.0.1:${port}/`)).body === 'up', { timeoutMs: 5000, what: 'traffic after re-spawn' });
    assert.equal(events.map(([n]) => n), ['started', 'exited', 'restarting', 'started']);
  });
});

t('stop: soft stop ends master and workers; no restart', async () => {
  await withSetup(async (h, port) => {
    const master = h.proc.pid ?? 0;
    const worker = (await h.proc.master.showProc()).workers[0]?.pid ?? 0;
    const events = record(h.proc);
    await h.proc.stop({ mode: 'stop' });
    assert.not.ok(alive(master));
    await waitFor(() => !alive(worker), { timeoutMs: 3000, what: 'worker exit' });
    assert.not.ok(h.proc.isRunning());
    assert.is(h.proc.pid, null);
    assert.equal(events.map(([n]) => n), ['exited']);
    await get(`http://127.0.0.1:${port}/`, {}, 1000).then(
      () => assert.unreachable('nothing should listen'),
      () => undefined,
    );
  });
});

t('keep: a detached master survives the supervisor letting go and can be adopted', async () => {
  await withSetup(
    async (h, port, { others }) => {
      const master = h.proc.pid;
      await h.proc.stop({ mode: 'keep' });
      assert.ok(master !== null && alive(master));
      assert.is((await get(`http://127.0.0.1:${port}/`)).body, 'up');
      assert.ok(existsSync(h.masterSocket));
      const next = new HaproxyProcess({ bin: haproxyBin(), configPath: h.configPath, masterSocket: h.masterSocket, pidFile: h.pidFile, adopt: true, stopTimeoutMs: 3000 });
      others.push(next);
      await next.start();
      assert.is(next.pid, master);
      await next.stop({ mode: 'stop' });
      assert.not.ok(alive(master ?? 0));
    },
    { detached: true },
  );
});

t('start fails clearly when the binary is missing', async () => {
  const p = new HaproxyProcess({ bin: '/nonexistent/haproxy', configPath: '/x.cfg', masterSocket: '/tmp/weir-none.sock', pidFile: '/tmp/weir-none.pid' });
  try {
    await p.start();
    assert.unreachable('should throw');
  } catch (err) {
    assert.match((err as Error).message, /\/nonexistent\/haproxy/);
  } finally {
    await p.stop({ mode: 'stop' });
  }
});

t.run();
