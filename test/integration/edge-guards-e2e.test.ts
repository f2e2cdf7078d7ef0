// End to end (control API + nats-server + agents with real HAProxy, one file store):
// deletions through the control API are announced on NATS by name and never held back, even six
// at once; a mass removal the agent holds shows in GET …/agents (from its heartbeat); two agent
// processes reporting one agent id are listed separately and named as duplicates.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Cleanup, gatewayBody, gwPath, launchE2EAgent, scratch, startE2EControl, storeFile, until, type E2EAgent } from '../harness/e2e.js';
import { startNatsServer } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('e2e: guards (announced deletions, mass removal in GET agents, duplicate agent ids)');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

interface AgentsReply {
  agents: Array<{ agentId: string; instance?: { id: string; pid: number }; duplicate?: boolean; health: string; massRemoval?: { removing: string[]; message: string } | null }>;
  duplicates: Array<{ agentId: string; instances: unknown[]; message: string }>;
}

t('six deletions through the API at once are applied at once; a wipe around the API is held and shown; duplicate ids are reported', async () => {
  const dir = await scratch(cleanup);
  const root = join(dir, 'store');
  const gwDir = join(root, 'default', 'default', 'gateways');
  await mkdir(gwDir, { recursive: true });
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const control = await startE2EControl({ store: storeFile(root), natsUrl: nats.url, stateDir: join(dir, 'control') });
  cleanup.add(() => control.close());
  const up = await httpUpstream('up');
  cleanup.add(() => up.close());
  const agent = await launchE2EAgent({ id: 'node-1', bind: '127.0.0.2', store: storeFile(root), stateDir: join(dir, 'a1'), natsUrl: nats.url, env: { WEIR_MASS_REMOVAL_HOLD_MS: '60000' } });
  cleanup.add(() => agent.stop());
  const ports = await freePorts(6, '127.0.0.2');
  const names = ports.map((_, i) => `g${i}`);
  const createAll = async (): Promise<void> => {
    for (const [i, n] of names.entries()) {
      const r = await control.api('PUT', gwPath('default', 'default', n), { body: gatewayBody(ports[i] ?? 0, { v1: { weight: 100, target: up.port } }) });
      assert.ok(r.status === 201 || r.status === 200, r.text);
    }
    await until(async () => (await agent.status()).applied.length === 6, { what: 'six applied', timeoutMs: 15_000 });
  };
  await createAll();

  // 1. Deletions through the API, all at once: announced by name, never held (the hold is 60 s).
  const dels = await Promise.all(names.map((n) => control.api('DELETE', gwPath('default', 'default', n))));
  assert.equal(dels.map((d) => d.status), [204, 204, 204, 204, 204, 204]);
  const s = await until(async () => {
    const st = await agent.status();
    return st.applied.length === 0 ? st : null;
  }, { what: 'all six removed without a hold', timeoutMs: 10_000 });
  assert.is(s.massRemoval, null);
  assert.not.match(await agent.metrics(), /weir_agent_mass_removal_events_total\{event="released"\}/);

  // 2. The files vanish around the API: held, and the control API shows it from the heartbeat.
  await createAll();
  for (const n of names) for (const ext of ['json', 'yaml']) await rm(join(gwDir, `${n}.${ext}`), { force: true });
  const held = await until(async () => {
    const r = await control.api('GET', '/api/v1/namespaces/default/default/agents');
    const a = (r.json as AgentsReply).agents.find((x) => x.agentId === 'node-1');
    return a?.massRemoval ? a : null;
  }, { what: 'massRemoval in GET agents', timeoutMs: 10_000 });
  assert.equal(held.massRemoval?.removing, names);
  assert.is(held.health, 'degraded');
  assert.is((await agent.status()).applied.length, 6);

  // 3. A second process with the same agent id: both listed, flagged, named.
  const twin: E2EAgent = await launchE2EAgent({ id: 'node-1', bind: '127.0.0.3', store: storeFile(root), stateDir: join(dir, 'a2'), natsUrl: nats.url });
  cleanup.add(() => twin.stop());
  const dup = await until(async () => {
    const r = (await control.api('GET', '/api/v1/namespaces/default/default/agents')).json as AgentsReply;
    return r.duplicates.length === 1 && r.agents.length === 2 ? r : null;
  }, { what: 'duplicate agent id reported', timeoutMs: 10_000 });
  assert.is(dup.duplicates[0]?.agentId, 'node-1');
  assert.match(dup.duplicates[0]?.message ?? '', /2 agent processes report the agent id "node-1".*give each its own WEIR_AGENT_ID/);
  assert.ok(dup.agents.every((a) => a.duplicate === true && a.health === 'degraded'));
  assert.is(new Set(dup.agents.map((a) => a.instance?.id)).size, 2);
  await twin.stop();
  await until(async () => ((await control.api('GET', '/api/v1/namespaces/default/default/agents')).json as AgentsReply).duplicates.length === 0, { what: 'duplicate over after the twin went quiet', timeoutMs: 15_000 });
});

t.run();
