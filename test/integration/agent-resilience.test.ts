// The spec for staying up: HAProxy killed, the store deleted, the agent restarted with no
// store (serving from the last-good cache), and a corrupted cache refused.
import { readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { freePorts } from '../harness/ports.js';
import { get, tally } from '../harness/http.js';
import { waitFor } from '../harness/tmp.js';

const t = suite('agent resilience with real HAProxy');
let fx: AgentFixture;
const ups: Record<string, Upstream> = {};
let port = 0;
const url = (): string => `http://127.0.0.1:${port}/`;

t.before(async () => {
  ups.a = await httpUpstream('a');
  ups.b = await httpUpstream('b');
  [port = 0] = await freePorts(1);
  fx = await startAgent({
    files: { 'shop.yaml': gatewayYaml('shop', port, { v1: { weight: 70, targets: [ups.a.port] }, v2: { weight: 30, targets: [ups.b.port] } }) },
  });
  await fx.waitStatus((s) => s.applied.length === 1, 'shop applied');
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of Object.values(ups)) await u.close();
});

const masterPid = async (): Promise<number> => Number((await readFile(join(fx.stateDir, 'haproxy.pid'), 'utf8').catch(() => '')).trim().split('\n')[0]);

/** SIGKILLs the HAProxy master and waits for the agent's restart to serve. */
async function killMaster(): Promise<void> {
  const pid = await masterPid();
  assert.ok(pid > 0);
  process.kill(pid, 'SIGKILL');
  // The orphaned worker may answer for a moment after its master died: wait for the new master.
  await waitFor(async () => (await masterPid()) !== pid && fx.status().haproxy.running, { what: 'a new HAProxy master', timeoutMs: 15_000 });
  await waitFor(async () => (await get(url())).status === 200, { what: 'traffic after restart', timeoutMs: 15_000 });
}

t('HAProxy killed: the agent restarts it from the last good config and traffic returns', async () => {
  await killMaster();
  const r = await tally(url(), 20);
  assert.equal(r.failures, []);
  const m = await fx.agent.metrics.registry.getSingleMetricAsString('weir_haproxy_restarts_total');
  assert.match(m, /weir_haproxy_restarts_total [1-9]/);
});

t('HAProxy killed right after a runtime change: the restart serves the change (its files are written first)', async () => {
  // A long persist delay holds the files back, as a burst of changes would.
  await fx.restart({ WEIR_PERSIST_DELAY_MS: '30000' });
  await fx.waitStatus((s) => s.applied.length === 1 && s.ready, 'shop applied');
  const mapsBefore = await readFile(join(fx.stateDir, 'maps', 'shop.weights.map'), 'utf8');
  await fx.write('shop', gatewayYaml('shop', port, { v1: { weight: 0, targets: [ups.a!.port] }, v2: { weight: 100, targets: [ups.b!.port] } }));
  await waitFor(async () => (await tally(url(), 10)).counts.b === 10, { what: 'runtime change serving' });
  assert.is(await readFile(join(fx.stateDir, 'maps', 'shop.weights.map'), 'utf8'), mapsBefore, 'not yet written: the delay holds it');
  await killMaster();
  assert.equal((await tally(url(), 20)).counts, { b: 20 });
  // Back to 70/30 and the default delay for the tests that follow.
  await fx.write('shop', gatewayYaml('shop', port, { v1: { weight: 70, targets: [ups.a!.port] }, v2: { weight: 30, targets: [ups.b!.port] } }));
  await fx.agent.syncNow();
  await fx.restart();
  await fx.waitStatus((s) => s.applied.length === 1 && s.ready, 'shop applied');
});

t('the store directory removed: traffic keeps flowing and the outage is reported', async () => {
  const moved = `${fx.storeRoot}.gone`;
  await rename(fx.storeRoot, moved);
  await fx.agent.syncNow();
  const s = fx.status();
  assert.is(s.store.ok, false);
  assert.match(String(s.store.error), /unavailable/);
  assert.is(s.applied.length, 1, 'the gateway is still applied');
  assert.equal((await tally(url(), 20)).failures, []);
  // The store comes back: the agent reads it again with no restart.
  await rename(moved, fx.storeRoot);
  await fx.agent.syncNow();
  assert.is(fx.status().store.ok, true);
});

t('agent restarted with no store: HAProxy is booted from the last-good cache', async () => {
  await waitFor(async () => (await readFile(join(fx.stateDir, 'last-good.json'), 'utf8').catch(() => '')).includes('shop'), { what: 'cache written' });
  await fx.stop(); // stops HAProxy too (WEIR_HAPROXY_ON_EXIT=stop)
  await waitFor(async () => (await get(url()).then(() => false, () => true)), { what: 'HAProxy stopped' });
  await rm(fx.storeRoot, { recursive: true, force: true });
  await fx.restart();
  const s = fx.status();
  assert.is(s.servingFromCache, true);
  assert.is(s.store.ok, false);
  assert.ok(s.ready, 'ready while serving from cache');
  const r = await tally(url(), 40);
  assert.equal(r.failures, []);
  assert.ok((r.counts.a ?? 0) > 0 && (r.counts.b ?? 0) > 0, JSON.stringify(r.counts));
});

t('the store returns after a cache boot: the agent takes it over with a hitless reload', async () => {
  await writeFile(join(fx.dir, 'placeholder'), '');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(fx.gatewaysDir, { recursive: true });
  await fx.write('shop', gatewayYaml('shop', port, { v1: { weight: 0, targets: [ups.a!.port] }, v2: { weight: 100, targets: [ups.b!.port] } }));
  await fx.agent.syncNow();
  await fx.waitStatus((s) => !s.servingFromCache && s.store.ok && !s.pendingReload, 'store taken over');
  await fx.agent.idle();
  assert.equal((await tally(url(), 20)).counts, { b: 20 });
});

t('a corrupted cache is refused with a clear error', async () => {
  await fx.stop();
  const cacheFile = join(fx.stateDir, 'last-good.json');
  const text = await readFile(cacheFile, 'utf8');
  await writeFile(cacheFile, text.replace('"shop"', '"shoq"'));
  await rm(fx.storeRoot, { recursive: true, force: true });
  await fx.restart();
  const s = fx.status();
  assert.is(s.servingFromCache, false);
  assert.match(String(s.cacheError), /last-good cache .* ignored: checksum mismatch/);
  assert.is(s.applied.length, 0);
  assert.is(s.ready, false, 'not ready: nothing to serve');
  const refused = await get(url()).then(() => 'open', () => 'refused');
  assert.is(refused, 'refused');
});

t.run();
