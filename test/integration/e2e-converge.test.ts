// End to end: control API (with NATS) + nats-server + three agents with real HAProxy on one
// shared file store. A gateway created through the API converges on all three (the API's
// status endpoint says so, from the agents' NATS heartbeats) and serves v1 on every agent's
// bind address; a weights PUT shifts all three to v2 without a new HAProxy worker.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MasterClient } from '../../agent/haproxy/master-client.js';
import { Cleanup, gatewayBody, gwPath, launchE2EAgent, scratch, startE2EControl, storeFile, until, waitConverged, type E2EAgent } from '../harness/e2e.js';
import { tally } from '../harness/http.js';
import { startNatsServer } from '../harness/nats.js';
import { freePort } from '../harness/ports.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('e2e: converge and shift (API → NATS → three agents → HAProxy)');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

/**
 * The master's reload count and its current worker (old workers still draining from earlier
 * reloads come and go), once no reload is pending; the socket is briefly away while the master re-executes.
 */
const workers = async (a: E2EAgent): Promise<{ reloads: number; current: number[] }> => {
  await until(async () => !(await a.status()).pendingReload, { what: `${a.id}: no reload pending`, timeoutMs: 10_000 });
  return until(async () => {
    const m = new MasterClient({ socket: join(a.stateDir, 'master.sock') });
    try {
      const p = await m.showProc();
      return { reloads: p.master.reloads, current: p.workers.filter((w) => w.reloads === 0).map((w) => w.pid) };
    } finally {
      m.close();
    }
  }, { what: `${a.id}: master CLI`, timeoutMs: 10_000 });
};

t('create → converged → v1 everywhere; weights v2 100 → converged → v2 everywhere, same workers', async () => {
  const dir = await scratch(cleanup);
  const root = join(dir, 'store');
  await mkdir(join(root, 'default', 'default', 'gateways'), { recursive: true });
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const control = await startE2EControl({ store: storeFile(root), natsUrl: nats.url, stateDir: join(dir, 'control') });
  cleanup.add(() => control.close());
  const v1 = await httpUpstream('v1');
  const v2 = await httpUpstream('v2');
  cleanup.add(() => v1.close());
  cleanup.add(() => v2.close());
  const agents: E2EAgent[] = [];
  for (const [i, bind] of ['127.0.0.2', '127.0.0.3', '127.0.0.4'].entries()) {
    const a = await launchE2EAgent({ id: `node-${i + 1}`, bind, store: storeFile(root), stateDir: join(dir, `agent-${i + 1}`), natsUrl: nats.url });
    cleanup.add(() => a.stop());
    agents.push(a);
  }
  const port = await freePort('127.0.0.2');

  // A deployer token for default/*, issued by the admin through the API.
  const tok = await control.api('POST', '/api/v1/tokens', { body: { name: 'ci', role: 'deployer', namespaces: ['default/*'] } });
  assert.is(tok.status, 201, tok.text);
  const deployer = (tok.json as { token: string }).token;

  const created = await control.api('PUT', gwPath('default', 'default', 'shop'), { token: deployer, body: gatewayBody(port, { v1: { weight: 100, target: v1.port }, v2: { weight: 0, target: v2.port } }) });
  assert.is(created.status, 201, created.text);
  const st1 = await waitConverged(control, 'default', 'default', 'shop', created.json.version, 3);
  assert.equal(st1.agents.map((a) => a.agentId), ['node-1', 'node-2', 'node-3']);
  for (const a of agents) {
    assert.is((await a.status()).applied.find((x) => x.name === 'shop')?.version, created.json.version, `${a.id} /status`);
    const r = await tally(`http://${a.bind}:${port}/`, 20, { concurrency: 4 });
    assert.equal(r.failures, [], `${a.id}: ${r.failures.join('; ')}`);
    assert.equal(r.counts, { v1: 20 }, `${a.id} serves v1`);
  }
  const before = await Promise.all(agents.map(workers));

  const shifted = await control.api('PUT', gwPath('default', 'default', 'shop', '/weights'), { token: deployer, body: { v1: 0, v2: 100 } });
  assert.is(shifted.status, 200, shifted.text);
  assert.is.not(shifted.json.version, created.json.version);
  await waitConverged(control, 'default', 'default', 'shop', shifted.json.version, 3);
  for (const a of agents) {
    const r = await tally(`http://${a.bind}:${port}/`, 20, { concurrency: 4 });
    assert.equal(r.failures, [], `${a.id}: ${r.failures.join('; ')}`);
    assert.equal(r.counts, { v2: 20 }, `${a.id} serves v2`);
  }
  assert.equal(await Promise.all(agents.map(workers)), before, 'weights applied at runtime: same HAProxy workers');
});

t.run();
