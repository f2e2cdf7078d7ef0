// The guards against a store that lies (mass removals held until the store keeps its answer,
// announced deletions never held) and two processes under one agent id (reported, not merged),
// as pure bookkeeping with a fake clock. The real-agent side is in
// test/integration/edge-mass-removal.test.ts.
import { Registry } from 'prom-client';
import type { AgentStatusEvent } from '../../events/contract.js';
import { MassRemovalGuard } from '../../agent/guards/mass-removal.js';
import { agentSubjectToken, NatsAgentStatusSource } from '../../control/nats-agent-status.js';
import { resolveSettings } from '../../agent/settings.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('edge guards: mass removal and duplicate agent ids (no HAProxy)');
let clock = 1_000_000;
const gws = (...names: string[]) => names.map((name) => ({ gateway: { name } }));
const names = (list: Array<{ gateway: { name: string } }>) => list.map((g) => g.gateway.name).sort();
const ten = gws('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j');

function guard(thresholdPercent = 50, holdMs = 60_000) {
  const registry = new Registry();
  return { g: new MassRemovalGuard({ thresholdPercent, holdMs, minGateways: 5 }, registry, () => clock), registry };
}

t('settings: defaults 50 % and 60 s; out-of-range values are refused with the variable name', () => {
  const s = resolveSettings({}, {}, 'h');
  assert.equal(s.edge.massRemoval, { thresholdPercent: 50, holdMs: 60_000, minGateways: 5 });
  assert.throws(() => resolveSettings({}, { WEIR_MASS_REMOVAL_THRESHOLD: '150' }, 'h'), /WEIR_MASS_REMOVAL_THRESHOLD: 150 is outside 0\.\.100/);
  assert.throws(() => resolveSettings({}, { WEIR_MASS_REMOVAL_HOLD_MS: 'soon' }, 'h'), /WEIR_MASS_REMOVAL_HOLD_MS: "soon" is not a whole number/);
});

t('fewer than 5 removals, or not more than the threshold, go ahead at once', () => {
  const { g } = guard();
  // 4 of 10 (40 %): under both limits.
  assert.equal(names(g.check(gws('a', 'b', 'c', 'd', 'e', 'f'), ten).desired), ['a', 'b', 'c', 'd', 'e', 'f']);
  // 5 of 10 = 50 %: not more than 50 %.
  assert.is(g.check(gws('a', 'b', 'c', 'd', 'e'), ten).held, null);
  // 4 of 4 = 100 % but only 4 gateways: everyday edits.
  assert.is(g.check([], gws('a', 'b', 'c', 'd')).held, null);
  assert.is(g.status(), null);
});

t('an (almost) empty answer is held, reported, and goes ahead only after the same answer for the hold time', async () => {
  const { g, registry } = guard();
  let v = g.check(gws('a'), ten);
  assert.equal(names(v.desired), names(ten), 'every served gateway keeps serving');
  assert.ok(v.held);
  assert.is(v.held?.removing.length, 9);
  assert.is(v.held?.percent, 90);
  assert.match(v.held?.message ?? '', /no longer lists 9 of the 10 served gateways \(90% > WEIR_MASS_REMOVAL_THRESHOLD 50%\)/);
  assert.is(g.msUntilRelease(), 60_000);
  assert.match(await registry.metrics(), /weir_agent_mass_removal_held_gateways 9/);
  clock += 30_000;
  v = g.check(gws('a'), ten);
  assert.ok(v.held, 'still held half-way');
  assert.is(g.msUntilRelease(), 30_000);
  clock += 30_000;
  v = g.check(gws('a'), ten);
  assert.is(v.held, null);
  assert.equal(v.released, ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.equal(names(v.desired), ['a']);
  const text = await registry.metrics();
  assert.match(text, /weir_agent_mass_removal_held_gateways 0/);
  assert.match(text, /weir_agent_mass_removal_events_total\{event="held"\} 1/);
  assert.match(text, /weir_agent_mass_removal_events_total\{event="released"\} 1/);
});

t('a different answer restarts the hold; the store answering as before cancels it', async () => {
  const { g, registry } = guard();
  g.check([], ten);
  clock += 50_000;
  // A flapping store: now 8 missing instead of 10. Not the same answer: the hold starts again.
  let v = g.check(gws('a', 'b'), ten);
  assert.is(v.held?.removing.length, 8);
  assert.is(g.msUntilRelease(), 60_000);
  clock += 59_000;
  assert.ok(g.check(gws('a', 'b'), ten).held);
  // Restored.
  v = g.check(ten, ten);
  assert.is(v.held, null);
  assert.is(v.released, null);
  assert.is(g.status(), null);
  assert.match(await registry.metrics(), /weir_agent_mass_removal_events_total\{event="cancelled"\} 2/);
});

t('deletions the control API announced are never held, and do not count towards the threshold', () => {
  const { g } = guard();
  for (const n of ['b', 'c', 'd', 'e', 'f', 'g']) g.noteAnnouncedDeletion(n);
  const v = g.check(gws('a', 'h', 'i', 'j'), ten);
  assert.is(v.held, null);
  assert.equal(names(v.desired), ['a', 'h', 'i', 'j']);
  // Announced ones plus an unannounced mass removal: only the unannounced part is held.
  const { g: g2 } = guard();
  for (const n of ['a', 'b']) g2.noteAnnouncedDeletion(n);
  const v2 = g2.check([], ten);
  assert.equal(v2.held?.removing, ['c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.equal(names(v2.desired), ['c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
});

t('threshold 100 turns the guard off; hold 0 releases on the next identical read', () => {
  const { g } = guard(100);
  assert.is(g.check([], ten).held, null);
  const { g: g0 } = guard(50, 0);
  assert.ok(g0.check([], ten).held);
  assert.equal(g0.check([], ten).released?.length, 10);
});

// ---- duplicate agent ids ----

const fakeConnector = { onUp: () => () => undefined, start: () => undefined };
const started = new Map<string, string>();
function ev(agentId: string, instance: string | null, pid = 100): AgentStatusEvent {
  if (instance && !started.has(instance)) started.set(instance, new Date(clock).toISOString());
  return {
    agentId,
    namespace: 'acme/prod',
    at: new Date(clock).toISOString(),
    intervalMs: 1000,
    ready: true,
    haproxyRunning: true,
    servingFromCache: false,
    storeOk: true,
    applied: [],
    problems: [],
    lastApplyAt: null,
    lastError: null,
    ...(instance ? { instance: { id: instance, pid, host: `host-${instance}`, startedAt: started.get(instance) ?? '' } } : {}),
  };
}
const send = (src: NatsAgentStatusSource, e: AgentStatusEvent): void => src.receive(`weir.acme.prod.agents.${agentSubjectToken(e.agentId)}.status`, new TextEncoder().encode(JSON.stringify(e)));

t('two live processes with one agent id are listed separately and reported as a duplicate', () => {
  const src = new NatsAgentStatusSource({ connector: fakeConnector, now: () => clock });
  send(src, ev('node-1', 'aaaa', 11));
  clock += 100;
  send(src, ev('node-1', 'bbbb', 22));
  send(src, ev('node-2', 'cccc'));
  clock += 400;
  send(src, ev('node-1', 'aaaa', 11));
  const agents = src.agents('acme/prod');
  assert.equal(agents.map((a) => [a.agentId, a.instance?.id, a.duplicate ?? false]), [['node-1', 'aaaa', true], ['node-1', 'bbbb', true], ['node-2', 'cccc', false]]);
  const dup = src.duplicates('acme/prod');
  assert.is(dup.length, 1);
  assert.is(dup[0]?.agentId, 'node-1');
  assert.match(dup[0]?.message ?? '', /2 agent processes report the agent id "node-1": pid 11 on host-aaaa .*, pid 22 on host-bbbb .*give each its own WEIR_AGENT_ID/);
  // One of them stops: after 3 missed beats it is quiet and the duplicate is over.
  for (let i = 0; i < 4; i++) {
    clock += 1000;
    send(src, ev('node-1', 'bbbb', 22));
  }
  assert.equal(src.agents('acme/prod').map((a) => [a.agentId, a.instance?.id, a.duplicate ?? false]), [['node-1', 'bbbb', false], ['node-2', 'cccc', false]]);
  assert.equal(src.duplicates('acme/prod'), []);
  src.close();
});

t('a restart (the old process stops, a new one starts with the same id) replaces the status at once', () => {
  const src = new NatsAgentStatusSource({ connector: fakeConnector, now: () => clock });
  send(src, ev('node-1', 'old'));
  clock += 200;
  send(src, ev('node-1', 'new'));
  assert.equal(src.agents('acme/prod').map((a) => [a.instance?.id, a.duplicate ?? false]), [['new', false]]);
  assert.equal(src.duplicates('acme/prod'), []);
  // Agents from before the instance field count as one instance, as before.
  send(src, ev('legacy', null));
  send(src, ev('legacy', null));
  assert.equal(src.agents('acme/prod').map((a) => a.agentId), ['legacy', 'node-1']);
  src.close();
});

t.run();
