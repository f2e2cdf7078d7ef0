// A store that lies, against a real agent with real HAProxy on the file store: the gateway
// files vanish (the directory stays, so it reads as "no gateways", not as an outage). The
// agent keeps serving, says so in /status and /metrics; a restored store cancels the hold; an
// answer kept for the hold time goes ahead; a restart into a lying store is held from the
// last-good cache. Deletions announced on NATS are exercised in edge-mass-removal-nats.test.ts.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { freePorts } from '../harness/ports.js';
import { get } from '../harness/http.js';
import { waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('edge: mass-removal guard with real HAProxy');
const N = 6;
let fx: AgentFixture;
let up: Upstream;
let ports: number[] = [];
const names = Array.from({ length: N }, (_, i) => `g${i}`);
const files = (): Record<string, string> => Object.fromEntries(names.map((n, i) => [`${n}.yaml`, gatewayYaml(n, ports[i] ?? 0, { v1: { targets: [up.port] } })]));
const serving = async (): Promise<number> => (await Promise.all(ports.map((p) => get(`http://127.0.0.1:${p}/`).then((r) => r.status === 200, () => false)))).filter(Boolean).length;
const wipe = async (): Promise<void> => {
  for (const n of names) await rm(join(fx.gatewaysDir, `${n}.yaml`), { force: true });
};
const restore = async (): Promise<void> => {
  for (const [f, body] of Object.entries(files())) await writeFile(join(fx.gatewaysDir, f), body);
};

t.before(async () => {
  up = await httpUpstream('up');
  ports = await freePorts(N);
  fx = await startAgent({ files: files(), env: { WEIR_MASS_REMOVAL_HOLD_MS: '60000' } });
  // A start-up wait, not a speed check: under full-suite load on Node 24 it once took over 15 s.
  await fx.waitStatus((s) => s.applied.length === N, 'all gateways applied', 45_000).catch((err: Error) => {
    const s = fx.status();
    throw new Error(`${err.message}: applied ${JSON.stringify(s.applied.map((a) => a.name))}, ready ${s.ready}, pendingReload ${s.pendingReload}, lastError ${JSON.stringify(s.lastError)}, store ${JSON.stringify(s.store)}`);
  });
});

t.after(async () => {
  await fx?.cleanup();
  await up?.close();
});

t('the files vanish: every gateway keeps serving, /status and /metrics say why; restored: the hold is cancelled', async () => {
  await wipe();
  const s = await fx.waitStatus((x) => x.massRemoval !== null, 'mass removal held');
  assert.equal(s.massRemoval?.removing, names);
  assert.is(s.massRemoval?.served, N);
  assert.match(s.massRemoval?.message ?? '', /no longer lists 6 of the 6 served gateways \(100% > WEIR_MASS_REMOVAL_THRESHOLD 50%\)/);
  // Several polls later, still held and still serving.
  const polls = async (): Promise<number> => Number(/weir_agent_syncs_total\{scope="namespace",result="ok"\} (\d+)/.exec(await fx.agent.metrics.registry.metrics())?.[1] ?? 0);
  const before = await polls();
  await waitFor(async () => (await polls()) >= before + 3, { what: 'three more store reads' });
  assert.is(fx.status().applied.length, N);
  assert.is(await serving(), N);
  assert.match(await fx.agent.metrics.registry.metrics(), /weir_agent_mass_removal_held_gateways 6/);

  await restore();
  await fx.waitStatus((x) => x.massRemoval === null, 'hold cancelled');
  assert.is(fx.status().applied.length, N);
  assert.match(await fx.agent.metrics.registry.metrics(), /weir_agent_mass_removal_events_total\{event="cancelled"\} 1/);
});

t('a few removals go ahead at once; an answer kept for the hold time goes ahead too', async () => {
  // Two of six: an everyday edit.
  await rm(join(fx.gatewaysDir, 'g0.yaml'));
  await rm(join(fx.gatewaysDir, 'g1.yaml'));
  await fx.waitStatus((x) => x.applied.length === N - 2 && x.massRemoval === null, 'two removed at once');
  await restore();
  await fx.waitStatus((x) => x.applied.length === N, 'restored');

  await fx.restart({ WEIR_MASS_REMOVAL_HOLD_MS: '1500' });
  await fx.waitStatus((x) => x.applied.length === N && x.ready, 'restarted');
  await wipe();
  const held = await fx.waitStatus((x) => x.massRemoval !== null, 'held');
  const since = Date.parse(held.massRemoval?.since ?? '');
  await fx.waitStatus((x) => x.applied.length === 0, 'removed after the hold', 15_000);
  assert.ok(Date.now() - since >= 1500, 'not before the hold time');
  assert.is(fx.status().massRemoval, null);
  assert.is(await serving(), 0);
  assert.match(await fx.agent.metrics.registry.metrics(), /weir_agent_mass_removal_events_total\{event="released"\} 1/);
});

t('an agent restarted into a store that lies keeps serving what its last-good cache says it served', async () => {
  await restore();
  await fx.waitStatus((x) => x.applied.length === N, 'restored');
  await fx.agent.idle();
  await waitFor(async () => JSON.parse(await readFile(join(fx.stateDir, 'last-good.json'), 'utf8')).body.entries.length === N, { what: 'cache written' });
  await fx.stop();
  await wipe();
  await fx.restart({ WEIR_MASS_REMOVAL_HOLD_MS: '60000' });
  const s = await fx.waitStatus((x) => x.ready && x.massRemoval !== null, 'held at start');
  assert.is(s.applied.length, N);
  assert.is(await serving(), N);
  await restore();
  await fx.waitStatus((x) => x.massRemoval === null, 'cancelled');
});

t.run();
