// The run driver over an in-memory world with a fake clock: every path of a run (promotion,
// rollback, inconclusive, metrics outage, manual edits, restarts, operator actions, fencing)
// without real time passing. The end-to-end tests run the same against HAProxy and agents.
import { suite, assert } from '../harness/uvu.js';
import { releaseWorld } from '../harness/release-sim.js';
import { triggerCandidate } from '../../release/controller/metadata-trigger.js';
import { parseGateway } from '../../model/index.js';
import type { RunRecord } from '../../release/run-record.js';

import { ns, ctx } from '../harness/release-sim.js';

const POLICY = `
name: canary
interval: 10s
defaults: { minSamples: 50 }
conditions:
  - name: errors
    value: target.errorRate <= source.errorRate * 1.2 + 0.001
  - name: latency
    value: target.p95 <= max(source.p95 * 1.25, 50ms)
steps:
  - { name: five, source: { weight: 95 }, target: { weight: 5 }, endAfter: { duration: 30s } }
  - { name: half, source: { weight: 50 }, target: { weight: 50 }, endAfter: { duration: 30s } }
  - { name: full, source: { weight: 0 }, target: { weight: 100 }, endAfter: { duration: 20s } }
`;

const world = (policyText = POLICY) => releaseWorld(policyText);

const start = (w: ReturnType<typeof world>) => w.service.start(ctx, 'shop', { policy: 'canary', source: 'v1', target: 'v2' });

const t = suite('release driver');

t('a healthy v2 goes through every step to 100 % and the source stays at 0 %', async () => {
  const w = world();
  const created = await start(w);
  assert.is(created.phase, 'Pending');
  const done = await w.runFor(10 * 60_000, (r) => r.phase === 'Succeeded' && r.history);
  assert.is(done.phase, 'Succeeded');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 0, v2: 100 });
  assert.equal(
    done.transitions.filter((x) => x.kind === 'step-started').map((x) => x.step),
    [0, 1, 2],
  );
  assert.is(done.outcome?.code, 'passed');
  // The last step (source at 0 %) compared v2 with v1's pooled figures from the earlier steps.
  const last = done.measurements.at(-1);
  assert.ok(last?.source?.pooled, 'pooled source');
  assert.ok((last?.source?.requests ?? 0) > 100);
  // History holds the finished attempt.
  const hist = await w.service.history(ns, 'shop');
  assert.is(hist.releases.length, 1);
  const view = await w.service.get(ns, 'shop', done.id);
  assert.is(view.status.finished, true);
});

t('a v2 answering 5xx is rolled back at the first tick: v1 at 100 % again, phase Failed', async () => {
  const w = world();
  w.traffic.behaviour.v2 = { errorRate: 1, p95: 0.02 };
  await start(w);
  const done = await w.runFor(5 * 60_000, (r) => r.phase === 'Failed' && r.finish.state === 'done');
  assert.is(done.phase, 'Failed');
  assert.is(done.outcome?.code, 'condition-failed');
  assert.match(done.outcome?.reason ?? '', /condition errors failed 1 time in step five/);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 100, v2: 0 });
  assert.ok(done.transitions.some((x) => x.kind === 'rolled-back'));
  // Rolled back within one tick of the first whole window after the start.
  const startedAt = Date.parse(done.transitions.find((x) => x.kind === 'step-started')?.at ?? '');
  const rollback = w.gws.writes.find((x) => x.action === 'release.rollback');
  assert.ok(rollback && rollback.at - startedAt <= 2 * 10_000 + 2500 + 1000, `rolled back ${rollback ? rollback.at - startedAt : '?'} ms after the start`);
});

t('a slow v2 fails the latency condition', async () => {
  const w = world();
  w.traffic.behaviour.v2 = { errorRate: 0, p95: 0.4 };
  await start(w);
  const done = await w.runFor(5 * 60_000, (r) => r.phase === 'Failed' && r.finish.state === 'done');
  assert.match(done.outcome?.reason ?? '', /condition latency failed/);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 100, v2: 0 });
});

t('too little traffic pauses as Inconclusive and resumes by itself when traffic comes', async () => {
  const w = world();
  w.traffic.rate = 2; // v2 gets 0.1 rps at 5 %: far below 50 samples in 30 s
  await start(w);
  const paused = await w.runFor(3 * 60_000, (r) => r.phase === 'Paused');
  assert.equal(paused.pauseReasons.map((p) => p.reason), ['Inconclusive']);
  assert.match(paused.pauseReasons[0]?.detail ?? '', /target has \d+ of 50 requests/);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 95, v2: 5 }, 'never rolled back');
  w.traffic.rate = 200;
  const resumed = await w.runFor(5 * 60_000, (r) => r.step.index === 1);
  assert.is(resumed.pauseReasons.length, 0);
  assert.ok(resumed.transitions.some((x) => x.kind === 'resumed' && /Inconclusive cleared/.test(x.reason)));
});

t('metrics source down pauses (never rolls back) and resumes when it answers', async () => {
  const w = world();
  await start(w);
  await w.runFor(60_000, (r) => r.step.stage === 'Measure');
  w.traffic.down = true;
  const paused = await w.runFor(3 * 60_000, (r) => r.phase === 'Paused');
  assert.equal(paused.pauseReasons.map((p) => p.reason), ['MetricsUnavailable']);
  assert.ok(paused.measurements.at(-1)?.conditions.every((c) => c.verdict === 'Error'));
  await w.runFor(10 * 60_000);
  const still = await w.current();
  assert.is(still.phase, 'Paused', 'a long outage stays a pause');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 95, v2: 5 });
  w.traffic.down = false;
  const back = await w.runFor(2 * 60_000, (r) => r.phase === 'Progressing' && r.step.index === 1);
  assert.is(back.step.index, 1);
});

t('a restarted controller resumes the same step with its original start time and counters', async () => {
  const w = world();
  await start(w);
  const mid = await w.runFor(60_000, (r) => r.step.stage === 'Measure' && r.measurements.length >= 1);
  w.restart();
  const after = await w.runFor(15_000, (r) => r.measurements.length >= 2);
  assert.is(after.step.index, mid.step.index);
  assert.is(after.step.startedAt, mid.step.startedAt);
  assert.ok((after.step.counters.errors?.passed ?? 0) > (mid.step.counters.errors?.passed ?? 0));
  // The step's weights were written once, not again after the restart.
  assert.is(w.gws.writes.filter((x) => x.action === 'release.step').length, 1);
});

t('a manual weight edit pauses with ManualChange; resume re-applies the step', async () => {
  const w = world();
  await start(w);
  await w.runFor(60_000, (r) => r.step.stage === 'Measure');
  w.gws.setWeights(ns, 'shop', { v1: 70, v2: 30 });
  const paused = await w.runFor(30_000, (r) => r.phase === 'Paused');
  assert.equal(paused.pauseReasons.map((p) => p.reason), ['ManualChange']);
  assert.match(paused.pauseReasons[0]?.detail ?? '', /v1 has weight 70%, the step says 95%/);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 70, v2: 30 }, 'the controller did not fight the person');
  await w.service.act(ctx, 'shop', paused.id, 'resume', undefined);
  await w.runFor(5_000, (r) => r.step.stage === 'Measure');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 95, v2: 5 });
});

t('gate: confirm waits for approve; abort restores the snapshot; retry from a step; promote skips the rest', async () => {
  const w = world(POLICY.replace('endAfter: { duration: 30s } }\n  - { name: half', 'endAfter: { duration: 30s } }\n  - { name: half, gate: confirm'));
  const run = await start(w);
  const gated = await w.runFor(5 * 60_000, (r) => r.phase === 'Paused');
  assert.equal(gated.pauseReasons.map((p) => p.reason), ['AwaitingApproval']);
  assert.is(gated.step.index, 1);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 95, v2: 5 }, 'the gate holds the previous step');
  const bad = await w.service.act(ctx, 'shop', run.id, 'resume', undefined).catch((e: Error & { code?: string }) => e.code);
  assert.is(bad, 'not_paused');
  await w.service.act(ctx, 'shop', run.id, 'approve', { reason: 'looks fine' });
  await w.runFor(5_000, (r) => r.step.index === 1 && r.step.stage === 'Measure');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 50, v2: 50 });
  await w.service.act(ctx, 'shop', run.id, 'abort', { reason: 'stop' });
  const aborted = await w.runFor(5_000, (r) => r.finish.state === 'done');
  assert.is(aborted.phase, 'Aborted');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 100, v2: 0 });
  const retried = await w.service.act(ctx, 'shop', run.id, 'retry', { fromStep: 2 });
  assert.is(retried.attempt, 2);
  assert.is(retried.step.index, 2);
  await w.runFor(5_000, (r) => r.step.stage === 'Measure');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 0, v2: 100 });
  await w.service.act(ctx, 'shop', run.id, 'abort', undefined);
  await w.runFor(5_000, (r) => r.finish.state === 'done');
  await w.service.act(ctx, 'shop', run.id, 'retry', { fromStep: 0 });
  await w.runFor(5_000, (r) => r.step.stage === 'Measure');
  await w.service.act(ctx, 'shop', run.id, 'promote', undefined);
  const promoted = await w.runFor(5_000, (r) => r.finish.state === 'done');
  assert.is(promoted.phase, 'Succeeded');
  assert.is(promoted.outcome?.code, 'promoted');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 0, v2: 100 });
  const again = await w.service.act(ctx, 'shop', run.id, 'abort', undefined).catch((e: Error & { code?: string }) => e.code);
  assert.is(again, 'release_finished');
});

t('start: 409 while a run is in progress, 400 for a missing route or policy, other routes with weight', async () => {
  const w = world();
  await start(w);
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error & { code?: string; status?: number }) => `${e.status} ${e.code}`);
  assert.is(await code(start(w)), '409 release_in_progress');
  const w2 = world();
  assert.is(await code(w2.service.start(ctx, 'shop', { policy: 'canary', source: 'v1', target: 'v3' })), '400 unknown_route');
  assert.is(await code(w2.service.start(ctx, 'shop', { policy: 'nope', source: 'v1', target: 'v2' })), '400 unknown_release_policy');
  assert.is(await code(w2.service.start(ctx, 'nope', { policy: 'canary', source: 'v1', target: 'v2' })), '404 gateway_not_found');
  assert.is(await code(w2.service.start(ctx, 'shop', { policy: 'canary', source: 'v1' })), '400 invalid_request');
  w2.gws.create(ns, 'three', { a: 80, b: 0, c: 20 });
  assert.is(await code(w2.service.start(ctx, 'three', { policy: 'canary', source: 'a', target: 'b' })), '400 other_routes_have_weight');
});

t('a later policy edit never changes a running release (it pinned a copy and hash)', async () => {
  const w = world();
  const run = await start(w);
  w.store.put(ns, 'release-policies', 'canary', POLICY.replace('duration: 30s } }\n  - { name: half', 'duration: 1h } }\n  - { name: half'), 'yaml');
  const done = await w.runFor(10 * 60_000, (r) => r.phase === 'Succeeded');
  assert.is(done.policy.hash, run.policy.hash);
});

t('fencing: a record written under a newer lease epoch is left alone', async () => {
  const w = world();
  await start(w);
  await w.runFor(20_000, (r) => r.step.stage === 'Measure');
  const newer = w.makeDriver({ isLeader: () => true, epoch: 5 });
  w.setDriver(newer);
  const taken = await w.runFor(60_000, (r) => r.controllerEpoch === 5);
  assert.is(taken.controllerEpoch, 5);
  const old = w.makeDriver({ isLeader: () => true, epoch: 1 });
  w.setDriver(old);
  const r = await w.drive();
  assert.is(r.result, 'fenced');
});

t('agents that do not apply the step hold its clock; AgentsNotConverged after the deadline', async () => {
  const w = world(POLICY.replace('interval: 10s', 'interval: 10s\nprogressDeadline: 20s'));
  w.agents.lagging = true;
  await start(w);
  const held = await w.runFor(60_000, (r) => r.phase === 'Paused');
  assert.equal(held.pauseReasons.map((p) => p.reason), ['AgentsNotConverged']);
  assert.is(held.step.startedAt, null);
  w.agents.lagging = false;
  const going = await w.runFor(5_000, (r) => r.step.stage === 'Measure');
  assert.is(going.phase, 'Progressing');
});

t('Vamp trigger: metadata names the policy; the new weight-0 route is released from the 100 % route', () => {
  const g = (yaml: string) => {
    const r = parseGateway(yaml, { source: 'x', format: 'yaml' });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.gateway;
  };
  const gw = g('name: shop\nport: 80\nmetadata: {release.vamp.io/policy: canary}\nroutes:\n  v1: {weight: 100%, targets: ["1.1.1.1:80"]}\n  v2: {weight: 0%, targets: ["1.1.1.2:80"]}\n');
  assert.equal(triggerCandidate(gw, null), { policy: 'canary', source: 'v1', target: 'v2' });
  const marked = g('name: shop\nport: 80\nmetadata: {release.vamp.io/policy: canary, release.vamp.io/current: "(v1)"}\nroutes:\n  v1: {weight: 50%, targets: ["1.1.1.1:80"]}\n  v2: {weight: 50%, targets: ["1.1.1.2:80"]}\n  v3: {weight: 0%, targets: ["1.1.1.3:80"]}\n');
  assert.equal(triggerCandidate(marked, null), { policy: 'canary', source: 'v1', target: 'v3' });
  const last = { source: 'v1', target: 'v2', phase: 'Failed', finish: { state: 'done' } } as RunRecord;
  assert.is(triggerCandidate(gw, last), null, 'a rolled-back route does not re-trigger');
  const plain = g('name: shop\nport: 80\nroutes:\n  v1: {weight: 100%, targets: ["1.1.1.1:80"]}\n  v2: {weight: 0%, targets: ["1.1.1.2:80"]}\n');
  assert.is(triggerCandidate(plain, null), null);
});

t.run();
