// The production metrics path and its outage: agents ship their windows to Elasticsearch (the
// contract double in test/doubles/) and the controller judges from `weir-metrics-*`. Elasticsearch
// goes away mid-release: the run pauses with MetricsUnavailable and is never rolled back, traffic
// keeps its split, and when Elasticsearch is back (the agents' spools re-send what it missed) the
// run resumes by itself and finishes.
import { join } from 'node:path';
import { startElasticsearchDouble } from '../doubles/elasticsearch.js';
import { Cleanup, gwPath, launchE2EAgent, scratch, startE2EControl, storeFile } from '../harness/e2e.js';
import { startNatsServer } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { behaviourUpstream, policyPath, relPath, startLoad, waitRun } from '../harness/release-e2e.js';
import { waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const ORG = 'acme';
const ENV = 'prod';
const POLICY = `
name: e2e
interval: 10s
defaults: { minSamples: 20, consecutiveErrorLimit: 1 }
conditions:
  - { name: errors, value: target.errorRate <= source.errorRate * 1.2 + 0.001 }
steps:
  - { name: twenty, source: { weight: 80 }, target: { weight: 20 }, endAfter: { duration: 20s } }
`;

const t = suite('releases judged from Elasticsearch; Elasticsearch down mid-step');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

t('pauses with MetricsUnavailable, never rolls back, resumes when the backend is back', async () => {
  const dir = await scratch(cleanup, 'weir-release-outage-');
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const es = await startElasticsearchDouble();
  cleanup.add(() => es.stop());
  const store = storeFile(join(dir, 'store'));
  const control = await startE2EControl({ store, natsUrl: nats.url, stateDir: join(dir, 'control'), releases: true, env: { WEIR_ELASTICSEARCH_URL: es.url, WEIR_RELEASE_METRICS_SOURCE: 'elasticsearch' } });
  cleanup.add(() => control.close());
  const agent = await launchE2EAgent({ id: 'agent-1', bind: '127.0.0.2', namespace: `${ORG}/${ENV}`, store, stateDir: join(dir, 'agent'), natsUrl: nats.url, pollIntervalMs: 1000, env: { WEIR_TELEMETRY: 'on', WEIR_ELASTICSEARCH_URL: es.url } });
  cleanup.add(() => agent.stop());
  const v1 = await behaviourUpstream('v1');
  const v2 = await behaviourUpstream('v2');
  cleanup.add(() => v1.close());
  cleanup.add(() => v2.close());
  const [port = 0] = await freePorts(1, '127.0.0.2');
  assert.is((await control.api('PUT', gwPath(ORG, ENV, 'shop'), { body: { port, routes: { v1: { weight: 100, targets: [`127.0.0.1:${v1.port}`] }, v2: { weight: 0, targets: [`127.0.0.1:${v2.port}`] } } } })).status, 201);
  assert.is((await control.api('PUT', policyPath(ORG, ENV, 'e2e'), { body: POLICY })).status, 201);
  await waitFor(async () => (await agent.status()).applied.length === 1, { what: 'agent serves shop', timeoutMs: 20_000 });
  const load = startLoad(`http://127.0.0.2:${port}/`, 40);
  cleanup.add(() => load.stop());
  assert.is((await control.api('POST', relPath(ORG, ENV, 'shop'), { body: { policy: 'e2e', source: 'v1', target: 'v2' } })).status, 201);
  await waitRun(control, ORG, ENV, 'shop', (r) => r.step.stage === 'Measure' && r.measurements.some((m) => m.error === null), 'step 0 judged', 60_000);

  assert.ok((es.requests.get('search') ?? 0) > 0, 'judged from Elasticsearch');
  await es.stop();
  const paused = await waitRun(control, ORG, ENV, 'shop', (r) => r.pauseReasons.some((p) => p.reason === 'MetricsUnavailable'), 'MetricsUnavailable', 60_000);
  assert.is(paused.phase, 'Paused');
  assert.ok(paused.measurements.at(-1)?.conditions.every((c) => c.verdict === 'Error'));
  // Past the step's duration and the error limit: still paused, never rolled back.
  await new Promise((r) => setTimeout(r, 5000));
  const still = await waitRun(control, ORG, ENV, 'shop', () => true, 'read', 5000);
  assert.is(still.phase, 'Paused');
  assert.is(still.finish.state, 'none');
  const since = Date.now();
  await new Promise((r) => setTimeout(r, 1000));
  const share = load.share('v2', since);
  assert.ok(share > 0.05 && share < 0.4, `traffic keeps the step's split during the outage (v2 ${share})`);

  await es.start();
  const done = await waitRun(control, ORG, ENV, 'shop', (r) => r.phase === 'Succeeded' && r.finish.state === 'done', 'resumed and finished', 120_000);
  assert.ok(done.transitions.some((x) => x.kind === 'resumed' && /MetricsUnavailable cleared/.test(x.reason)));
  assert.ok(!done.transitions.some((x) => x.kind === 'rolled-back'));
});

t.run();
