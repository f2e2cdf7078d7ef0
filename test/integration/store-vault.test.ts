import { join } from 'node:path';
import { StoreUnavailableError } from '../../store/store.js';
import { VersionConflictError } from '../../store/store-writer.js';
import { VaultRequestError, VaultStore } from '../../store/vault-store.js';
import { loadVaultPolicy, VaultKv2Double } from '../doubles/vault-kv2.js';
import { assert, suite } from '../harness/uvu.js';
import { writeFile } from 'node:fs/promises';
import { tempDir, waitFor } from '../harness/tmp.js';

const ns = { org: 'acme', env: 'prod' };
const policyDir = join(process.cwd(), 'deploy', 'vault');
const t = suite<{ vault: VaultKv2Double; stores: VaultStore[]; open: (token: string, extra?: object) => VaultStore }>('vault store');

t.before.each(async (ctx) => {
  ctx.vault = new VaultKv2Double({
    mount: 'secret',
    tokens: {
      root: { root: true },
      agent: { rules: loadVaultPolicy(join(policyDir, 'weir-agent-policy.hcl')), policies: ['weir-agent'], ttl: 1, renewable: true },
      control: { rules: loadVaultPolicy(join(policyDir, 'weir-control-policy.hcl')), policies: ['weir-control'] },
    },
  });
  await ctx.vault.start();
  ctx.stores = [];
  ctx.open = (token, extra = {}) => {
    const s = new VaultStore({ mount: 'secret', endpoint: ctx.vault.url, token, requestTimeoutMs: 2000, minRenewIntervalMs: 100, ...extra });
    ctx.stores.push(s);
    return s;
  };
});
t.after.each(async (ctx) => {
  await Promise.all(ctx.stores.map((s) => s.close()));
  await ctx.vault.stop();
});

const key = (name: string) => `weir/acme/prod/gateways/${name}`;

t('empty namespace lists as no gateways; control writes, agent reads byte-for-byte', async ({ open, vault }) => {
  const agent = open('agent');
  const control = open('control');
  assert.equal(await agent.list(ns), { entries: [], problems: [] });
  const body = '# keep me\nname: web\nport: 80\n';
  const v1 = await control.put(ns, 'web', body, 'yaml', { ifVersion: null });
  assert.is(v1.version, '1');
  await control.put(ns, 'api', '{"a":1}', 'json');
  vault.seed(key('Bad_Name'), { format: 'yaml', body: 'x' });
  vault.seed(key('junk'), { foo: 'bar' });
  const snap = await agent.list(ns);
  assert.equal(
    snap.entries.map((e) => [e.name, e.format, e.body, e.version, e.source]),
    [
      ['api', 'json', '{"a":1}', '1', 'vault:secret/weir/acme/prod/gateways/api'],
      ['web', 'yaml', body, '1', 'vault:secret/weir/acme/prod/gateways/web'],
    ],
  );
  assert.equal(snap.problems.map((p) => p.source.split('/').pop()), ['Bad_Name', 'junk']);
  // read: one key, as list reports it; problems carry the gateway name; absent is empty.
  assert.equal((await agent.read(ns, 'web')).entries, snap.entries.filter((e) => e.name === 'web'));
  assert.equal((await agent.read(ns, 'junk')).problems, [{ ...snap.problems[1], name: 'junk' }]);
  assert.equal(snap.problems[1]?.name, 'junk');
  assert.equal(await agent.read(ns, 'nope'), { entries: [], problems: [] });
  assert.match(snap.problems[1]?.message ?? '', /expected data \{"format"/);
  assert.equal(vault.peek(`${key('web')}`), { format: 'yaml', body });
  assert.equal(await control.listNamespaces(), [ns]);
});

t('check-and-set: create-only and stale versions raise VersionConflictError', async ({ open }) => {
  const control = open('control');
  await control.put(ns, 'web', 'a: 1\n', 'yaml', { ifVersion: null });
  const dup = await control.put(ns, 'web', 'a: 2\n', 'yaml', { ifVersion: null }).catch((e: unknown) => e);
  assert.instance(dup, VersionConflictError);
  assert.equal([(dup as VersionConflictError).expected, (dup as VersionConflictError).actual], [null, '1']);
  const v2 = await control.put(ns, 'web', 'a: 2\n', 'yaml', { ifVersion: '1' });
  assert.is(v2.version, '2');
  const stale = await control.put(ns, 'web', 'a: 3\n', 'yaml', { ifVersion: '1' }).catch((e: unknown) => e);
  assert.instance(stale, VersionConflictError);
  assert.match((stale as Error).message, /secret\/weir\/acme\/prod\/gateways\/web: expected version 1, found version 2/);
  const badDel = await control.delete(ns, 'web', { ifVersion: '1' }).catch((e: unknown) => e);
  assert.instance(badDel, VersionConflictError);
  assert.is(await control.delete(ns, 'web', { ifVersion: '2' }), true);
  assert.is(await control.get(ns, 'web'), null);
  assert.is(await control.delete(ns, 'web'), false);
});

t('soft-deleted keys read as absent; create over a soft-deleted key works', async ({ open, vault }) => {
  const control = open('control');
  await control.put(ns, 'web', 'a: 1\n', 'yaml');
  await control.put(ns, 'old', 'a: 1\n', 'yaml');
  // What `vault kv delete` does: DELETE on data/ (soft delete of the latest version).
  const res = await fetch(`${vault.url}/v1/secret/data/${key('old')}`, { method: 'DELETE', headers: { 'X-Vault-Token': 'root' } });
  assert.is(res.status, 204);
  const read = await fetch(`${vault.url}/v1/secret/data/${key('old')}`, { headers: { 'X-Vault-Token': 'root' } });
  assert.is(read.status, 404);
  const readBody = (await read.json()) as { data: { data: unknown; metadata: { deletion_time: string } } };
  assert.is(readBody.data.data, null);
  assert.ok(readBody.data.metadata.deletion_time);
  const snap = await open('agent').list(ns);
  assert.equal(snap.entries.map((e) => e.name), ['web']);
  assert.equal(snap.problems, []);
  assert.is(await control.get(ns, 'old'), null);
  const v = await control.put(ns, 'old', 'a: 2\n', 'yaml', { ifVersion: null });
  assert.is(v.version, '2');
});

t('a read-only token cannot write (403 names the policy problem)', async ({ open }) => {
  const agent = open('agent');
  const err = await agent.put(ns, 'web', 'a: 1\n', 'yaml').catch((e: unknown) => e);
  assert.instance(err, VaultRequestError);
  assert.is((err as VaultRequestError).status, 403);
  assert.match((err as Error).message, /HTTP 403: permission denied \(check the token/);
  const bad = await open('nope').list(ns).catch((e: unknown) => e);
  assert.instance(bad, StoreUnavailableError);
  assert.match((bad as Error).message, /HTTP 403: permission denied/);
});

t('503 and connection refused are StoreUnavailableError; recovery needs no new store', async ({ open, vault }) => {
  const agent = open('agent');
  await open('control').put(ns, 'web', 'a: 1\n', 'yaml');
  vault.failNext(1, 503);
  const sealed = await agent.list(ns).catch((e: unknown) => e);
  assert.instance(sealed, StoreUnavailableError);
  assert.match((sealed as Error).message, /HTTP 503: Vault is sealed/);
  // A 503 on one key read fails the whole list (a partial snapshot would drop gateways).
  vault.failNext(1, 503, /\/data\//);
  const partial = await agent.list(ns).catch((e: unknown) => e);
  assert.instance(partial, StoreUnavailableError);
  assert.match((partial as Error).message, /reading secret\/data\/weir\/acme\/prod\/gateways\/web: HTTP 503/);
  assert.is((await agent.list(ns)).entries.length, 1);
  await vault.stop();
  // Calls may first hit pooled keep-alive sockets the server closed (ECONNRESET), one per
  // socket the list opened; every failure is an outage and a fresh connection is refused.
  const seen: string[] = [];
  for (let i = 0; i < 20 && !seen.some((m) => m.includes('ECONNREFUSED')); i++) {
    const down = await agent.list(ns).catch((e: unknown) => e);
    assert.instance(down, StoreUnavailableError);
    seen.push((down as Error).message);
  }
  assert.ok(seen.some((m) => m.includes('ECONNREFUSED')), seen.join('\n'));
  await vault.start();
  assert.is((await agent.list(ns)).entries.length, 1);
});

t('token is looked up on start and renewed at ttl/2; renewal stops on close', async ({ open, vault }) => {
  const agent = open('agent', { namespace: 'team-a' });
  await agent.start();
  const tok = vault.tokens.get('agent');
  await waitFor(() => (tok?.renewals ?? 0) >= 2, { what: 'two renewals', timeoutMs: 4000 });
  assert.ok(agent.renewals >= 2);
  assert.ok(vault.requests.some((r) => r.path === '/v1/auth/token/lookup-self' && r.namespace === 'team-a'));
  await agent.close();
  const after = tok?.renewals ?? 0;
  await new Promise((r) => setTimeout(r, 800));
  assert.is(tok?.renewals, after);
  // Root tokens (ttl 0) are not renewed.
  const root = open('root');
  await root.start();
  assert.is(root.renewals, 0);
});

t('a bad version string is a conflict, not a crash', async ({ open }) => {
  const control = open('control');
  await control.put(ns, 'web', 'a: 1\n', 'yaml');
  const err = await control.put(ns, 'web', 'a: 1\n', 'yaml', { ifVersion: 'abc' }).catch((e: unknown) => e);
  assert.instance(err, VersionConflictError);
});

t('a wrong mount is an outage, not an empty namespace', async ({ vault }) => {
  const store = new VaultStore({ mount: 'nope', endpoint: vault.url, token: 'root' });
  const err = await store.list(ns).catch((e: unknown) => e);
  assert.instance(err, StoreUnavailableError);
  assert.match((err as Error).message, /HTTP 404: no handler for route/);
});

t('fromEnv reads the token from VAULT_TOKEN_FILE and sends VAULT_NAMESPACE', async ({ vault, stores }) => {
  const dir = await tempDir('weir-vault-');
  try {
    const file = join(dir.path, 'token');
    await writeFile(file, 'control\n');
    const store = VaultStore.fromEnv('secret', { env: { VAULT_ADDR: vault.url, VAULT_TOKEN_FILE: file, VAULT_NAMESPACE: 'ns1' } });
    stores.push(store);
    await store.put(ns, 'web', 'a: 1\n', 'yaml');
    assert.equal(vault.requests.at(-1)?.token, 'control');
    assert.equal(vault.requests.at(-1)?.namespace, 'ns1');
    assert.throws(() => VaultStore.fromEnv('secret', { env: { VAULT_TOKEN_FILE: join(dir.path, 'missing') } }), /cannot read VAULT_TOKEN_FILE/);
  } finally {
    await dir.remove();
  }
});

t.run();
