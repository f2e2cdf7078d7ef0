import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { tempDir } from '../harness/tmp.js';
import { Spool } from '../../agent/telemetry/spool.js';
import { TelemetryMetrics } from '../../agent/telemetry/traffic-metrics.js';

const S = suite<{ dir: { path: string; remove: () => Promise<void> } }>('telemetry: disk spool');
S.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-spool-unit-');
});
S.after.each(async (ctx) => {
  await ctx.dir.remove();
});

const rec = (i: number): string => JSON.stringify({ i, pad: 'x'.repeat(90) }); // ~110 bytes + 8 framing

S('records come back in order across segments; a segment is deleted only on ack', async ({ dir }) => {
  const sp = await Spool.open({ dir: dir.path, maxBytes: 1 << 20, segmentBytes: 1200 });
  for (let b = 0; b < 10; b += 1) await sp.append(Array.from({ length: 5 }, (_, k) => rec(b * 5 + k)));
  assert.is(sp.pendingRecords(), 50);
  assert.ok(sp.segmentCount() >= 5, `segments ${sp.segmentCount()}`);
  const seen: number[] = [];
  let seg = await sp.next();
  const first = seg!;
  sp.release(first); // failed replay: the same segment comes back next
  seg = await sp.next();
  assert.is(seg!.seq, first.seq);
  while (seg) {
    seen.push(...seg.records.map((r) => (JSON.parse(r) as { i: number }).i));
    await sp.ack(seg);
    seg = await sp.next();
  }
  assert.equal(seen, Array.from({ length: 50 }, (_, i) => i));
  assert.is(sp.pendingRecords(), 0);
  assert.equal((await readdir(dir.path)).filter((n) => n.endsWith('.wspool')), []);
  await sp.close();
});

S('records given as UTF-8 bytes (slab views) read back as the same text as records given as strings', async ({ dir }) => {
  const sp = await Spool.open({ dir: dir.path, maxBytes: 1 << 20 });
  const texts = ['{"a":"plain"}\n', '{"u":"é ✓ 𝄞"}\n', ''];
  const slab = Buffer.from(`xx${texts.join('')}yy`, 'utf8');
  let off = 2;
  const views = texts.map((t) => {
    const n = Buffer.byteLength(t, 'utf8');
    const v = slab.subarray(off, off + n);
    off += n;
    return v;
  });
  await sp.append([views[0]!, texts[1]!, views[1]!, views[2]!]);
  const seg = await sp.next();
  assert.equal(seg?.records, [texts[0], texts[1], texts[1], texts[2]]);
  assert.is(seg?.corruptBytes, 0);
  await sp.close();
});

S('bound: the OLDEST segments are dropped, counted in the metric, total stays under maxBytes', async ({ dir }) => {
  const metrics = new TelemetryMetrics();
  let dropped = 0;
  const sp = await Spool.open({
    dir: dir.path,
    maxBytes: 4000,
    segmentBytes: 1000,
    onDrop: (n) => {
      dropped += n;
      metrics.dropped('spool_full', n);
    },
  });
  for (let i = 0; i < 100; i += 1) {
    await sp.append([rec(i)]);
    assert.ok(sp.bytes() <= 4000, `bytes ${sp.bytes()}`);
  }
  assert.ok(dropped > 0);
  assert.is(dropped + sp.pendingRecords(), 100);
  assert.is(sp.droppedRecords, dropped);
  const seg = await sp.next();
  const firstKept = (JSON.parse(seg!.records[0]!) as { i: number }).i;
  assert.is(firstKept, dropped, 'what is left is the newest records, contiguous');
  assert.match(await metrics.registry.getSingleMetricAsString('weir_log_records_dropped_total'), new RegExp(`reason="spool_full"} ${dropped}`));
  await sp.close();
});

S('restart: segments from a previous run are found and replayed; a torn tail is skipped', async ({ dir }) => {
  const a = await Spool.open({ dir: dir.path, maxBytes: 1 << 20 });
  await a.append([rec(1), rec(2)]);
  await a.append([rec(3)]);
  await a.close();
  const [name] = (await readdir(dir.path)).filter((n) => n.endsWith('.wspool'));
  await appendFile(join(dir.path, name!), Buffer.from([0, 0, 1, 0, 1, 2, 3])); // crash mid-write
  const b = await Spool.open({ dir: dir.path, maxBytes: 1 << 20 });
  assert.is(b.pendingRecords(), 3);
  await b.append([rec(4)]); // goes to a new segment, after the old one
  const s1 = await b.next();
  assert.equal(s1!.records.map((r) => (JSON.parse(r) as { i: number }).i), [1, 2, 3]);
  assert.is(s1!.corruptBytes, 7);
  await b.ack(s1!);
  const s2 = await b.next();
  assert.equal(s2!.records.map((r) => (JSON.parse(r) as { i: number }).i), [4]);
  await b.ack(s2!);
  assert.is(await b.next(), null);
  await b.close();
});

S.run();
