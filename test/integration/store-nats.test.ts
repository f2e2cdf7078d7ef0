import { bucketName, namespaceOfBucket, NatsKvStore } from '../../store/nats-kv-store.js';
import { StoreUnavailableError, type ChangeHint } from '../../store/store.js';
import { VersionConflictError } from '../../store/store-writer.js';
import { connect } from 'nats';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { assert, suite } from '../harness/uvu.js';
import { waitFor } from '../harness/tmp.js';

const ns = { org: 'acme', env: 'prod' };
// One server for the file (2 shared cores); each test uses its own namespace/bucket.
const t = suite<{ nats: NatsHarness; stores: NatsKvStore[] }>('nats kv store');
let nats: NatsHarness | undefined;
const stores: NatsKvStore[] = [];
const open = (): NatsKvStore => {
  const s = new NatsKvStore({ servers: [(nats as NatsHarness).url], requestTimeoutMs: 1000, retryMs: 200 });
  stores.push(s);
  return s;
};

t.before(async () => {
  try {
    nats = await startNatsServer();
  } catch (err) {
    // uvu does not report hook failures; make them loud and fail the file.
    console.error(err);
    process.exitCode = 1;
    throw err;
  }
});
t.after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await nats?.dispose();
});

t('bucket names are injective and reversible', () => {
  assert.is(bucketName({ org: 'a-b', env: 'c' }), 'weir_a-b_c');
  assert.is.not(bucketName({ org: 'a', env: 'b-c' }), bucketName({ org: 'a-b', env: 'c' }));
  assert.equal(namespaceOfBucket('weir_a-b_c'), { org: 'a-b', env: 'c' });
  assert.is(namespaceOfBucket('weir_a_b_c'), undefined);
  assert.throws(() => bucketName({ org: 'a_b', env: 'c' }), /invalid gateway org/);
});

t('missing bucket lists empty; put/list/get round-trip; CAS conflicts', async () => {
  const store = open();
  assert.equal(await store.list(ns), { entries: [], problems: [] });
  const body = '# comment\nname: web\n';
  const v1 = await store.put(ns, 'web', body, 'yaml', { ifVersion: null });
  await store.put(ns, 'api', '{"a":1}', 'json');
  const snap = await store.list(ns);
  assert.equal(snap.entries.map((e) => [e.name, e.format, e.body, e.source]), [
    ['api', 'json', '{"a":1}', 'nats:weir_acme_prod/api'],
    ['web', 'yaml', body, 'nats:weir_acme_prod/web'],
  ]);
  assert.is(snap.entries[1]?.version, v1.version);
  const dup = await store.put(ns, 'web', 'x', 'yaml', { ifVersion: null }).catch((e: unknown) => e);
  assert.instance(dup, VersionConflictError);
  assert.is((dup as VersionConflictError).actual, v1.version);
  const v2 = await store.put(ns, 'web', 'x: 2\n', 'yaml', { ifVersion: v1.version });
  const stale = await store.put(ns, 'web', 'x: 3\n', 'yaml', { ifVersion: v1.version }).catch((e: unknown) => e);
  assert.instance(stale, VersionConflictError);
  assert.match((stale as Error).message, new RegExp(`nats:weir_acme_prod/web: expected version ${v1.version}, found version ${v2.version}`));
  const badDel = await store.delete(ns, 'web', { ifVersion: v1.version }).catch((e: unknown) => e);
  assert.instance(badDel, VersionConflictError);
  assert.is(await store.delete(ns, 'web', { ifVersion: v2.version }), true);
  assert.is(await store.get(ns, 'web'), null);
  assert.is(await store.delete(ns, 'web'), false);
  assert.equal((await store.list(ns)).entries.map((e) => e.name), ['api']);
  await store.put(ns, 'web', 'back: 1\n', 'yaml', { ifVersion: null }); // create over a DEL marker
  assert.equal(await store.listNamespaces(), [ns]);
});

t('read: one key as a snapshot, the same entry list reports; absent and bad values', async () => {
  const rns = { org: 'acme', env: 'read' };
  const store = open();
  assert.equal(await store.read(rns, 'web'), { entries: [], problems: [] }, 'no bucket yet');
  await store.put(rns, 'web', 'name: web\n', 'yaml');
  const listed = (await store.list(rns)).entries;
  assert.equal((await store.read(rns, 'web')).entries, listed);
  assert.equal(await store.read(rns, 'api'), { entries: [], problems: [] });
  await store.delete(rns, 'web');
  assert.equal(await store.read(rns, 'web'), { entries: [], problems: [] });
  const c = await connect({ servers: (nats as NatsHarness).url });
  try {
    const kv = await c.jetstream().views.kv(bucketName(rns));
    await kv.put('junk', 'not json');
  } finally {
    await c.close();
  }
  assert.equal(await store.read(rns, 'junk'), { entries: [], problems: [{ source: 'nats:weir_acme_read/junk', message: 'value is not JSON: expected {"format": "yaml"|"json", "body": "<text>"}', name: 'junk' }] });
  assert.equal((await store.list(rns)).problems, (await store.read(rns, 'junk')).problems);
});

t('watch fires on put/delete, and resumes after a server restart without a new store', async () => {
  const wns = { org: 'acme', env: 'watch' };
  const writer = open();
  const reader = open();
  const reasons: string[] = [];
  const hints: Array<ChangeHint | undefined> = [];
  const stop = await reader.watch(wns, (r, hint) => {
    reasons.push(r);
    hints.push(hint);
  }); // bucket does not exist yet
  try {
    await writer.put(wns, 'a', 'a: 1\n', 'yaml');
    await waitFor(() => reasons.length > 0, { what: 'watch to notice the bucket', timeoutMs: 5000 });
    reasons.length = 0;
    hints.length = 0;
    const v2 = await writer.put(wns, 'a', 'a: 2\n', 'yaml');
    await waitFor(() => reasons.some((r) => /^PUT weir_acme_watch\/a@/.test(r)), { what: 'PUT event', timeoutMs: 5000 });
    // The hint names the key and the version a list would report, so the agent can read just it.
    assert.equal(hints.at(-1), { name: 'a', version: v2.version });
    await writer.delete(wns, 'a');
    await waitFor(() => reasons.some((r) => /^DEL weir_acme_watch\/a@/.test(r)), { what: 'DEL event', timeoutMs: 5000 });
    assert.equal(hints.at(-1), { name: 'a', version: null });

    const n = nats as NatsHarness;
    await n.stop();
    const down = await reader.list(wns).catch((e: unknown) => e);
    assert.instance(down, StoreUnavailableError);
    assert.match((down as Error).message, /unavailable: .*(disconnected|not connected|timeout|TIMEOUT)/i);
    await n.restart();
    await waitFor(() => reader.list(wns).then(() => true), { what: 'list after restart', timeoutMs: 10_000 });
    await waitFor(() => writer.list(wns).then(() => true), { what: 'writer reconnect', timeoutMs: 10_000 });
    reasons.length = 0;
    await waitFor(
      async () => {
        await writer.put(wns, 'b', `b: ${Date.now()}\n`, 'yaml');
        return reasons.some((r) => /^PUT weir_acme_watch\/b@/.test(r));
      },
      { what: 'watch to resume after the restart', timeoutMs: 10_000, intervalMs: 300 },
    );
    assert.equal((await reader.list(wns)).entries.map((e) => e.name), ['b']);
  } finally {
    await stop();
  }
});

t.run();
