import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileStore, MAX_GATEWAY_FILE_BYTES } from '../../store/file-store.js';
import { StoreUnavailableError } from '../../store/store.js';
import { VersionConflictError } from '../../store/store-writer.js';
import { assert, suite } from '../harness/uvu.js';
import { sleep, tempDir, waitFor } from '../harness/tmp.js';

const ns = { org: 'acme', env: 'prod' };
const t = suite<{ dir: string; remove: () => Promise<void>; store: FileStore; root: string }>('file store');

t.before.each(async (ctx) => {
  const d = await tempDir('weir-file-store-');
  ctx.dir = d.path;
  ctx.remove = d.remove;
  ctx.root = join(d.path, 'store');
  ctx.store = new FileStore(ctx.root);
});
t.after.each(async (ctx) => {
  await ctx.store.close();
  await ctx.remove();
});

const gw = (root: string, ...rest: string[]) => join(root, 'acme', 'prod', 'gateways', ...rest);

t('missing root and missing namespace are outages; an empty gateways/ dir is "no gateways"', async ({ store, root }) => {
  const err1 = await store.list(ns).catch((e: unknown) => e);
  assert.instance(err1, StoreUnavailableError);
  assert.match((err1 as Error).message, /store root .* does not exist/);
  await mkdir(join(root, 'acme'), { recursive: true });
  const err2 = await store.list(ns).catch((e: unknown) => e);
  assert.instance(err2, StoreUnavailableError);
  assert.match((err2 as Error).message, /namespace directory .*acme\/prod\/gateways does not exist/);
  await mkdir(gw(root), { recursive: true });
  assert.equal(await store.list(ns), { entries: [], problems: [] });
  await writeFile(join(root, 'acme', 'dev'), 'not a directory');
  const err3 = await store.list({ org: 'acme', env: 'dev' }).catch((e: unknown) => e);
  assert.instance(err3, StoreUnavailableError);
  assert.match((err3 as Error).message, /cannot read .*acme\/dev\/gateways: ENOTDIR/);
});

t('lists entries; bad names, duplicates, oversize, unknown extensions become problems; temp files skipped', async ({ store, root }) => {
  await mkdir(gw(root), { recursive: true });
  await writeFile(gw(root, 'web.yaml'), 'name: web\n');
  await writeFile(gw(root, 'api.json'), '{"name":"api"}');
  await writeFile(gw(root, 'old.yml'), 'a: 1\n');
  await writeFile(gw(root, 'Bad_Name.yaml'), 'x: 1\n');
  await writeFile(gw(root, 'dup.yaml'), 'x: 1\n');
  await writeFile(gw(root, 'dup.json'), '{}');
  await writeFile(gw(root, 'big.yaml'), 'x'.repeat(MAX_GATEWAY_FILE_BYTES + 1));
  await writeFile(gw(root, 'notes.txt'), 'hi');
  for (const f of ['.hidden.yaml', 'web.yaml.swp', 'web.yaml~', '.#web.yaml', 'x.tmp']) await writeFile(gw(root, f), 'junk');
  const snap = await store.list(ns);
  assert.equal(
    snap.entries.map((e) => [e.name, e.format, e.body]),
    [
      ['api', 'json', '{"name":"api"}'],
      ['old', 'yaml', 'a: 1\n'],
      ['web', 'yaml', 'name: web\n'],
    ],
  );
  assert.equal(snap.entries[2]?.source, gw(root, 'web.yaml'));
  const msg = (f: string) => snap.problems.filter((p) => p.source === gw(root, f)).map((p) => p.message).join('|');
  assert.match(msg('Bad_Name.yaml'), /not a DNS label/);
  assert.match(msg('dup.yaml'), /more than one file/);
  assert.match(msg('dup.json'), /more than one file/);
  assert.match(msg('big.yaml'), /over the 262144-byte limit/);
  assert.match(msg('notes.txt'), /extension/);
  assert.is(snap.problems.length, 5);
});

t('unreadable files (dangling symlink; mode 000 when not root) are problems, not fatal', async ({ store, root }) => {
  await mkdir(gw(root), { recursive: true });
  await writeFile(gw(root, 'ok.yaml'), 'a: 1\n');
  await symlink(gw(root, 'gone.yaml'), gw(root, 'dangling.yaml'));
  const asRoot = process.getuid?.() === 0; // root reads mode-000 files anyway
  if (!asRoot) {
    await writeFile(gw(root, 'locked.yaml'), 'a: 1\n');
    await chmod(gw(root, 'locked.yaml'), 0o000);
  }
  const snap = await store.list(ns);
  assert.equal(snap.entries.map((e) => e.name), ['ok']);
  assert.match(snap.problems.find((p) => p.source.endsWith('dangling.yaml'))?.message ?? '', /cannot stat: ENOENT/);
  if (!asRoot) assert.match(snap.problems.find((p) => p.source.endsWith('locked.yaml'))?.message ?? '', /cannot read: EACCES/);
});

t('5,000 files: the second list re-reads nothing; a changed file is re-read alone', async ({ store, root }) => {
  await mkdir(gw(root), { recursive: true });
  const N = 5000;
  for (let i = 0; i < N; i += 250) {
    await Promise.all(Array.from({ length: 250 }, (_, j) => writeFile(gw(root, `gw-${i + j}.yaml`), `name: gw-${i + j}\n`)));
  }
  const a = await store.list(ns);
  assert.is(a.entries.length, N);
  assert.equal(store.cacheStats(), { hits: 0, reads: N, entries: N });
  const b = await store.list(ns);
  assert.is(b.entries.length, N);
  assert.equal(store.cacheStats(), { hits: N, reads: N, entries: N });
  await writeFile(gw(root, 'gw-7.yaml'), 'name: gw-7\nchanged: true\n');
  await rm(gw(root, 'gw-8.yaml'));
  const c = await store.list(ns);
  assert.is(c.entries.length, N - 1);
  assert.equal(store.cacheStats(), { hits: 2 * N - 2, reads: N + 1, entries: N - 1 });
  assert.is(c.entries.find((e) => e.name === 'gw-7')?.body, 'name: gw-7\nchanged: true\n');
});

t('put/get/delete are atomic and honour ifVersion', async ({ store, root }) => {
  assert.is(await store.get(ns, 'web'), null);
  const v1 = await store.put(ns, 'web', 'a: 1\n', 'yaml', { ifVersion: null }); // creates the dirs
  const got = await store.get(ns, 'web');
  assert.equal(got && { body: got.body, format: got.format, version: got.version }, { body: 'a: 1\n', format: 'yaml', version: v1.version });
  const dup = await store.put(ns, 'web', 'a: 2\n', 'yaml', { ifVersion: null }).catch((e: unknown) => e);
  assert.instance(dup, VersionConflictError);
  assert.match((dup as Error).message, /web: expected no existing entry, found version/);
  const v2 = await store.put(ns, 'web', 'a: 2\n', 'yaml', { ifVersion: v1.version });
  assert.is.not(v2.version, v1.version);
  const stale = await store.put(ns, 'web', 'a: 3\n', 'yaml', { ifVersion: v1.version }).catch((e: unknown) => e);
  assert.instance(stale, VersionConflictError);
  assert.is((stale as VersionConflictError).actual, v2.version);
  // Format change replaces the file instead of leaving two definitions.
  const v3 = await store.put(ns, 'web', '{"a":3}', 'json', { ifVersion: v2.version });
  const snap = await store.list(ns);
  assert.equal(snap.entries.map((e) => [e.source, e.version]), [[gw(root, 'web.json'), v3.version]]);
  assert.equal(snap.problems, []);
  const wrongDel = await store.delete(ns, 'web', { ifVersion: v2.version }).catch((e: unknown) => e);
  assert.instance(wrongDel, VersionConflictError);
  assert.is(await store.delete(ns, 'web', { ifVersion: v3.version }), true);
  assert.is(await store.delete(ns, 'web'), false);
  assert.equal(await store.list(ns), { entries: [], problems: [] });
  assert.equal(await store.listNamespaces(), [ns]);
  const bad = await store.put(ns, 'Bad', 'x', 'yaml').catch((e: unknown) => e);
  assert.match((bad as Error).message, /invalid gateway name "Bad"/);
});

t('watch fires on add/change/unlink and sees the root deleted; after it is re-created the next list is right', async ({ store, root }) => {
  await mkdir(gw(root), { recursive: true });
  const reasons: string[] = [];
  const stop = await store.watch(ns, (r) => reasons.push(r));
  try {
    const seen = async (re: RegExp, what: string) => {
      await waitFor(() => reasons.some((r) => re.test(r)), { what, timeoutMs: 5000 });
      reasons.length = 0;
    };
    await writeFile(gw(root, 'a.yaml'), 'a: 1\n');
    await seen(/^add .*a\.yaml$/, 'add');
    await writeFile(gw(root, 'a.yaml'), 'a: 22\n');
    await seen(/^change .*a\.yaml$/, 'change');
    await rm(gw(root, 'a.yaml'));
    await seen(/^unlink .*a\.yaml$/, 'unlink');
    await writeFile(gw(root, 'x.swp'), 'junk');
    await sleep(200);
    assert.equal(reasons, [], 'editor temp files are ignored');
    await rm(root, { recursive: true });
    await seen(/^unlinkDir/, 'unlinkDir of the root');
    await mkdir(gw(root), { recursive: true });
    // After the root is re-created chokidar usually reports new files again, but not always
    // (about 1 run in 10 here); the guarantee is that the next list sees them, which the
    // agent's poll provides (the file store re-stats everything at least every 5 s).
    await writeFile(gw(root, 'b.yaml'), 'b: 1\n');
    await waitFor(async () => (await store.list(ns)).entries.some((e) => e.name === 'b'), { what: 'b.yaml listed after re-creating the root' });
    await sleep(200);
    reasons.length = 0;
    // Another namespace does not wake this watcher.
    await mkdir(join(root, 'acme', 'dev', 'gateways'), { recursive: true });
    await sleep(150);
    reasons.length = 0;
    await writeFile(join(root, 'acme', 'dev', 'gateways', 'c.yaml'), 'c: 1\n');
    await sleep(300);
    assert.equal(reasons.filter((r) => r.includes('acme') || r.includes('c.yaml')), [], 'no event from the other namespace');
  } finally {
    await stop();
  }
});

t.run();
