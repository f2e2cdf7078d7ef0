// The spec for changes: weights and targets move through the runtime API on the same
// worker; structural changes reload with no failed request; bad definitions are isolated.
import { suite, assert } from '../harness/uvu.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { freePorts } from '../harness/ports.js';
import { get, tally } from '../harness/http.js';
import { waitFor, sleep } from '../harness/tmp.js';

const t = suite('agent changes with real HAProxy');
let fx: AgentFixture;
const ups: Record<string, Upstream> = {};
let pMain = 0;
let pOther = 0;
let pNew = 0;
let pBad = 0;
const url = (port: number): string => `http://127.0.0.1:${port}/`;

const versionOf = (name: string): string | undefined => fx.status().applied.find((a) => a.name === name)?.version;

async function writeAndWait(name: string, body: string): Promise<void> {
  const before = versionOf(name);
  await fx.write(name, body);
  await fx.waitStatus((s) => {
    const v = s.applied.find((a) => a.name === name)?.version;
    return v !== undefined && v !== before && !s.pendingReload;
  }, `${name} applied`);
}

t.before(async () => {
  for (const n of ['a', 'b', 'c', 'd']) ups[n] = await httpUpstream(n);
  [pMain = 0, pOther = 0, pNew = 0, pBad = 0] = await freePorts(4);
  fx = await startAgent({
    files: {
      'main.yaml': gatewayYaml('main', pMain, { v1: { weight: 100, targets: [ups.a!.port] }, v2: { weight: 0, targets: [ups.b!.port] } }),
      'other.yaml': gatewayYaml('other', pOther, { only: { weight: 100, targets: [ups.c!.port] } }),
    },
  });
  await fx.waitStatus((s) => s.applied.length === 2, 'initial gateways applied');
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of Object.values(ups)) await u.close();
});

t('a weight change goes through the runtime API: same worker, no reload, traffic shifted', async () => {
  assert.equal((await tally(url(pMain), 20)).counts, { a: 20 });
  const workers = await fx.currentWorkerPids();
  const reloads = await fx.reloads();
  const applies = await fx.agent.metrics.registry.getSingleMetricAsString('weir_agent_applies_total');
  await writeAndWait('main', gatewayYaml('main', pMain, { v1: { weight: 0, targets: [ups.a!.port] }, v2: { weight: 100, targets: [ups.b!.port] } }));
  assert.equal((await tally(url(pMain), 20)).counts, { b: 20 });
  assert.equal(await fx.currentWorkerPids(), workers, 'the worker must not change');
  assert.is(await fx.reloads(), reloads, 'no reload');
  const after = await fx.agent.metrics.registry.getSingleMetricAsString('weir_agent_applies_total');
  assert.match(after, /kind="runtime",result="ok"} 1/);
  assert.not.equal(after, applies);
  // The runtime change is also written into the files (by the job after it), so a reload keeps it.
  await fx.agent.idle();
  const { readFile } = await import('node:fs/promises');
  const map = await readFile(`${fx.stateDir}/maps/main.weights.map`, 'utf8');
  assert.ok(map.split('\n').filter(Boolean).every((l) => l.endsWith(' main:v2')), 'weights map on disk follows the runtime change');
});

t('targets are added and removed through the runtime API (pre-allocated slots)', async () => {
  const workers = await fx.currentWorkerPids();
  await writeAndWait('other', gatewayYaml('other', pOther, { only: { weight: 100, targets: [ups.c!.port, ups.d!.port] } }));
  await waitFor(async () => {
    const r = await tally(url(pOther), 30);
    return (r.counts.c ?? 0) > 0 && (r.counts.d ?? 0) > 0;
  }, { what: 'new target receiving traffic' });
  await writeAndWait('other', gatewayYaml('other', pOther, { only: { weight: 100, targets: [ups.d!.port] } }));
  assert.equal((await tally(url(pOther), 30)).counts, { d: 30 });
  assert.equal(await fx.currentWorkerPids(), workers, 'the worker must not change');
});

t('a structural change reloads with zero failed requests under concurrent load', async () => {
  const reloads = await fx.reloads();
  let stop = false;
  const failures: string[] = [];
  let sent = 0;
  const load = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const r = await get(url(pMain));
          sent += 1;
          if (r.status !== 200) failures.push(`HTTP ${r.status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    }),
  );
  await sleep(200);
  // New gateway + a condition on an existing one: both need a reload.
  await fx.write('fresh', gatewayYaml('fresh', pNew, { x: { weight: 100, targets: [ups.a!.port] } }));
  await writeAndWait('main', gatewayYaml('main', pMain, {
    v1: { weight: 50, targets: [ups.a!.port] },
    v2: { weight: 50, targets: [ups.b!.port], extra: 'condition: has header x-beta' },
  }));
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'fresh'), 'fresh applied');
  await sleep(300);
  stop = true;
  await load;
  assert.ok((await fx.reloads()) > reloads, 'a reload happened');
  assert.ok(sent > 50, `only ${sent} requests sent`);
  assert.equal(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.equal((await tally(url(pNew), 5)).counts, { a: 5 });
  assert.equal((await tally(url(pMain), 10, { headers: { 'x-beta': '1' } })).counts, { b: 10 });
});

t('an invalid definition is rejected with a precise error; its last good version and the others keep serving', async () => {
  const good = versionOf('main');
  await fx.write('main', gatewayYaml('main', pMain, { v1: { weight: 60, targets: [ups.a!.port] }, v2: { weight: 50, targets: [ups.b!.port] } }));
  const s = await fx.waitStatus((st) => st.problems.some((p) => p.name === 'main'), 'main reported invalid');
  const problem = s.problems.find((p) => p.name === 'main')!;
  // The agent's status names the line and column in the stored file.
  assert.match(problem.errors.join('\n'), /main\.yaml:\d+:\d+: routes\.v2\.weight: weights add up to 110%, must be 100%/);
  assert.is(problem.servingVersion, good);
  assert.is(versionOf('main'), good);
  const r = await tally(url(pMain), 20);
  assert.equal(r.failures, []);
  // Another gateway still applies while main is broken.
  await writeAndWait('other', gatewayYaml('other', pOther, { only: { weight: 100, targets: [ups.c!.port] } }));
  const o = await tally(url(pOther), 10);
  assert.equal(o.counts, { c: 10 });
  const metrics = await fx.agent.metrics.registry.getSingleMetricAsString('weir_gateways_invalid');
  assert.match(metrics, /weir_gateways_invalid 1/);
});

t('a definition HAProxy refuses is isolated: the others still apply', async () => {
  await fx.write('bad', gatewayYaml('bad', pBad, { x: { weight: 100, targets: [ups.a!.port], extra: 'condition: < no_such_fetch_xyz(1) -m found >' } }));
  await writeAndWait('fresh', gatewayYaml('fresh', pNew, { x: { weight: 100, targets: [ups.d!.port] } }));
  const s = await fx.waitStatus((st) => st.problems.some((p) => p.name === 'bad'), 'bad reported');
  assert.match(s.problems.find((p) => p.name === 'bad')!.errors.join('\n'), /bad\.yaml: haproxy: .*no_such_fetch_xyz/);
  assert.equal((await tally(url(pNew), 5)).counts, { d: 5 });
  assert.ok(!s.applied.some((a) => a.name === 'bad'));
  const refused = await get(url(pBad)).then(() => 'open', () => 'refused');
  assert.is(refused, 'refused');
});

t("a gateway on a port the agent's own listeners hold is refused: HAProxy would share that port", async () => {
  // HAProxy binds two frontends on one port with SO_REUSEPORT and splits connections between them.
  await fx.write('thief', gatewayYaml('thief', fx.monitorPort, { x: { weight: 100, targets: [ups.a!.port] } }));
  const s = await fx.waitStatus((st) => st.problems.some((p) => p.name === 'thief'), 'thief reported');
  assert.match(s.problems.find((p) => p.name === 'thief')!.errors.join('\n'), new RegExp(`thief\\.yaml: port: port ${fx.monitorPort} is reserved for HAProxy's monitor frontend \\(WEIR_MONITOR_PORT\\)`));
  assert.ok(!s.applied.some((a) => a.name === 'thief'));
  assert.equal(s.reservedPorts.map((r) => r.port).sort(), [fx.monitorPort, fx.vhostPort].sort());
  // Every monitor request still reaches the monitor frontend.
  for (let i = 0; i < 10; i++) assert.is((await get(`http://127.0.0.1:${fx.monitorPort}/health`)).status, 200);
  await fx.remove('thief');
  await fx.waitStatus((st) => !st.problems.some((p) => p.name === 'thief'), 'thief gone');
});

t('deleting a gateway file removes the gateway', async () => {
  await fx.remove('fresh');
  await fx.waitStatus((s) => !s.applied.some((a) => a.name === 'fresh') && !s.pendingReload, 'fresh removed');
  await waitFor(async () => (await get(url(pNew)).then(() => false, () => true)), { what: 'port closed' });
  await fx.agent.idle();
  const { existsSync } = await import('node:fs');
  assert.not.ok(existsSync(`${fx.stateDir}/maps/fresh.weights.map`), 'the removed gateway leaves no map file behind');
  assert.ok(existsSync(`${fx.stateDir}/maps/main.weights.map`));
});

t.run();
