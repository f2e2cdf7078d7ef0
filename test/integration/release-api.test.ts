// The release API over HTTP: policies (validation with paths and columns, ETag/If-Match,
// YAML and JSON, Vamp's JSON translated, nothing written on bad input), runs (start, 409/400,
// actions, history), roles and tenants, and the OpenAPI document.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileStore } from '../../store/file-store.js';
import { packageRoot } from '../../runtime/package-root.js';
import { A, B, code, gatewayYaml, message, nsPath, startControl, type ControlFixture } from '../harness/control.js';
import { MemoryStore } from '../harness/release-sim.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

interface Ctx {
  dir: { path: string; remove: () => Promise<void> };
  fx: ControlFixture;
  docs: MemoryStore;
}

const example = (f: string) => readFileSync(join(packageRoot(), 'examples', 'release-policies', f), 'utf8');
const t = suite<Ctx>('release API');
t.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-release-api-');
  ctx.docs = new MemoryStore();
  ctx.fx = await startControl(new FileStore(ctx.dir.path), { releaseStore: ctx.docs });
  const gw = await ctx.fx.api('PUT', nsPath(A, '/gateways/shop'), { body: gatewayYaml(8080, { v1: 100, v2: 0 }) });
  assert.is(gw.status, 201, gw.text);
});
t.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.dir.remove();
});

t('policies: create from YAML, read as JSON and as the original YAML, replace with If-Match, list, delete', async ({ fx }) => {
  const path = nsPath(A, '/release-policies/canary');
  const created = await fx.api('PUT', path, { body: example('canary.yaml'), headers: { 'if-none-match': '*' } });
  assert.is(created.status, 201, created.text);
  const etag = created.headers.get('etag') as string;
  const body = created.json as { policy: { hash: string; steps: unknown[] } };
  assert.is(body.policy.steps.length, 3);
  assert.match(body.policy.hash, /^[0-9a-f]{64}$/);
  const yaml = await fx.api('GET', path, { headers: { accept: 'application/yaml' } });
  assert.is(yaml.text, example('canary.yaml'));
  const json = await fx.api('GET', path);
  assert.is((json.json as { name: string }).name, 'canary');
  assert.is(json.headers.get('etag'), etag);
  assert.is((await fx.api('GET', path, { headers: { 'if-none-match': etag } })).status, 304);
  const stale = await fx.api('PUT', path, { body: example('canary.yaml'), headers: { 'if-match': '"nope"' } });
  assert.is(stale.status, 409);
  assert.is(code(stale), 'version_conflict');
  const replaced = await fx.api('PUT', path, { body: example('canary.yaml').replace('interval: 30s', 'interval: 20s'), headers: { 'if-match': etag } });
  assert.is(replaced.status, 200, replaced.text);
  const list = await fx.api('GET', nsPath(A, '/release-policies'));
  assert.equal((list.json as { policies: Array<{ name: string; valid: boolean }> }).policies.map((p) => [p.name, p.valid]), [['canary', true]]);
  assert.is((await fx.api('DELETE', path, { headers: { 'if-match': '"x"' } })).status, 409);
  assert.is((await fx.api('DELETE', path)).status, 204);
  assert.is((await fx.api('GET', path)).status, 404);
  assert.ok(fx.audit.lines.some((r) => r.action === 'release-policy.create' && r.target === 'release-policy/acme/prod/canary'));
});

t('bad policies are 400 with the path and column, and nothing is written', async ({ fx, docs }) => {
  const path = nsPath(A, '/release-policies/p');
  const steps = [{ source: { weight: 90 }, target: { weight: 10 } }];
  const cases: Array<[unknown, string, RegExp]> = [
    [{ steps: [{ source: { weight: 90 }, target: { weight: 20 } }] }, 'invalid_release_policy', /policy "p": steps\[0\]\.target\.weight: source 90% \+ target 20% = 110%, must be 100%/],
    [{ steps: [{ source: { weight: 120 }, target: { weight: 0 } }] }, 'invalid_release_policy', /steps\[0\]\.source\.weight: source weight must be between 0 and 100/],
    [{ steps, conditions: [{ value: 'target.latency < 1' }] }, 'invalid_release_policy', /conditions\[0\]\.value: column 8: unknown metric "latency"/],
    [{ steps, conditions: [{ value: 'health >= baselines.floor' }] }, 'invalid_release_policy', /conditions\[0\]\.value: column 11: unknown baseline "floor"/],
    [{ steps, conditions: [{ value: 'target.p95 <=' }] }, 'invalid_release_policy', /conditions\[0\]\.value: column 14: unexpected end of expression/],
    [{ steps, interval: '25s' }, 'invalid_release_policy', /interval: "25s" is not a multiple of the 10 s aggregate window/],
    [{ steps, hookSecret: 'env:X', hooks: [{ name: 'h', type: 'event', url: 'file:///etc/passwd' }] }, 'invalid_release_policy', /hooks\[0\]\.url: "file:" is not allowed/],
    [{ steps, gracePeriod: 'a while' }, 'invalid_release_policy', /gracePeriod: "a while" is not a duration/],
    ['steps: [\n', 'invalid_yaml', /invalid YAML at line/],
  ];
  for (const [doc, want, re] of cases) {
    const r = await fx.api('PUT', path, { body: doc });
    assert.is(r.status, 400, `${JSON.stringify(doc)}: ${r.text}`);
    assert.is(code(r), want);
    assert.match(message(r), re);
  }
  const bad = await fx.api('PUT', path, { body: '{"steps": [{"source": {"weight": 1}}]}', contentType: 'application/json' });
  assert.is(bad.status, 400);
  assert.ok(Array.isArray((bad.json as { error: { details: unknown[] } }).error.details));
  assert.is(docs.writes, 0, 'nothing was written');
});

t("Vamp's policy JSON is accepted as written; the reply says how it was translated", async ({ fx }) => {
  const r = await fx.api('PUT', nsPath(A, '/release-policies/hotfix'), { body: example('vamp-hotfix.json'), contentType: 'application/json' });
  assert.is(r.status, 201, r.text);
  const b = r.json as { policy: { vamp: boolean; steps: Array<{ target: number }> }; notes: string[] };
  assert.is(b.policy.vamp, true);
  assert.equal(b.policy.steps.map((s) => s.target), [0, 0, 50, 100]);
  assert.ok(b.notes.some((n) => /onNoData: pass/.test(n)));
});

t('runs: start (201), 409 while one is in progress, 400 for a missing route or policy; pause, resume, abort', async ({ fx }) => {
  assert.is((await fx.api('PUT', nsPath(A, '/release-policies/canary'), { body: example('canary.yaml') })).status, 201);
  const rel = nsPath(A, '/gateways/shop/releases');
  const missing = await fx.api('POST', rel, { body: { policy: 'canary', source: 'v1', target: 'v9' } });
  assert.is(missing.status, 400);
  assert.is(code(missing), 'unknown_route');
  assert.is(code(await fx.api('POST', rel, { body: { policy: 'nope', source: 'v1', target: 'v2' } })), 'unknown_release_policy');
  assert.is(code(await fx.api('POST', rel, { body: { policy: 'canary', source: 'v1', target: 'v2', extra: 1 } })), 'invalid_request');
  assert.is((await fx.api('POST', nsPath(A, '/gateways/nope/releases'), { body: { policy: 'canary', source: 'v1', target: 'v2' } })).status, 404);
  const started = await fx.api('POST', rel, { token: fx.tok.deployerA, body: { policy: 'canary', source: 'v1', target: 'v2' } });
  assert.is(started.status, 201, started.text);
  const run = started.json as { id: string; phase: string; step: { index: number; name: string }; status: { step: { name: string; weights: unknown }; conditions: Array<{ name: string; verdict: string }> } };
  assert.is(run.phase, 'Pending');
  assert.equal([run.step.index, run.step.name], [0, 'canary-5']);
  assert.equal(run.status.step.weights, { source: 95, target: 5 });
  assert.equal(run.status.conditions.map((c) => [c.name, c.verdict]), [['errors', 'Pending'], ['latency', 'Pending']]);
  const again = await fx.api('POST', rel, { body: { policy: 'canary', source: 'v1', target: 'v2' } });
  assert.is(again.status, 409);
  assert.is(code(again), 'release_in_progress');

  const cur = await fx.api('GET', `${rel}/current`, { token: fx.tok.viewerA });
  assert.is(cur.status, 200);
  assert.is((cur.json as { id: string }).id, run.id);
  assert.is((await fx.api('GET', `${rel}/${run.id}`)).status, 200);
  assert.is((await fx.api('GET', `${rel}/r-nope`)).status, 404);

  const paused = await fx.api('POST', `${rel}/${run.id}/pause`, { body: { reason: 'lunch' } });
  assert.is(paused.status, 200, paused.text);
  assert.is((paused.json as { phase: string }).phase, 'Paused');
  assert.equal((paused.json as { pauseReasons: Array<{ reason: string }> }).pauseReasons.map((p) => p.reason), ['Manual']);
  const resumed = await fx.api('POST', `${rel}/${run.id}/resume`);
  assert.is((resumed.json as { phase: string }).phase, 'Pending');
  assert.is(code(await fx.api('POST', `${rel}/${run.id}/resume`)), 'not_paused');
  assert.is(code(await fx.api('POST', `${rel}/${run.id}/approve`)), 'nothing_to_approve');
  assert.is(code(await fx.api('POST', `${rel}/${run.id}/pause`, { body: { bogus: 1 } })), 'invalid_request');
  const aborted = await fx.api('POST', `${rel}/${run.id}/abort`);
  assert.is((aborted.json as { phase: string }).phase, 'Aborted');
  // No controller in this test: the rollback is still to be done, so retry waits for it.
  assert.is(code(await fx.api('POST', `${rel}/${run.id}/retry`, { body: { fromStep: 1 } })), 'rollback_in_progress');
  assert.is(code(await fx.api('POST', `${rel}/${run.id}/promote`)), 'release_finished');
  const hist = await fx.api('GET', rel);
  assert.is((hist.json as { releases: Array<{ id: string }> }).releases[0]?.id, run.id);
  const all = await fx.api('GET', nsPath(A, '/releases'));
  assert.equal((all.json as { releases: Array<{ gateway: string; phase: string }> }).releases.map((r) => [r.gateway, r.phase]), [['shop', 'Aborted']]);
  for (const action of ['release.start', 'release.pause', 'release.resume', 'release.abort']) assert.ok(fx.audit.lines.some((r) => r.action === action), action);
});

t('roles and tenants: viewers read only; another tenant can neither see nor act', async ({ fx }) => {
  await fx.api('PUT', nsPath(A, '/release-policies/canary'), { body: example('canary.yaml') });
  const rel = nsPath(A, '/gateways/shop/releases');
  const viewer = await fx.api('POST', rel, { token: fx.tok.viewerA, body: { policy: 'canary', source: 'v1', target: 'v2' } });
  assert.is(viewer.status, 403);
  assert.is((await fx.api('PUT', nsPath(A, '/release-policies/x'), { token: fx.tok.viewerA, body: example('canary.yaml').replace('name: canary', 'name: x') })).status, 403);
  const run = (await fx.api('POST', rel, { body: { policy: 'canary', source: 'v1', target: 'v2' } })).json as { id: string };
  for (const [method, p] of [
    ['GET', rel],
    ['GET', `${rel}/current`],
    ['GET', `${rel}/${run.id}`],
    ['POST', `${rel}/${run.id}/abort`],
    ['GET', nsPath(A, '/release-policies')],
    ['GET', nsPath(A, '/release-policies/canary')],
    ['GET', nsPath(A, '/releases')],
  ] as const) {
    const r = await fx.api(method, p, { token: fx.tok.deployerB });
    assert.is(r.status, 403, `${method} ${p}`);
  }
  // B's own namespace has no such release.
  assert.is((await fx.api('GET', nsPath(B, '/gateways/shop/releases/current'), { token: fx.tok.deployerB })).status, 404);
  assert.is((await fx.api('POST', `${rel}/${run.id}/pause`, { token: fx.tok.viewerA })).status, 403);
});

t('the OpenAPI document describes the release API with the run and policy schemas', async ({ fx }) => {
  const doc = (await fx.api('GET', '/api/v1/openapi.json', { token: null })).json as { paths: Record<string, Record<string, { operationId: string }>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
  const p = '/api/v1/namespaces/{org}/{env}/gateways/{name}/releases/{id}/retry';
  assert.is(doc.paths[p]?.post?.operationId, 'retryRelease');
  assert.ok(doc.paths['/api/v1/namespaces/{org}/{env}/release-policies/{name}']?.put);
  assert.ok(doc.components.schemas.ReleaseRun?.properties?.status);
  assert.ok(doc.components.schemas.ReleasePolicy?.properties?.steps);
});

t.run();
