// TLS from Vault, end to end: the control API (Vault KV v2 double with deploy/vault's control
// policy, NATS) stores a certificate as a KV v2 secret; an agent (the agent policy: read only)
// serves it by SNI; a rotation through the API under TLS load reaches the agent over NATS and is
// applied on the same worker with no failed handshake; an expired upload is refused and changes
// nothing; the agent's token cannot write certificates.
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { loadVaultPolicy, VaultKv2Double } from '../doubles/vault-kv2.js';
import { createPki } from '../harness/certs.js';
import { Cleanup, gwPath, launchE2EAgent, scratch, startE2EControl, until, waitApplied } from '../harness/e2e.js';
import { LoadGenerator } from '../harness/load.js';
import { MasterClient } from '../../agent/haproxy/master-client.js';
import { startNatsServer } from '../harness/nats.js';
import { freePort } from '../harness/ports.js';
import { httpUpstream } from '../harness/upstream.js';
import { sleep } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('e2e: TLS certificates from Vault (API → Vault → NATS → agent → HAProxy)');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

t('store, serve, rotate under load through the API; refuse an expired one', async () => {
  const dir = await scratch(cleanup);
  const policies = join(process.cwd(), 'deploy', 'vault');
  const vault = new VaultKv2Double({
    mount: 'secret',
    tokens: {
      'agent-token': { rules: loadVaultPolicy(join(policies, 'weir-agent-policy.hcl')), policies: ['weir-agent'] },
      'control-token': { rules: loadVaultPolicy(join(policies, 'weir-control-policy.hcl')), policies: ['weir-control'] },
    },
  });
  await vault.start();
  cleanup.add(() => vault.stop());
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const control = await startE2EControl({ store: 'vault:secret', natsUrl: nats.url, stateDir: join(dir, 'control'), env: { VAULT_ADDR: vault.url, VAULT_TOKEN: 'control-token' } });
  cleanup.add(() => control.close());
  process.env.VAULT_ADDR = vault.url;
  process.env.VAULT_TOKEN = 'agent-token';
  const agent = await launchE2EAgent({ id: 'node-1', bind: '127.0.0.2', store: 'vault:secret', stateDir: join(dir, 'agent'), natsUrl: nats.url, pollIntervalMs: 60_000, env: { VAULT_TOKEN: 'agent-token' } });
  cleanup.add(() => agent.stop());
  const up = await httpUpstream('shop');
  cleanup.add(() => up.close());
  const pki = await createPki(join(dir, 'pki'));
  const port = await freePort('127.0.0.2');
  const ca = pki.rootPem + pki.intermediatePem;

  const first = await pki.issue({ cn: 'shop.test', dns: ['shop.test'] });
  const put = await control.api('PUT', '/api/v1/namespaces/default/default/certificates/shop', { body: { certificate: first.chain, key: first.key } });
  assert.is(put.status, 201, put.text);
  // A KV v2 secret with the {format, body} envelope: chain then key.
  const secret = vault.peek('weir/default/default/certificates/shop') as { format: string; body: string };
  assert.is(secret.format, 'pem');
  assert.match(secret.body, /END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----/);
  const gw = await control.api('PUT', gwPath('default', 'default', 'shop'), { body: { port, tls: { certificates: ['shop'] }, routes: { v1: { targets: [`127.0.0.1:${up.port}`] } } } });
  assert.is(gw.status, 201, gw.text);
  await waitApplied([agent], 'shop', gw.json.version);

  const served = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.2', port, servername: 'shop.test', ca }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.end();
      });
      s.once('error', reject);
    });
  await until(async () => (await served().catch(() => '')) === new X509Certificate(first.cert).fingerprint256, { what: 'first certificate served', timeoutMs: 15_000 });
  // The worker serving new connections and the master's reload count: an old worker leaving
  // (its last connection closed) is not a reload.
  const workers = async (): Promise<{ current: number[]; reloads: number }> => {
    const m = new MasterClient({ socket: join(dir, 'agent', 'master.sock') });
    try {
      const p = await m.showProc();
      return { current: p.workers.filter((w) => w.reloads === 0).map((w) => w.pid), reloads: p.master.reloads };
    } finally {
      m.close();
    }
  };
  await until(async () => !(await agent.status()).pendingReload, { what: 'settled' });
  const pids = await workers();

  const load = new LoadGenerator(`https://127.0.0.2:${port}/`, { concurrency: 4, newConnection: true, servername: 'shop.test', ca });
  for (let i = 0; i < 3; i++) {
    const next = await pki.issue({ cn: 'shop.test', dns: ['shop.test'] });
    const t0 = Date.now();
    const r = await control.api('PUT', '/api/v1/namespaces/default/default/certificates/shop', { body: { certificate: next.chain, key: next.key } });
    assert.is(r.status, 200, r.text);
    // NATS tells the agent: no waiting for the 60 s poll.
    await until(async () => (await served()) === new X509Certificate(next.cert).fingerprint256, { what: `rotation ${i + 1}`, timeoutMs: 10_000, intervalMs: 20 });
    assert.ok(Date.now() - t0 < 10_000);
    await sleep(200);
  }
  const s = await load.stop();
  assert.equal(s.reasons, {}, `failures: ${JSON.stringify(s.reasons)}`);
  assert.ok(s.ok > 20, `${s.ok} handshakes`);
  assert.equal(await workers(), pids, 'same worker, no reload');

  const expired = await pki.issue({ cn: 'shop.test', dns: ['shop.test'], start: new Date('2022-01-01'), end: new Date('2022-02-01') });
  const before = (vault.peek('weir/default/default/certificates/shop') as { body: string }).body;
  const bad = await control.api('PUT', '/api/v1/namespaces/default/default/certificates/shop', { body: { certificate: expired.chain, key: expired.key } });
  assert.is(bad.status, 400);
  assert.match(bad.json.error.message, /certificate "shop": .*expired on 2022-02-01/);
  assert.is((vault.peek('weir/default/default/certificates/shop') as { body: string }).body, before);

  // The agent's policy reads certificates and writes nothing.
  const w = await fetch(`${vault.url}/v1/secret/data/weir/default/default/certificates/shop`, { method: 'POST', headers: { 'x-vault-token': 'agent-token' }, body: JSON.stringify({ data: { format: 'pem', body: 'x' } }) });
  assert.is(w.status, 403);
  assert.not.match(JSON.stringify(await agent.status()), /PRIVATE KEY/);
});

t.run();
