// While a watch is active, list() re-stats only what the watcher reported: it must still see
// every change, addition and deletion, and fall back to a full pass on directory events.
import { mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { FileStore } from '../../store/file-store.js';
import { tempDir, waitFor } from '../harness/tmp.js';

const t = suite('file store: incremental listing under a watch');
const ns = { org: 'o', env: 'e' };

t('changes, additions and deletions reported by the watcher are all in the next list', async () => {
  const dir = await tempDir();
  const gw = join(dir.path, 'o', 'e', 'gateways');
  await mkdir(gw, { recursive: true });
  for (let i = 0; i < 50; i++) await writeFile(join(gw, `g${i}.yaml`), `v: ${i}\n`);
  const store = new FileStore(dir.path);
  let events = 0;
  const stop = await store.watch(ns, () => (events += 1));
  try {
    assert.is((await store.list(ns)).entries.length, 50);
    const readsBefore = store.cacheStats().reads;
    assert.is((await store.list(ns)).entries.length, 50);
    assert.is(store.cacheStats().reads, readsBefore, 'nothing re-read when nothing changed');

    await writeFile(join(gw, '.tmp'), 'v: changed\n');
    await rename(join(gw, '.tmp'), join(gw, 'g3.yaml'));
    await writeFile(join(gw, 'fresh.yaml'), 'v: new\n');
    await unlink(join(gw, 'g4.yaml'));
    await waitFor(() => events >= 3, { what: 'three watch events' });
    const snap = await store.list(ns);
    const byName = new Map(snap.entries.map((e) => [e.name, e.body]));
    assert.is(byName.get('g3'), 'v: changed\n');
    assert.is(byName.get('fresh'), 'v: new\n');
    assert.not.ok(byName.has('g4'));
    assert.is(snap.entries.length, 50);

    // A directory event (the whole namespace removed and re-created) forces a full pass.
    await rm(join(dir.path, 'o'), { recursive: true });
    await mkdir(gw, { recursive: true });
    await writeFile(join(gw, 'only.yaml'), 'v: 1\n');
    await waitFor(async () => (await store.list(ns).catch(() => ({ entries: [] }))).entries.map((e) => e.name).join() === 'only', { what: 'the re-created namespace listed' });
  } finally {
    await stop();
    await store.close();
    await dir.remove();
  }
});

t('two quick writes to one file: the second is seen even if the watcher reports only one', async () => {
  const dir = await tempDir();
  const gw = join(dir.path, 'o', 'e', 'gateways');
  await mkdir(gw, { recursive: true });
  await writeFile(join(gw, 'g.yaml'), 'v: 0\n');
  const store = new FileStore(dir.path);
  let events = 0;
  const stop = await store.watch(ns, () => (events += 1));
  try {
    await store.list(ns);
    for (const body of ['v: first, a longer body\n', 'v: 2\n']) {
      await writeFile(join(gw, '.tmp'), body);
      await rename(join(gw, '.tmp'), join(gw, 'g.yaml'));
    }
    await waitFor(() => events >= 1, { what: 'a watch event' });
    // The agent syncs on the first event, possibly before the second is even written.
    await waitFor(async () => (await store.list(ns)).entries[0]?.body === 'v: 2\n', { what: 'the second write listed', timeoutMs: 3000 });
  } finally {
    await stop();
    await store.close();
    await dir.remove();
  }
});

t.run();
