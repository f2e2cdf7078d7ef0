import { createServer, type Server } from 'node:net';
import { checkConfig } from '../../agent/haproxy/config-check.js';
import { ReloadFailedError, RuntimeCommandError } from '../../agent/haproxy/errors.js';
import { startHaproxy, type HaproxyInstance } from '../harness/haproxy-instance.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { get } from '../harness/http.js';
import { freePort } from '../harness/ports.js';
import { sleep } from '../harness/tmp.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('haproxy master CLI');

function body(port: number, up: Upstream, extra = ''): string {
  return `frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${up.port}
${extra}`;
}

async function withSetup(fn: (h: HaproxyInstance, port: number, up: Upstream) => Promise<void>): Promise<void> {
  const up = await httpUpstream('up');
  const port = await freePort();
  let h: HaproxyInstance | null = null;
  try {
    h = await startHaproxy(body(port, up));
    await fn(h, port, up);
  } finally {
    await h?.cleanup();
    await up.close();
  }
}

t('show proc, workerCommand', async () => {
  await withSetup(async (h) => {
    const proc = await h.proc.master.showProc();
    assert.is(proc.master.pid, h.proc.pid);
    assert.is(proc.master.failedReloads, 0);
    assert.is(proc.workers.length, 1);
    assert.is(proc.oldWorkers.length, 0);
    assert.match(proc.workers[0]?.version ?? '', /^2\.6\./);
    const info = await h.proc.master.workerCommand('show info');
    assert.match(info, new RegExp(`\\nPid: ${proc.workers[0]?.pid}\\n`));
    try {
      await h.proc.master.workerCommand('set server nope/s1 weight 1');
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, RuntimeCommandError);
      assert.match((err as Error).message, /No such backend/);
    }
  });
});

t('reload succeeds with a new worker PID and traffic keeps flowing', async () => {
  await withSetup(async (h, port) => {
    const before = await h.proc.master.showProc();
    const out = await h.proc.master.reload({ timeoutMs: 10_000 });
    assert.not.equal(out.newWorkerPid, before.workers[0]?.pid);
    const after = await h.proc.master.showProc();
    assert.equal(after.workers.map((w) => w.pid), [out.newWorkerPid]);
    assert.is(after.master.reloads, before.master.reloads + 1);
    console.log(`    reload took ${out.durationMs} ms`);
    assert.is((await get(`http://127.0.0.1:${port}/`)).body, 'up');
  });
});

t('a reload that fails at runtime (port in use) throws ReloadFailedError; the old worker keeps serving', async () => {
  const busyPort = await freePort();
  const blocker: Server = createServer();
  await new Promise<void>((r) => blocker.listen(busyPort, '127.0.0.1', r));
  try {
    await withSetup(async (h, port, up) => {
      const oldWorker = (await h.proc.master.showProc()).workers[0]?.pid;
      await h.writeConfig(body(port, up, `frontend extra\n  bind 127.0.0.1:${busyPort}\n  default_backend be\n`));
      const check = await checkConfig(haproxyBin(), h.configPath);
      assert.ok(check.ok, '-c cannot see a port in use');
      try {
        await h.proc.master.reload({ timeoutMs: 10_000 });
        assert.unreachable('reload should fail');
      } catch (err) {
        assert.instance(err, ReloadFailedError);
        const e = err as ReloadFailedError;
        assert.match(e.message, /old worker keeps serving/);
        // The supervisor captured the master's stderr.
        assert.ok(
          e.stderrTail.some((l) => /cannot bind socket/.test(l)),
          `stderr tail: ${JSON.stringify(e.stderrTail)}`,
        );
      }
      const proc = await h.proc.master.showProc();
      assert.is(proc.master.failedReloads, 1);
      assert.ok(h.proc.master.reloadFailedPrompt, 'prompt shows ReloadFailed');
      assert.equal(proc.workers.map((w) => w.pid), [oldWorker]);
      assert.is((await get(`http://127.0.0.1:${port}/`)).body, 'up');
      // Fixing the config makes the next reload succeed and resets the counter.
      await h.writeConfig(body(port, up));
      await h.proc.master.reload({ timeoutMs: 10_000 });
      assert.is((await h.proc.master.showProc()).master.failedReloads, 0);
    });
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
  }
});

t('5 reloads under load from 8 concurrent clients: zero failed requests', async () => {
  await withSetup(async (h, port) => {
    const url = `http://127.0.0.1:${port}/`;
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const client = async (): Promise<void> => {
      while (!stop) {
        try {
          const r = await get(url);
          if (r.status === 200) ok += 1;
          else failures.push(`HTTP ${r.status}`);
        } catch (err) {
          failures.push(err instanceof Error ? err.message : String(err));
        }
      }
    };
    const clients = Array.from({ length: 8 }, client);
    const pids = new Set<number>();
    for (let i = 0; i < 5; i++) {
      await sleep(150);
      pids.add((await h.proc.master.reload({ timeoutMs: 10_000 })).newWorkerPid);
    }
    await sleep(200);
    stop = true;
    await Promise.all(clients);
    console.log(`    ${ok} requests during 5 reloads, ${failures.length} failures`);
    assert.is(pids.size, 5);
    assert.ok(ok > 50, `too few requests: ${ok}`);
    assert.equal(failures, []);
  });
});

t.run();
