// End to end: two tenants (acme/prod, umbrella/prod) on one file store, one control API with
// NATS, one agent per tenant with real HAProxy. A deployer of acme/prod cannot touch umbrella;
// acme's agent never serves umbrella's gateway; umbrella's change events never reach acme's agent.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Cleanup, gatewayBody, gwPath, launchE2EAgent, natsMessages, scratch, startE2EControl, storeFile, waitConverged } from '../harness/e2e.js';
import { get, tally } from '../harness/http.js';
import { startNatsServer } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('e2e: tenant isolation (tokens, agents, NATS subjects)');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

t('acme deployer 403 on umbrella; acme agent never serves umbrella; umbrella events do not sync acme', async () => {
  const dir = await scratch(cleanup);
  const root = join(dir, 'store');
  for (const org of ['acme', 'umbrella']) await mkdir(join(root, org, 'prod', 'gateways'), { recursive: true });
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const control = await startE2EControl({ store: storeFile(root), natsUrl: nats.url, stateDir: join(dir, 'control') });
  cleanup.add(() => control.close());
  const up = { acme: await httpUpstream('acme-v1'), umbrella: await httpUpstream('umbrella-v1') };
  cleanup.add(() => up.acme.close());
  cleanup.add(() => up.umbrella.close());
  const acmeAgent = await launchE2EAgent({ id: 'acme-1', bind: '127.0.0.2', namespace: 'acme/prod', store: storeFile(root), stateDir: join(dir, 'acme'), natsUrl: nats.url });
  cleanup.add(() => acmeAgent.stop());
  const umbAgent = await launchE2EAgent({ id: 'umbrella-1', bind: '127.0.0.3', namespace: 'umbrella/prod', store: storeFile(root), stateDir: join(dir, 'umbrella'), natsUrl: nats.url });
  cleanup.add(() => umbAgent.stop());
  const [acmePort = 0, umbPort = 0] = await freePorts(2, '127.0.0.2');

  const tok = await control.api('POST', '/api/v1/tokens', { body: { name: 'acme-ci', role: 'deployer', namespaces: ['acme/prod'] } });
  assert.is(tok.status, 201, tok.text);
  const acmeDeployer = (tok.json as { token: string }).token;

  const a = await control.api('PUT', gwPath('acme', 'prod', 'shop'), { token: acmeDeployer, body: gatewayBody(acmePort, { v1: { weight: 100, target: up.acme.port } }) });
  assert.is(a.status, 201, a.text);
  const u = await control.api('PUT', gwPath('umbrella', 'prod', 'vault'), { body: gatewayBody(umbPort, { v1: { weight: 100, target: up.umbrella.port } }) });
  assert.is(u.status, 201, u.text);
  await waitConverged(control, 'acme', 'prod', 'shop', a.json.version, 1);
  await waitConverged(control, 'umbrella', 'prod', 'vault', u.json.version, 1);

  // Tokens: acme's deployer sees nothing of umbrella.
  for (const [method, p, body] of [
    ['GET', gwPath('umbrella', 'prod'), undefined],
    ['GET', gwPath('umbrella', 'prod', 'vault'), undefined],
    ['GET', gwPath('umbrella', 'prod', 'vault', '/status'), undefined],
    ['PUT', gwPath('umbrella', 'prod', 'vault'), gatewayBody(umbPort, { v1: { weight: 100, target: up.acme.port } })],
    ['PUT', gwPath('umbrella', 'prod', 'vault', '/weights'), { v1: 100 }],
    ['DELETE', gwPath('umbrella', 'prod', 'vault'), undefined],
    ['GET', '/api/v1/namespaces/umbrella/prod/agents', undefined],
  ] as const) {
    const r = await control.api(method, p, { token: acmeDeployer, ...(body === undefined ? {} : { body }) });
    assert.is(r.status, 403, `${method} ${p}: ${r.text}`);
  }
  assert.is((await control.api('GET', gwPath('umbrella', 'prod', 'vault'))).headers.get('etag'), `"${u.json.version}"`, 'umbrella unchanged');

  // Agents: each serves only its own namespace.
  assert.equal((await acmeAgent.status()).applied.map((x) => x.name), ['shop']);
  assert.equal((await umbAgent.status()).applied.map((x) => x.name), ['vault']);
  assert.equal((await tally(`http://127.0.0.2:${acmePort}/`, 5, { concurrency: 1 })).counts, { 'acme-v1': 5 });
  assert.equal((await tally(`http://127.0.0.3:${umbPort}/`, 5, { concurrency: 1 })).counts, { 'umbrella-v1': 5 });
  const closed = await get(`http://127.0.0.2:${umbPort}/`).then(
    (r) => `answered HTTP ${r.status}`,
    (err: Error & { code?: string }) => err.code ?? err.message,
  );
  assert.is(closed, 'ECONNREFUSED', "umbrella's port is closed on acme's agent");

  // NATS: umbrella's change events never reach acme's agent.
  const acmeBefore = natsMessages(await acmeAgent.metrics(), 'change_received');
  const umbBefore = natsMessages(await umbAgent.metrics(), 'change_received');
  let last = u.json.version as string;
  for (const w of [40, 60, 100]) {
    const r = await control.api('PUT', gwPath('umbrella', 'prod', 'vault'), { body: gatewayBody(umbPort, { v1: { weight: w, target: up.umbrella.port }, ...(w < 100 ? { v2: { weight: 100 - w, target: up.umbrella.port } } : {}) }) });
    assert.is(r.status, 200, r.text);
    last = r.json.version;
  }
  await waitConverged(control, 'umbrella', 'prod', 'vault', last, 1);
  assert.ok(natsMessages(await umbAgent.metrics(), 'change_received') >= umbBefore + 1, 'umbrella agent heard its events');
  assert.is(natsMessages(await acmeAgent.metrics(), 'change_received'), acmeBefore, 'acme agent heard none of them');
  // Positive control: acme's own write is heard by acme's agent.
  const a2 = await control.api('PUT', gwPath('acme', 'prod', 'shop', '/weights'), { token: acmeDeployer, body: { v1: 100 } });
  assert.is(a2.status, 200, a2.text);
  await waitConverged(control, 'acme', 'prod', 'shop', a2.json.version, 1);
  assert.ok(natsMessages(await acmeAgent.metrics(), 'change_received') > acmeBefore, 'acme agent hears acme events');
  assert.equal((await acmeAgent.status()).applied.map((x) => x.name), ['shop'], 'still only acme');
});

t.run();
