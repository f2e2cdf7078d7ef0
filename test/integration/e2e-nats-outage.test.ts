// End to end: NATS killed and restarted under the control API and two agents with real HAProxy.
// The store is the Vault KV v2 double: Vault has no watch, so an agent only learns of a change by
// polling or by a NATS event (a file store would be watched and hide what NATS does).
//   node-fast polls every 1 s: converges during the outage by polling.
//   node-slow polls every 10 min: converges only by NATS (events, or the re-sync after reconnect).
import { join } from 'node:path';
import { connect } from 'nats';
import { subjects } from '../../events/contract.js';
import { VaultKv2Double } from '../doubles/vault-kv2.js';
import { Cleanup, gatewayBody, gwPath, launchE2EAgent, natsMessages, scratch, startE2EControl, until, waitApplied, waitConverged, type E2EAgent, type GatewayStatusReply } from '../harness/e2e.js';
import { tally } from '../harness/http.js';
import { startNatsServer } from '../harness/nats.js';
import { freePort } from '../harness/ports.js';
import { waitFor } from '../harness/tmp.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('e2e: NATS down and back (API → outbox → agents)');
const cleanup = new Cleanup();
t.after(() => cleanup.run());
const ns = { org: 'default', env: 'default' };
const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);

t('writes succeed with NATS down, polling converges, the outbox flushes, events converge again', async () => {
  const dir = await scratch(cleanup);
  const vault = new VaultKv2Double({ mount: 'secret' });
  await vault.start();
  cleanup.add(() => vault.stop());
  // launchAgent opens the store from process.env.
  process.env.VAULT_ADDR = vault.url;
  process.env.VAULT_TOKEN = 'root';
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const control = await startE2EControl({ store: 'vault:secret', natsUrl: nats.url, stateDir: join(dir, 'control'), env: { VAULT_ADDR: vault.url, VAULT_TOKEN: 'root' } });
  cleanup.add(() => control.close());
  const v1 = await httpUpstream('v1');
  const v2 = await httpUpstream('v2');
  cleanup.add(() => v1.close());
  cleanup.add(() => v2.close());
  const common = { store: 'vault:secret', natsUrl: nats.url, heartbeatIntervalMs: 300 };
  const fast = await launchE2EAgent({ ...common, id: 'node-fast', bind: '127.0.0.2', stateDir: join(dir, 'fast'), pollIntervalMs: 1000 });
  cleanup.add(() => fast.stop());
  const slow = await launchE2EAgent({ ...common, id: 'node-slow', bind: '127.0.0.3', stateDir: join(dir, 'slow'), pollIntervalMs: 600_000 });
  cleanup.add(() => slow.stop());
  const agents: E2EAgent[] = [fast, slow];
  const port = await freePort('127.0.0.2');
  const weights = gwPath('default', 'default', 'shop', '/weights');

  const created = await control.api('PUT', gwPath('default', 'default', 'shop'), { body: gatewayBody(port, { v1: { weight: 100, target: v1.port }, v2: { weight: 0, target: v2.port } }) });
  assert.is(created.status, 201, created.text);
  await waitConverged(control, 'default', 'default', 'shop', created.json.version, 2);

  // --- NATS down ----------------------------------------------------------------------------
  await nats.stop();
  const during = await control.api('PUT', weights, { body: { v1: 50, v2: 50 } });
  assert.is(during.status, 200, `write with NATS down: ${during.text}`);
  const m1 = await control.api('GET', '/metrics', { token: null });
  assert.ok(metric(m1.text, 'weir_control_nats_outbox_depth') >= 1, 'the change waits in the outbox');
  // node-fast converges by polling the store.
  await waitApplied([fast], 'shop', during.json.version, 10_000);
  // node-slow (10 min poll) has no way to learn of it yet.
  assert.is(await slow.applied('shop'), created.json.version, 'no event, no poll: node-slow keeps the old version');
  // The status endpoint: the last heartbeats, turning quiet after 3 missed beats → not converged.
  const stale = await until(
    async () => {
      const r = await control.api('GET', gwPath('default', 'default', 'shop', '/status'));
      const s = r.json as GatewayStatusReply;
      return r.status === 200 && s.agents.length === 2 && s.agents.every((a) => a.quiet) ? s : null;
    },
    { what: 'status with both agents quiet', timeoutMs: 5000 },
  );
  assert.is(stale.version, during.json.version, 'the status endpoint reads the current version from the store');
  assert.is(stale.converged, false, 'no live agent: not converged');
  assert.equal(
    stale.agents.map((a) => a.appliedVersion),
    [created.json.version, created.json.version],
    'what the agents last said before NATS went away (node-fast has applied the new one meanwhile, unheard)',
  );
  // Traffic keeps flowing on both agents.
  for (const a of agents) assert.equal((await tally(`http://${a.bind}:${port}/`, 10, { concurrency: 2 })).failures, [], `${a.id} serves during the outage`);

  // --- NATS back ----------------------------------------------------------------------------
  await nats.restart();
  await waitFor(async () => metric((await control.api('GET', '/metrics', { token: null })).text, 'weir_control_nats_outbox_depth') === 0, { what: 'outbox flushed', timeoutMs: 15_000 });
  // The outage's change is in the WEIR_CHANGES stream now.
  const nc = await connect({ servers: nats.url });
  cleanup.add(() => nc.close());
  const last = await (await nc.jetstreamManager()).streams.getMessage('WEIR_CHANGES', { last_by_subj: subjects.gatewaysChanged(ns) });
  assert.is((last.json() as { version: string }).version, during.json.version, 'outbox delivered the change made while NATS was down');
  // Heartbeats return: both agents live, converged (node-slow re-synced on reconnect or by the flushed event).
  await waitConverged(control, 'default', 'default', 'shop', during.json.version, 2, 20_000);

  // A new write converges by the event alone on node-slow (its next poll is minutes away).
  const receivedBefore = natsMessages(await slow.metrics(), 'change_received');
  const after = await control.api('PUT', weights, { body: { v1: 0, v2: 100 } });
  assert.is(after.status, 200, after.text);
  await waitConverged(control, 'default', 'default', 'shop', after.json.version, 2);
  assert.ok(natsMessages(await slow.metrics(), 'change_received') > receivedBefore, 'node-slow heard the change event');
  for (const a of agents) assert.equal((await tally(`http://${a.bind}:${port}/`, 10, { concurrency: 2 })).counts, { v2: 10 }, `${a.id} serves v2`);
});

t.run();
