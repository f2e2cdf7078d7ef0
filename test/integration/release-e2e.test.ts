// Releases end to end: real nats-server, the control API with its release controller (as
// `weir control` runs it), a real agent with HAProxy and telemetry publishing window aggregates
// on NATS, upstreams that answer 200, 500 or slowly, and a load generator. Seven gateways are
// released at once, one per behaviour:
//   good    a healthy v2 is promoted through every step to 100 %, v1 stays at 0 %
//   bad     a v2 answering 5xx is rolled back; v1 serves 100 % again
//   slow    a slow v2 fails the latency condition
//   thin    too little traffic pauses as Inconclusive; it resumes when traffic comes
//   manual  a weight edit by hand pauses the run (ManualChange); resume re-applies the step
//   ops     gate: confirm waits for approve; abort restores v1; retry from a step; promote
//   vamp    Vamp's trigger: metadata names the policy and a new route at weight 0 → the controller starts its release
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import type { ReleaseEvent } from '../../events/contract.js';
import { Cleanup, gwPath, launchE2EAgent, scratch, startE2EControl, storeFile, type E2EControl } from '../harness/e2e.js';
import { startNatsServer } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { behaviourUpstream, current, policyPath, relPath, setRunDiagnostics, startLoad, waitRun, type BehaviourUpstream, type Load, type RunJson } from '../harness/release-e2e.js';
import { waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const ORG = 'acme';
const ENV = 'prod';
const POLICY = `
name: e2e
interval: 10s
defaults: { minSamples: 20 }
conditions:
  - { name: errors, value: target.errorRate <= source.errorRate * 1.2 + 0.001 }
  - { name: latency, value: 'target.p95 <= max(source.p95 * 1.5, 100ms)' }
steps:
  - { name: twenty, source: { weight: 80 }, target: { weight: 20 }, endAfter: { duration: 10s } }
  - { name: full, source: { weight: 0 }, target: { weight: 100 }, endAfter: { duration: 10s } }
`;
const GATED = POLICY.replace('name: e2e', 'name: gated').replace("{ name: full, source", '{ name: full, gate: confirm, source');

const t = suite('releases end to end (HAProxy, agent, NATS, traffic)');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

interface Gw {
  name: string;
  port: number;
  v1: BehaviourUpstream;
  v2: BehaviourUpstream;
  load: Load;
}

async function weights(c: E2EControl, name: string): Promise<Record<string, number>> {
  const r = await c.api('GET', gwPath(ORG, ENV, name));
  const routes = (r.json as { routes: Record<string, { weight: string | number }> }).routes;
  return Object.fromEntries(Object.entries(routes).map(([k, v]) => [k, Number.parseInt(String(v.weight), 10)]));
}

/** Share of v1's answers over the next `ms` of traffic. */
async function shareOver(g: Gw, upstream: string, ms: number): Promise<number> {
  const since = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return g.load.share(upstream, since);
}

t('seven gateways released at once: promoted, rolled back on 5xx and on latency, paused for thin traffic, paused for a hand edit, operated by hand, started by Vamp\'s metadata trigger', async () => {
  const dir = await scratch(cleanup, 'weir-release-e2e-');
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const store = storeFile(join(dir, 'store'));
  const control = await startE2EControl({ store, natsUrl: nats.url, stateDir: join(dir, 'control'), releases: true, env: { WEIR_RELEASE_SWEEP_MS: '1000' } });
  cleanup.add(() => control.close());
  const agent = await launchE2EAgent({ id: 'agent-1', bind: '127.0.0.2', namespace: `${ORG}/${ENV}`, store, stateDir: join(dir, 'agent'), natsUrl: nats.url, env: { WEIR_TELEMETRY: 'on' } });
  cleanup.add(() => agent.stop());
  setRunDiagnostics(async () => {
    const st = await agent.status();
    return `agent: ${JSON.stringify({ applied: st.applied.map((a) => `${a.name}@${a.version}`), lastError: st.lastError, store: st.store, pendingReload: st.pendingReload, lastApply: st.lastApply })}; gateway versions: ${JSON.stringify(Object.fromEntries(await Promise.all([...gws.keys()].map(async (n) => [n, (await control.api('GET', gwPath(ORG, ENV, n))).headers.get('etag') ?? '?']))))}`;
  });
  cleanup.add(() => setRunDiagnostics(undefined));
  const nc: NatsConnection = await connect({ servers: nats.url });
  cleanup.add(() => nc.close());
  const events: ReleaseEvent[] = [];
  nc.subscribe(`weir.${ORG}.${ENV}.releases.*`, { callback: (_e, m) => events.push(JSON.parse(new TextDecoder().decode(m.data)) as ReleaseEvent) });

  for (const [name, text] of [['e2e', POLICY], ['gated', GATED]] as const) {
    const r = await control.api('PUT', policyPath(ORG, ENV, name), { body: text });
    assert.is(r.status, 201, r.text);
  }
  const behaviours = { good: {}, bad: { status: 500 }, slow: { delayMs: 300 }, thin: {}, manual: {}, ops: {}, vamp: {} } as const;
  const names = Object.keys(behaviours) as Array<keyof typeof behaviours>;
  const ports = await freePorts(names.length, '127.0.0.2');
  const gws = new Map<string, Gw>();
  for (const [i, name] of names.entries()) {
    const v1 = await behaviourUpstream(`${name}-v1`);
    const v2 = await behaviourUpstream(`${name}-v2`, { ...behaviours[name] });
    cleanup.add(() => v1.close());
    cleanup.add(() => v2.close());
    const port = ports[i] as number;
    const routes = { v1: { weight: 100, targets: [`127.0.0.1:${v1.port}`] }, v2: { weight: 0, targets: [`127.0.0.1:${v2.port}`] } };
    // vamp: the policy in the metadata and v2 deployed at weight 0 (a route no run used yet): the controller starts its release.
    const body = name === 'vamp' ? { port, metadata: { 'release.vamp.io/policy': 'e2e' }, routes } : { port, routes };
    const put = await control.api('PUT', gwPath(ORG, ENV, name), { body });
    assert.is(put.status, 201, put.text);
    gws.set(name, { name, port, v1, v2, load: undefined as unknown as Load });
  }
  await waitFor(async () => (await agent.status()).applied.length === names.length, { what: 'agent serves every gateway', timeoutMs: 20_000 });
  for (const g of gws.values()) {
    g.load = startLoad(`http://127.0.0.2:${g.port}/`, g.name === 'thin' ? 0.5 : 40);
    cleanup.add(() => g.load.stop());
  }
  const gw = (n: string): Gw => gws.get(n) as Gw;

  const started: Record<string, RunJson> = {};
  for (const name of names.filter((n) => n !== 'vamp')) {
    const r = await control.api('POST', relPath(ORG, ENV, name), { body: { policy: name === 'ops' ? 'gated' : 'e2e', source: 'v1', target: 'v2' } });
    assert.is(r.status, 201, r.text);
    started[name] = r.json as RunJson;
  }
  const again = await control.api('POST', relPath(ORG, ENV, 'good'), { body: { policy: 'e2e', source: 'v1', target: 'v2' } });
  assert.is(again.status, 409, 'one run per gateway');


  // manual: once step 0 runs, a person sets other weights: the run pauses, the person wins.
  await waitRun(control, ORG, ENV, 'manual', (r) => r.step.stage === 'Measure', 'step 0 measuring', 30_000);
  const edit = await control.api('PUT', gwPath(ORG, ENV, 'manual', '/weights'), { body: { v1: 60, v2: 40 } });
  assert.is(edit.status, 200, edit.text);

  // bad: rolled back; all traffic on v1 again.
  const bad = await waitRun(control, ORG, ENV, 'bad', (r) => r.finish.state === 'done', 'rolled back', 90_000);
  assert.is(bad.phase, 'Failed');
  assert.is(bad.outcome?.code, 'condition-failed');
  assert.match(bad.outcome?.reason ?? '', /condition errors failed/);
  assert.equal(await weights(control, 'bad'), { v1: 100, v2: 0 });
  assert.is(await shareOver(gw('bad'), 'bad-v1', 1500), 1, 'v1 serves 100 % again');
  // The step's window opened when the agent had the weights, after the write; no earlier request counted.
  const started0 = bad.transitions.find((x) => x.kind === 'step-started');
  assert.ok(started0 && bad.measurements.every((m) => Date.parse((m as unknown as { window: { from: string } }).window.from) >= Date.parse(started0.at)));
  assert.ok((bad.measurements.at(-1)?.agents.contributed ?? 0) >= 1, 'the agent contributed windows');

  const slow = await waitRun(control, ORG, ENV, 'slow', (r) => r.finish.state === 'done', 'rolled back on latency', 90_000);
  assert.is(slow.phase, 'Failed');
  assert.match(slow.outcome?.reason ?? '', /condition latency failed/);
  assert.equal(await weights(control, 'slow'), { v1: 100, v2: 0 });

  const manual = await waitRun(control, ORG, ENV, 'manual', (r) => r.pauseReasons.some((p) => p.reason === 'ManualChange'), 'ManualChange', 30_000);
  assert.match(manual.pauseReasons[0]?.detail ?? '', /v1 has weight 60%, the step says 80%/);
  assert.equal(await weights(control, 'manual'), { v1: 60, v2: 40 }, 'the controller did not fight the person');
  assert.is((await control.api('POST', relPath(ORG, ENV, 'manual', `/${manual.id}/resume`))).status, 200);
  await waitFor(async () => (await weights(control, 'manual')).v1 === 80, { what: 'resume re-applies the step', timeoutMs: 10_000 });

  const vamp = await waitRun(control, ORG, ENV, 'vamp', (r) => r.transitions.some((x) => x.kind === 'step-started'), 'the metadata trigger started a run and its first step', 30_000);
  assert.equal([vamp.trigger, vamp.source, vamp.target], ['metadata', 'v1', 'v2']);
  assert.match(vamp.transitions[0]?.actor ?? '', /metadata trigger/);
  assert.match(vamp.transitions.find((x) => x.kind === 'step-started')?.reason ?? '', /step 0 \(twenty\): 1 live agent applied .* \(80\/20\)/, "the policy's first step, through the same write path");

  // thin: not enough requests at the end of step 0 → Inconclusive pause, never a rollback.
  const thin = await waitRun(control, ORG, ENV, 'thin', (r) => r.pauseReasons.some((p) => p.reason === 'Inconclusive'), 'Inconclusive', 60_000);
  assert.match(thin.pauseReasons.find((p) => p.reason === 'Inconclusive')?.detail ?? '', /has \d+ of 20 requests|no requests on target/);
  assert.equal(await weights(control, 'thin'), { v1: 80, v2: 20 });
  gw('thin').load.rate = 40;
  await waitRun(control, ORG, ENV, 'thin', (r) => r.step.index === 1 || r.phase === 'Succeeded', 'resumed by itself when traffic came', 60_000);

  // ops: the gate holds step 1 until approved; then abort, retry from step 1, promote.
  const gated = await waitRun(control, ORG, ENV, 'ops', (r) => r.pauseReasons.some((p) => p.reason === 'AwaitingApproval'), 'waiting at the gate', 60_000);
  assert.is(gated.step.index, 1);
  assert.equal(await weights(control, 'ops'), { v1: 80, v2: 20 }, 'the gate holds the previous step');
  assert.is((await control.api('POST', relPath(ORG, ENV, 'ops', `/${gated.id}/approve`), { body: { reason: 'looks good' } })).status, 200);
  await waitFor(async () => (await weights(control, 'ops')).v2 === 100, { what: 'approved step applied', timeoutMs: 10_000 });
  assert.is((await control.api('POST', relPath(ORG, ENV, 'ops', `/${gated.id}/abort`))).status, 200);
  const aborted = await waitRun(control, ORG, ENV, 'ops', (r) => r.finish.state === 'done', 'aborted and rolled back', 10_000);
  assert.is(aborted.phase, 'Aborted');
  assert.equal(await weights(control, 'ops'), { v1: 100, v2: 0 });
  assert.is(await shareOver(gw('ops'), 'ops-v1', 1000), 1);
  const retried = await control.api('POST', relPath(ORG, ENV, 'ops', `/${gated.id}/retry`), { body: { fromStep: 0 } });
  assert.is(retried.status, 200, retried.text);
  await waitRun(control, ORG, ENV, 'ops', (r) => r.attempt === 2 && r.step.stage === 'Measure', 'retry measuring', 20_000);
  assert.is((await control.api('POST', relPath(ORG, ENV, 'ops', `/${gated.id}/promote`))).status, 200);
  const promoted = await waitRun(control, ORG, ENV, 'ops', (r) => r.finish.state === 'done', 'promoted', 10_000);
  assert.equal([promoted.phase, promoted.outcome?.code], ['Succeeded', 'promoted']);
  assert.equal(await weights(control, 'ops'), { v1: 0, v2: 100 });

  // good: every step, to 100 %; v1 kept in the gateway at 0 %.
  const good = await waitRun(control, ORG, ENV, 'good', (r) => r.phase === 'Succeeded' && r.finish.state === 'done', 'promoted through every step', 120_000);
  assert.equal(good.transitions.filter((x) => x.kind === 'step-started').map((x) => x.step), [0, 1]);
  assert.equal(await weights(control, 'good'), { v1: 0, v2: 100 });
  assert.is(await shareOver(gw('good'), 'good-v2', 1000), 1, 'v2 serves everything');
  const last = good.measurements.at(-1);
  assert.ok(last?.source && (last.source as unknown as { pooled: boolean }).pooled, 'the 100 % step compared v2 with v1 from the earlier steps');

  // Events on NATS, metrics and audit.
  await waitFor(() => events.some((e) => e.gateway === 'good' && e.kind === 'succeeded'), { what: 'succeeded event', timeoutMs: 5000 });
  const kinds = events.filter((e) => e.gateway === 'bad').map((e) => e.kind);
  assert.ok(['created', 'step-started', 'failed', 'rolled-back'].every((k) => kinds.includes(k as ReleaseEvent['kind'])), kinds.join(','));
  const metrics = (await control.api('GET', '/metrics', { token: null })).text;
  assert.match(metrics, /weir_release_outcomes_total\{result="Failed",reason="condition-failed"\} 2/);
  assert.match(metrics, /weir_release_phase\{namespace="acme\/prod",gateway="good",phase="Succeeded"\} 1/);
  assert.match(metrics, /weir_release_step\{namespace="acme\/prod",gateway="good"\} 1/);
  const history = await control.api('GET', relPath(ORG, ENV, 'ops'));
  assert.is((history.json as { releases: unknown[] }).releases.length, 1, 'one run, two attempts');
  assert.ok((await current(control, ORG, ENV, 'ops')).transitions.some((x) => x.kind === 'retried'));
});

t.run();
