// End to end: N parallel API clients shift weight between routes of one gateway (GET, then
// PUT weights with If-Match, retry on 409) while a real agent serves it. No update is lost:
// the stored result reflects every client's moves, and the agent converges to that version.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Cleanup, gwPath, launchE2EAgent, scratch, startE2EControl, storeFile, waitConverged } from '../harness/e2e.js';
import { tally } from '../harness/http.js';
import { startNatsServer } from '../harness/nats.js';
import { freePort } from '../harness/ports.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const CLIENTS = 8;
const ROUNDS = 3;
const t = suite('e2e: concurrent weight updates through the API');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

t(`${CLIENTS} clients × ${ROUNDS} moves: no lost update, the agent applies the final version`, async () => {
  const dir = await scratch(cleanup);
  const root = join(dir, 'store');
  await mkdir(join(root, 'default', 'default', 'gateways'), { recursive: true });
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const control = await startE2EControl({ store: storeFile(root), natsUrl: nats.url, stateDir: join(dir, 'control') });
  cleanup.add(() => control.close());
  const base = await httpUpstream('base');
  const moved = await httpUpstream('moved');
  cleanup.add(() => base.close());
  cleanup.add(() => moved.close());
  const agent = await launchE2EAgent({ id: 'node-1', bind: '127.0.0.2', store: storeFile(root), stateDir: join(dir, 'agent'), natsUrl: nats.url });
  cleanup.add(() => agent.stop());
  const port = await freePort('127.0.0.2');
  const names = Array.from({ length: CLIENTS }, (_, i) => `r${i + 1}`);
  const path = gwPath('default', 'default', 'busy');
  const routes: Record<string, unknown> = { r0: { weight: 100, targets: [`127.0.0.1:${base.port}`] } };
  for (const n of names) routes[n] = { weight: 0, targets: [`127.0.0.1:${moved.port}`] };
  const created = await control.api('PUT', path, { body: { port, routes } });
  assert.is(created.status, 201, created.text);
  await waitConverged(control, 'default', 'default', 'busy', created.json.version, 1);

  let conflicts = 0;
  await Promise.all(
    names.map(async (n) => {
      for (let s = 0; s < ROUNDS; s++) {
        for (;;) {
          const cur = await control.api('GET', path);
          assert.is(cur.status, 200, cur.text);
          const w = (cur.json as { routes: Record<string, { weight: number }> }).routes;
          const r = await control.api('PUT', `${path}/weights`, { body: { r0: (w.r0?.weight ?? 0) - 1, [n]: (w[n]?.weight ?? 0) + 1 }, headers: { 'if-match': cur.headers.get('etag') ?? '' } });
          if (r.status === 200) break;
          assert.is(r.status, 409, r.text);
          conflicts++;
        }
      }
    }),
  );
  const final = await control.api('GET', path);
  const fw = (final.json as { routes: Record<string, { weight: number }> }).routes;
  assert.is(fw.r0?.weight, 100 - CLIENTS * ROUNDS, 'r0 gave one point per move');
  for (const n of names) assert.is(fw[n]?.weight, ROUNDS, `weight of ${n}`);
  const finalVersion = (final.headers.get('etag') ?? '').replace(/"/g, '');
  await waitConverged(control, 'default', 'default', 'busy', finalVersion, 1);
  assert.is(await agent.applied('busy'), finalVersion, 'agent /status shows the final version');
  const r = await tally(`http://127.0.0.2:${port}/`, 50, { concurrency: 4 });
  assert.equal(r.failures, []);
  assert.ok((r.counts.moved ?? 0) > 0 && (r.counts.base ?? 0) > 0, `both routes serve: ${JSON.stringify(r.counts)}`);
  if (process.env.WEIR_TEST_VERBOSE) process.stderr.write(`conflicts retried: ${conflicts}\n`);
});

t.run();
