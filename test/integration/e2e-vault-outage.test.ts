// End to end on the Vault KV v2 double: control API + two agents with real HAProxy. Vault goes
// away: the API answers 503 store_unavailable (writes and reads), the agents keep serving what
// they run and say the store is down in /status; Vault back: the API works and the agents
// pick up the next change.
import { join } from 'node:path';
import { VaultKv2Double } from '../doubles/vault-kv2.js';
import { Cleanup, gatewayBody, gwPath, launchE2EAgent, scratch, startE2EControl, until, waitApplied, type E2EAgent } from '../harness/e2e.js';
import { tally } from '../harness/http.js';
import { freePort } from '../harness/ports.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('e2e: Vault down and back (API 503, agents keep serving)');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

t('Vault down: API 503 store_unavailable, agents serve and report the outage; back: a new change applies', async () => {
  const dir = await scratch(cleanup);
  const vault = new VaultKv2Double({ mount: 'secret' });
  await vault.start();
  cleanup.add(() => vault.stop());
  process.env.VAULT_ADDR = vault.url; // launchAgent opens the store from process.env
  process.env.VAULT_TOKEN = 'root';
  const control = await startE2EControl({ store: 'vault:secret', stateDir: join(dir, 'control'), env: { VAULT_ADDR: vault.url, VAULT_TOKEN: 'root' } });
  cleanup.add(() => control.close());
  const v1 = await httpUpstream('v1');
  const v2 = await httpUpstream('v2');
  cleanup.add(() => v1.close());
  cleanup.add(() => v2.close());
  const agents: E2EAgent[] = [];
  for (const [i, bind] of ['127.0.0.2', '127.0.0.3'].entries()) {
    const a = await launchE2EAgent({ id: `node-${i + 1}`, bind, store: 'vault:secret', stateDir: join(dir, `agent-${i + 1}`), pollIntervalMs: 300 });
    cleanup.add(() => a.stop());
    agents.push(a);
  }
  const port = await freePort('127.0.0.2');
  const path = gwPath('default', 'default', 'shop');

  const created = await control.api('PUT', path, { body: gatewayBody(port, { v1: { weight: 100, target: v1.port }, v2: { weight: 0, target: v2.port } }) });
  assert.is(created.status, 201, created.text);
  await waitApplied(agents, 'shop', created.json.version);
  for (const a of agents) assert.equal((await tally(`http://${a.bind}:${port}/`, 10, { concurrency: 2 })).counts, { v1: 10 }, `${a.id} serves v1`);

  await vault.stop();
  for (const [method, p, body] of [
    ['PUT', `${path}/weights`, { v1: 0, v2: 100 }],
    ['PUT', path, gatewayBody(port, { v1: { weight: 0, target: v1.port }, v2: { weight: 100, target: v2.port } })],
    ['GET', path, undefined],
    ['GET', gwPath('default', 'default'), undefined],
  ] as const) {
    const r = await control.api(method, p, body === undefined ? {} : { body });
    assert.is(r.status, 503, `${method} ${p}: ${r.text}`);
    assert.is(r.json?.error?.code, 'store_unavailable', r.text);
    // Names the store and the cause, e.g. "store vault:http://127.0.0.1:PORT/secret unavailable: … ECONNREFUSED".
    assert.match(r.json?.error?.message ?? '', /^store vault:http:\/\/127\.0\.0\.1:\d+\/secret unavailable: .*ECONNREFUSED/, r.text);
  }
  // The agents notice at their next poll and say so; HAProxy keeps the last config.
  for (const a of agents) {
    const s = await until(async () => {
      const st = await a.status();
      return st.store.ok === false ? st : null;
    }, { what: `${a.id} reports the store outage`, timeoutMs: 5000 });
    assert.type(s.store.error, 'string');
    assert.ok((s.store.error ?? '').length > 0, `${a.id} store error: ${s.store.error}`);
    assert.is(s.applied.find((x) => x.name === 'shop')?.version, created.json.version, `${a.id} keeps the applied version`);
    assert.ok(s.haproxy.running, `${a.id} HAProxy still running`);
    const r = await tally(`http://${a.bind}:${port}/`, 20, { concurrency: 4 });
    assert.equal(r.failures, [], `${a.id} serves during the outage: ${r.failures.join('; ')}`);
    assert.equal(r.counts, { v1: 20 });
  }

  await vault.start();
  const back = await until(async () => {
    const r = await control.api('PUT', `${path}/weights`, { body: { v1: 0, v2: 100 } });
    return r.status === 200 ? r : null;
  }, { what: 'API writes again', timeoutMs: 5000 });
  assert.is((await control.api('GET', path)).status, 200);
  await waitApplied(agents, 'shop', back.json.version);
  for (const a of agents) {
    assert.ok((await a.status()).store.ok, `${a.id} store ok again`);
    assert.equal((await tally(`http://${a.bind}:${port}/`, 10, { concurrency: 2 })).counts, { v2: 10 }, `${a.id} serves v2`);
  }
});

t.run();
