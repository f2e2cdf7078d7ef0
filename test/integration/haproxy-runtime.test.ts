import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeCommandError, RuntimeSocketError } from '../../agent/haproxy/errors.js';
import { RuntimeClient } from '../../agent/haproxy/runtime-client.js';
import { parseServerState } from '../../agent/haproxy/state-file.js';
import { startHaproxy, type HaproxyInstance } from '../harness/haproxy-instance.js';
import { get, tally } from '../harness/http.js';
import { freePort } from '../harness/ports.js';
import { sleep, tempDir, waitFor } from '../harness/tmp.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('haproxy runtime client');

async function withHaproxy(body: string | ((dir: string) => Promise<string>), fn: (h: HaproxyInstance) => Promise<void>, globalExtra?: string): Promise<void> {
  // Bodies that need files (maps) get a pre-made dir; simple ones are rendered directly.
  let h: HaproxyInstance | null = null;
  const pre = typeof body === 'string' ? null : await tempDir('weir-map-');
  try {
    const text = typeof body === 'string' ? body : await body(pre?.path ?? '');
    h = await startHaproxy(text, { globalExtra });
    await fn(h);
  } finally {
    await h?.cleanup();
    await pre?.remove();
  }
}

function weightBackend(n: number): string {
  const servers = Array.from({ length: n }, (_, i) => `  server s${i} 127.0.0.1:${10000 + i} disabled`).join('\n');
  return `backend big\n  balance roundrobin\n${servers}\n`;
}

t('batch of 2,000 set server weight commands succeeds on one session', async () => {
  await withHaproxy(weightBackend(200), async (h) => {
    const cmds = Array.from({ length: 2000 }, (_, i) => `set server big/s${i % 200} weight ${(i % 256) + 1}`);
    const t0 = performance.now();
    const results = await h.runtime.batch(cmds);
    const ms = performance.now() - t0;
    console.log(`    2,000 set server weight in one batch: ${ms.toFixed(1)} ms`);
    assert.is(results.length, 2000);
    assert.ok(results.every((r) => r.ok), JSON.stringify(results.find((r) => !r.ok)));
    // Last write for s199 was i=1999 -> weight (1999 % 256) + 1.
    const w = await h.runtime.execute('get weight big/s199');
    assert.match(w, new RegExp(`^${(1999 % 256) + 1} \\(initial 1\\)`));
  });
});

t('errors are detected per command; execute throws RuntimeCommandError', async () => {
  await withHaproxy('backend b1\n  server s1 127.0.0.1:1 disabled\n  server s2 127.0.0.1:2\n', async (h) => {
    const cases: Array<[string, RegExp]> = [
      ['frobnicate', /^Unknown command/],
      ['set server b1/zz weight 5', /^No such server\./],
      ['set server zz/s1 weight 5', /^No such backend\./],
      ['set server b1 weight 5', /^Require 'backend\/server'\./],
      ['set server b1/s1 weight abc', /weight/i],
      ['set server b1/s1 weight 1000', /^Absolute weight can only be between 0 and 256/],
      ['set server b1/s1 state foo', /expects 'ready', 'drain' and 'maint'/],
      ['set server b1/s1 addr 1.2.3', /^Invalid addr/],
      ['set server b1/s1 foo', /^usage: set server/],
      ['del server b1/s2', /^Only servers in maintenance mode can be deleted\./],
      ['prepare map /nope.map', /^Unknown map identifier/],
      ['show servers state zz', /^Can't find backend\./],
      ['enable server b1/zz', /^No such server\./],
    ];
    const results = await h.runtime.batch([...cases.map(([c]) => c), 'set server b1/s2 weight 7', 'get weight b1/s2']);
    cases.forEach(([cmd, re], i) => {
      const r = results[i];
      assert.ok(r && !r.ok, `${cmd} should fail, got ${JSON.stringify(r)}`);
      assert.match(r?.error ?? '', re, cmd);
    });
    assert.ok(results[cases.length]?.ok);
    assert.match(results[cases.length + 1]?.reply ?? '', /^7 \(initial 1\)/);
    try {
      await h.runtime.execute('set server b1/zz weight 5');
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, RuntimeCommandError);
      assert.is((err as RuntimeCommandError).command, 'set server b1/zz weight 5');
      assert.is((err as RuntimeCommandError).reply, 'No such server.');
    }
    // set server addr answers with text on success.
    assert.match(await h.runtime.setServerAddr('b1', 's1', '127.0.0.2', 9), /^IP changed from '127\.0\.0\.1' to '127\.0\.0\.2', port changed from '1' to '9'/);
    assert.match(await h.runtime.setServerAddr('b1', 's1', '127.0.0.2', 9), /^no need to change the addr/);
    const state = parseServerState(await h.runtime.showServersState('b1'));
    const s1 = state.rows.find((r) => r.srv_name === 's1');
    assert.is(s1?.srv_addr, '127.0.0.2');
    assert.is(s1?.srv_port, '9');
    const stats = await h.runtime.showStat();
    const row = stats.find((r) => r.pxname === 'b1' && r.svname === 's2');
    assert.is(row?.weight, '7');
    assert.is(row?.type, '2');
    assert.ok('h1_bytes_out' in (row ?? {}), 'all header columns are kept');
    const info = await h.runtime.showInfo();
    assert.match(info.Version ?? '', /^2\.6\./);
  });
});

t('a socket that is not there gives RuntimeSocketError naming the path', async () => {
  const c = new RuntimeClient({ socket: '/nonexistent/weir.sock', connectTimeoutMs: 500 });
  try {
    await c.execute('show info');
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, RuntimeSocketError);
    assert.match((err as Error).message, /\/nonexistent\/weir\.sock/);
  } finally {
    c.close();
  }
});

t('reconnects after HAProxy drops an idle session; after a reload, close() reaches the new worker', async () => {
  await withHaproxy('backend b1\n  server s1 127.0.0.1:1\n', async (h) => {
    const pid1 = (await h.runtime.showInfo()).Pid;
    // Shorten this session's idle timeout so HAProxy closes it.
    await h.runtime.execute('set timeout cli 1');
    await sleep(1500);
    assert.is((await h.runtime.showInfo()).Pid, pid1);
    // A reload starts a new worker, but the old one keeps serving open sessions (ours included)
    // until they end: whoever reloads closes the session (the agent's applier does).
    const { newWorkerPid } = await h.proc.master.reload({ timeoutMs: 10_000 });
    h.runtime.close();
    await waitFor(async () => (await h.runtime.showInfo()).Pid === String(newWorkerPid), { timeoutMs: 5000, what: 'new worker on the admin socket' });
  });
});

t('TCP stats socket (host:port) works', async () => {
  const port = await freePort();
  await withHaproxy(
    'backend b1\n  server s1 127.0.0.1:1\n',
    async () => {
      const c = new RuntimeClient({ socket: `127.0.0.1:${port}` });
      try {
        assert.match((await c.showInfo()).Name ?? '', /HAProxy/);
      } finally {
        c.close();
      }
    },
    `  stats socket 127.0.0.1:${port} level admin`,
  );
});

t('replaceMap swaps the map atomically and traffic follows it', async () => {
  const ups: Upstream[] = [await httpUpstream('blue'), await httpUpstream('green')];
  const port = await freePort();
  try {
    let mapPath = '';
    await withHaproxy(
      async (dir) => {
        mapPath = join(dir, 'split.map');
        await writeFile(mapPath, '0:99 be_blue\n');
        return `frontend fe
  bind 127.0.0.1:${port}
  use_backend %[rand(100),map_int(${mapPath})]
backend be_blue
  server s1 127.0.0.1:${ups[0]?.port}
backend be_green
  server s1 127.0.0.1:${ups[1]?.port}
`;
      },
      async (h) => {
        const before = await tally(`http://127.0.0.1:${port}/`, 20, { concurrency: 4 });
        assert.equal(before.counts, { blue: 20 });
        // Integer patterns accept ranges (lo:hi); rand(100) is in [0,99].
        await h.runtime.replaceMap(mapPath, [['0:49', 'be_green'], ['50:99', 'be_green']]);
        const after = await tally(`http://127.0.0.1:${port}/`, 20, { concurrency: 4 });
        assert.equal(after.counts, { green: 20 });
        // Large map goes in several payload chunks.
        const big: Array<[string, string]> = Array.from({ length: 3000 }, (_, i) => [String(i + 1000), 'be_green']);
        big.unshift(['0:99', 'be_blue']);
        await h.runtime.replaceMap(mapPath, big);
        const shown = await h.runtime.execute(`show map ${mapPath}`);
        assert.is(shown.split('\n').length, 3001);
        assert.is((await get(`http://127.0.0.1:${port}/`)).body, 'blue');
      },
    );
  } finally {
    await Promise.all(ups.map((u) => u.close()));
  }
});

t('slot fill: a disabled placeholder server gets an address and takes traffic', async () => {
  const up = await httpUpstream('slot');
  const port = await freePort();
  try {
    await withHaproxy(
      `frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:1 disabled check inter 200ms
`,
      async (h) => {
        assert.is((await get(`http://127.0.0.1:${port}/`)).status, 503);
        await h.runtime.setServerAddr('be', 's1', '127.0.0.1', up.port);
        await h.runtime.setServerState('be', 's1', 'ready');
        await waitFor(async () => (await get(`http://127.0.0.1:${port}/`)).body === 'slot', { timeoutMs: 5000, what: 'traffic to the filled slot' });
        await h.runtime.setServerWeight('be', 's1', '50%');
        await h.runtime.setServerState('be', 's1', 'drain');
        const st = (await h.runtime.showStat()).find((r) => r.pxname === 'be' && r.svname === 's1');
        assert.match(st?.status ?? '', /DRAIN/);
      },
    );
  } finally {
    await up.close();
  }
});

t.run();
