// The collection-aware document side and the leases, as one contract run against every store:
// the file store, the Vault KV v2 double (with the shipped control policy) and a real nats-server.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DocumentStore } from '../../store/document-store.js';
import { FileStore } from '../../store/file-store.js';
import { LeaderElection } from '../../store/lease.js';
import { NatsKvStore } from '../../store/nats-kv-store.js';
import type { ChangeHint } from '../../store/store.js';
import { InvalidStoreKeyError, VersionConflictError } from '../../store/store-writer.js';
import { VaultStore } from '../../store/vault-store.js';
import { loadVaultPolicy, VaultKv2Double } from '../doubles/vault-kv2.js';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { sleep, tempDir, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

type Store = DocumentStore & { close(): Promise<void>; put(ns: { org: string; env: string }, name: string, body: string, format: 'yaml' | 'json'): Promise<{ version: string }> } & {
  list(ns: { org: string; env: string }): Promise<{ entries: Array<{ name: string }> }>;
  watch(ns: { org: string; env: string }, onChange: (reason: string, hint?: ChangeHint) => void): Promise<() => Promise<void>>;
};

interface Kind {
  name: 'file' | 'vault' | 'nats';
  /** A fresh store on the same backend (a second replica). */
  open(): Promise<Store>;
}

const kinds: Kind[] = [];
const cleanups: Array<() => Promise<void>> = [];
let nsCounter = 0;
const freshNs = (): { org: string; env: string } => ({ org: 'acme', env: `e${++nsCounter}` });

const t = suite('store documents and leases');

t.before(async () => {
  try {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    const fileRoot = join(dir.path, 'store');
    kinds.push({
      name: 'file',
      open: async () => {
        const s = new FileStore(fileRoot);
        cleanups.push(() => s.close());
        return s;
      },
    });
    const vault = new VaultKv2Double({
      mount: 'secret',
      tokens: { control: { rules: loadVaultPolicy(join(process.cwd(), 'deploy', 'vault', 'weir-control-policy.hcl')), policies: ['weir-control'] } },
    });
    await vault.start();
    cleanups.push(() => vault.stop());
    kinds.push({
      name: 'vault',
      open: async () => {
        const s = new VaultStore({ mount: 'secret', endpoint: vault.url, token: 'control', requestTimeoutMs: 2000 });
        cleanups.push(() => s.close());
        return s;
      },
    });
    const nats: NatsHarness = await startNatsServer();
    cleanups.push(() => nats.dispose());
    kinds.push({
      name: 'nats',
      open: async () => {
        const s = new NatsKvStore({ servers: [nats.url], requestTimeoutMs: 2000, retryMs: 200 });
        cleanups.push(() => s.close());
        return s;
      },
    });
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
    throw err;
  }
});
t.after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const forEachKind = (title: string, fn: (k: Kind) => Promise<void>): void => {
  for (const name of ['file', 'vault', 'nats'] as const) {
    t(`${name}: ${title}`, async () => {
      const k = kinds.find((x) => x.name === name);
      assert.ok(k, `${name} store set up`);
      await fn(k);
    });
  }
};

forEachKind('each collection round-trips with CAS, apart from the gateways', async (k) => {
  const s = await k.open();
  const ns = freshNs();
  await s.put(ns, 'shop', 'name: shop\nport: 8080\n', 'yaml');
  for (const c of ['release-policies', 'releases', 'release-history', 'certificates'] as const) {
    assert.equal(await s.listDocuments(ns, c), { entries: [], problems: [] }, `${c} starts empty`);
  }
  const policy = 'name: canary\nsteps: []\n';
  const v1 = await s.putDocument(ns, 'release-policies', 'canary', policy, 'yaml', { ifVersion: null });
  const dup = await s.putDocument(ns, 'release-policies', 'canary', 'x: 1\n', 'yaml', { ifVersion: null }).catch((e: unknown) => e);
  assert.instance(dup, VersionConflictError);
  const got = await s.getDocument(ns, 'release-policies', 'canary');
  assert.is(got?.body, policy);
  assert.is(got?.version, v1.version);
  assert.is(got?.format, 'yaml');

  const run = JSON.stringify({ id: 'r1', phase: 'Progressing' });
  const r1 = await s.putDocument(ns, 'releases', 'shop', run, 'json', { ifVersion: null });
  const r2 = await s.putDocument(ns, 'releases', 'shop', JSON.stringify({ id: 'r1', phase: 'Paused' }), 'json', { ifVersion: r1.version });
  const stale = await s.putDocument(ns, 'releases', 'shop', run, 'json', { ifVersion: r1.version }).catch((e: unknown) => e);
  assert.instance(stale, VersionConflictError);
  assert.is((stale as VersionConflictError).actual, r2.version);

  await s.putDocument(ns, 'release-history', 'shop.r1', run, 'json');
  await s.putDocument(ns, 'release-history', 'shop.r2', run, 'json');
  assert.equal((await s.listDocuments(ns, 'release-history')).entries.map((e) => e.name), ['shop.r1', 'shop.r2']);

  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  await s.putDocument(ns, 'certificates', 'shop-tls', pem, 'pem');
  assert.is((await s.getDocument(ns, 'certificates', 'shop-tls'))?.format, 'pem');

  // Other collections never show up as gateways.
  assert.equal((await s.list(ns)).entries.map((e) => e.name), ['shop']);
  assert.equal((await s.listDocuments(ns, 'releases')).entries.map((e) => e.name), ['shop']);

  const wrongVersion = await s.deleteDocument(ns, 'releases', 'shop', { ifVersion: r1.version }).catch((e: unknown) => e);
  assert.instance(wrongVersion, VersionConflictError);
  assert.ok(await s.deleteDocument(ns, 'releases', 'shop', { ifVersion: r2.version }));
  assert.is(await s.getDocument(ns, 'releases', 'shop'), null);
  assert.not.ok(await s.deleteDocument(ns, 'releases', 'shop'));
});

forEachKind('names and formats a collection cannot hold are refused before the store is touched', async (k) => {
  const s = await k.open();
  const ns = freshNs();
  const dotted = await s.putDocument(ns, 'releases', 'shop.r1', '{}', 'json').catch((e: unknown) => e);
  assert.instance(dotted, InvalidStoreKeyError);
  assert.match((dotted as Error).message, /invalid release name "shop\.r1": must be a DNS label/);
  const badLabel = await s.putDocument(ns, 'release-history', 'shop..r1', '{}', 'json').catch((e: unknown) => e);
  assert.match((badLabel as Error).message, /invalid release history entry name "shop\.\.r1": must be dot-separated DNS labels/);
  const format = await s.putDocument(ns, 'release-policies', 'p', 'x', 'pem').catch((e: unknown) => e);
  assert.match((format as Error).message, /a release policy cannot be stored as pem: use yaml or json/);
  assert.equal(await s.listDocuments(ns, 'release-policies'), { entries: [], problems: [] });
});

t('nats: a gateway watch does not fire for other collections, and names the gateway', async () => {
  const k = kinds.find((x) => x.name === 'nats') as Kind;
  const s = await k.open();
  const ns = freshNs();
  await s.put(ns, 'seed', 'name: seed\n', 'yaml'); // creates the bucket so the watch starts at once
  const seen: Array<[string, ChangeHint | undefined]> = [];
  const stop = await s.watch(ns, (reason, hint) => seen.push([reason, hint]));
  const policySeen: Array<ChangeHint | undefined> = [];
  const stopPolicies = await s.watchDocuments(ns, 'release-policies', (_r, hint) => policySeen.push(hint));
  await s.putDocument(ns, 'releases', 'shop', '{}', 'json');
  await s.putDocument(ns, 'release-policies', 'canary', 'name: canary\n', 'yaml');
  const { version } = await s.put(ns, 'shop', 'name: shop\n', 'yaml');
  await waitFor(() => seen.some(([, h]) => h?.name === 'shop'), { what: 'the gateway event' });
  await waitFor(() => policySeen.length > 0, { what: 'the policy event' });
  await stop();
  await stopPolicies();
  assert.equal(
    seen.map(([, h]) => h),
    [{ name: 'shop', version }],
    'only the gateway write reached the gateway watch',
  );
  assert.equal(policySeen.map((h) => h?.name), ['canary']);
});

t('file: certificates are written readable by the owner only; a missing collection directory lists empty', async () => {
  const k = kinds.find((x) => x.name === 'file') as Kind;
  const s = (await k.open()) as unknown as FileStore;
  const ns = freshNs();
  assert.equal(await s.listDocuments(ns, 'certificates'), { entries: [], problems: [] });
  await s.putDocument(ns, 'certificates', 'web', 'pem', 'pem');
  const st = await stat(join(s.collectionDir(ns, 'certificates'), 'web.pem'));
  assert.is(st.mode & 0o777, 0o600);
});

// ---- leases ------------------------------------------------------------------------------------

const TTL = 800;
const SKEW = 100;
const RENEW = 200;

forEachKind('one leader among replicas ticking at once; a clean stop hands over at the next tick', async (k) => {
  const backends = await Promise.all([k.open(), k.open(), k.open()]);
  const name = `lease-${k.name}-${++nsCounter}`;
  const electors = backends.map((b, i) => new LeaderElection({ backend: b.leases(), name, holder: `replica-${i}`, ttlMs: TTL, renewMs: RENEW, skewMs: SKEW }));
  for (let round = 0; round < 5; round++) {
    await Promise.all(electors.map((e) => e.tick()));
    assert.is(electors.filter((e) => e.isLeader()).length, 1, `round ${round}: exactly one leader`);
  }
  const leader = electors.find((e) => e.isLeader()) as LeaderElection;
  const epoch = leader.epoch;
  await leader.stop();
  assert.not.ok(leader.isLeader());
  const rest = electors.filter((e) => e !== leader);
  await Promise.all(rest.map((e) => e.tick()));
  assert.is(rest.filter((e) => e.isLeader()).length, 1, 'a released lease is taken at the next tick');
  assert.is((rest.find((e) => e.isLeader()) as LeaderElection).epoch, epoch + 1);
});

forEachKind('a holder that dies is replaced after expiry, within the bound; it finds itself deposed when it wakes', async (k) => {
  const [a, b] = await Promise.all([k.open(), k.open()]);
  const name = `lease-${k.name}-${++nsCounter}`;
  const ea = new LeaderElection({ backend: a.leases(), name, holder: 'a', ttlMs: TTL, renewMs: RENEW, skewMs: SKEW });
  const eb = new LeaderElection({ backend: b.leases(), name, holder: 'b', ttlMs: TTL, renewMs: RENEW, skewMs: SKEW });
  await ea.tick();
  assert.ok(ea.isLeader());
  const died = Date.now();
  // `a` stops ticking (a frozen or killed process); `b` campaigns every RENEW ms.
  let tookOverAt = 0;
  while (!eb.isLeader()) {
    assert.not.ok(ea.isLeader() && eb.isLeader(), 'never two leaders');
    await eb.tick();
    if (eb.isLeader()) tookOverAt = Date.now();
    else await sleep(RENEW);
    assert.ok(Date.now() - died < 10 * TTL, 'takeover happens');
  }
  const took = tookOverAt - died;
  assert.ok(took >= TTL, `not before the lease expired (${took} ms)`);
  assert.ok(took <= eb.takeoverBoundMs + 500, `within the documented bound ${eb.takeoverBoundMs} ms (+ store latency): ${took} ms`);
  assert.not.ok(ea.isLeader(), 'its own clock says its lease lapsed');
  await ea.tick();
  assert.not.ok(ea.isLeader());
  assert.is(eb.epoch, 2);
});

forEachKind('a stale holder cannot renew over a newer epoch', async (k) => {
  const s = await k.open();
  const backend = s.leases();
  const name = `lease-${k.name}-${++nsCounter}`;
  const t0 = Date.now();
  const first = await backend.claim(name, { holder: 'a', epoch: 1, acquiredAt: t0, renewedAt: t0, expiresAt: t0 + TTL }, null);
  assert.ok(first);
  const second = await backend.claim(name, { holder: 'b', epoch: 1, acquiredAt: t0, renewedAt: t0, expiresAt: t0 + TTL }, null);
  assert.is(second, null, 'epoch 1 is started once');
  const b2 = await backend.claim(name, { holder: 'b', epoch: 2, acquiredAt: t0, renewedAt: t0, expiresAt: t0 + TTL }, first);
  assert.ok(b2);
  const renewed = await backend.renew(name, { ...first.record, renewedAt: Date.now(), expiresAt: Date.now() + TTL }, first);
  assert.is(renewed, null, 'a renews epoch 1 after b started epoch 2: refused');
  assert.equal((await backend.read(name))?.record.holder, 'b');
});

t.run();
