import { suite, assert } from '../harness/uvu.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { startElasticsearchDouble, type ElasticsearchDouble } from '../doubles/elasticsearch.js';
import { EsShipper, type AckKind, type EsShipperOptions, type ShipItem } from '../../agent/telemetry/es-shipper.js';
import { createEsClient } from '../../metrics/es-connection.js';
import { Spool } from '../../agent/telemetry/spool.js';
import { TelemetryMetrics } from '../../agent/telemetry/traffic-metrics.js';
import { parseLogLine } from '../../agent/telemetry/log-record.js';
import { EcsLineWriter } from '../../agent/telemetry/ecs-line.js';
import { LinePipeline } from '../../agent/telemetry/line-pipeline.js';

const ns = { org: 'acme', env: 'prod' };

const writer = new EcsLineWriter({ ns, agentId: 'agent-1' });

/** Real parser output → real bulk lines, so the double sees what production sends. */
function items(n: number, from = 0): ShipItem<number>[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const payload = `{"t":${1763777439 + i}.${String(i % 1000).padStart(3, '0')},"id":"req-${i}","ci":"127.0.0.1","cp":${40000 + (i % 1000)},"ft":"shop","b":"shop:${i % 2 ? 'blue' : 'green'}","s":"s1","Tq":0,"Tw":0,"Tc":1,"Tr":${i % 50},"Ta":${i % 50},"Tt":${(i % 50) + 1},"ST":${i % 10 === 0 ? 503 : 200},"B":100,"U":50,"tsc":"----","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"GET /i/${i} HTTP/1.1"}`;
    const out = parseLogLine(`<134>1 2026-11-22T00:00:00Z h haproxy 1 - - ${payload}`);
    if (!out.ok) throw new Error(out.detail);
    return { line: writer.line(out.record), ack: i };
  });
}

interface Ctx {
  es: ElasticsearchDouble;
  cleanup: Array<() => Promise<void>>;
}

const S = suite<Ctx>('telemetry: Elasticsearch shipper against the ES double', { es: undefined as unknown as ElasticsearchDouble, cleanup: [] });

S.before.each(async (ctx) => {
  ctx.es = await startElasticsearchDouble();
  ctx.cleanup = [];
});
S.after.each(async (ctx) => {
  for (const c of ctx.cleanup.reverse()) await c().catch(() => undefined);
  await ctx.es.stop();
});

function shipper(ctx: Ctx, extra: Partial<EsShipperOptions<number>> = {}): { s: EsShipper<number>; acked: Map<AckKind, number[]> } {
  const acked = new Map<AckKind, number[]>([
    ['indexed', []],
    ['spooled', []],
  ]);
  const client = createEsClient({ url: ctx.es.url, requestTimeoutMs: 2000 });
  const s = new EsShipper<number>({
    client,
    batchSize: 50,
    flushIntervalMs: 20,
    retry: { baseMs: 5, maxMs: 40, attemptsBeforeSpool: 2 },
    onAck: (acks, kind) => acked.get(kind)!.push(...acks),
    ...extra,
  });
  ctx.cleanup.push(async () => {
    await s.close(1000);
    await client.close();
  });
  return { s, acked };
}

const ids = (es: ElasticsearchDouble): Set<string> => new Set(es.docs('weir-logs-*').map((d) => d.id));

S('N records → exactly N documents, template installed, every ack delivered, ES queries work', async (ctx) => {
  const metrics = new TelemetryMetrics();
  const { s, acked } = shipper(ctx, { metrics });
  await s.start();
  const batch = items(230);
  for (const it of batch) await s.push(it);
  assert.ok(await s.flush(5000));
  assert.is(ctx.es.docs('weir-logs-*').length, 230);
  assert.is(ids(ctx.es).size, 230);
  assert.equal(acked.get('indexed')!.sort((a, b) => a - b), batch.map((b) => b.ack));
  assert.ok(ctx.es.templates.has('weir-logs'));
  assert.equal((ctx.es.templates.get('weir-logs') as { index_patterns: string[] }).index_patterns, ['weir-logs-*']);
  const byIndex = new Set(ctx.es.docs('weir-logs-*').map((d) => d.index));
  assert.ok([...byIndex].every((i) => /^weir-logs-acme-prod-\d{4}\.\d\d\.\d\d$/.test(i)));
  // The control API's query shape, through the official client.
  const client = createEsClient({ url: ctx.es.url });
  try {
    const res = await client.search({
      index: 'weir-logs-acme-prod-*',
      size: 0,
      query: { bool: { filter: [{ term: { 'weir.gateway': 'shop' } }, { range: { '@timestamp': { gte: '2025-01-01T00:00:00Z' } } }] } },
      aggs: {
        routes: {
          terms: { field: 'weir.route' },
          aggs: { errors: { filter: { range: { 'http.response.status_code': { gte: 500 } } } }, p95: { percentiles: { field: 'event.duration', percents: [95] } }, avg: { avg: { field: 'haproxy.time_total_ms' } } },
        },
      },
    });
    const buckets = (res.aggregations as { routes: { buckets: Array<{ key: string; doc_count: number; errors: { doc_count: number } }> } }).routes.buckets;
    assert.equal(buckets.map((b) => [b.key, b.doc_count, b.errors.doc_count]).sort(), [
      ['blue', 115, 0],
      ['green', 115, 23],
    ]);
    assert.is((await client.count({ index: 'weir-logs-*' })).count, 230);
  } finally {
    await client.close();
  }
  assert.match(await metrics.registry.getSingleMetricAsString('weir_log_records_shipped_total'), /weir_log_records_shipped_total 230/);
});

S('per-item 429s are retried until indexed', async (ctx) => {
  const { s, acked } = shipper(ctx);
  await s.start();
  ctx.es.rejectNextItems(70);
  for (const it of items(100)) await s.push(it);
  assert.ok(await s.flush(5000));
  assert.is(ids(ctx.es).size, 100);
  assert.is(ctx.es.bulkItemStatuses.filter((x) => x === 429).length, 70);
  assert.is(acked.get('indexed')!.length, 100);
});

S('whole-request 503 and 429 are retried (no spool: retries until delivered)', async (ctx) => {
  const { s } = shipper(ctx);
  await s.start();
  ctx.es.failNextRequests(3, 503);
  for (const it of items(60)) await s.push(it);
  assert.ok(await s.flush(5000));
  ctx.es.failNextRequests(2, 429);
  for (const it of items(60, 60)) await s.push(it);
  assert.ok(await s.flush(5000));
  assert.is(ids(ctx.es).size, 120);
  assert.is(ctx.es.requests.get('fault'), 5);
});

S('a record re-sent after a crash does not duplicate: 409 counts as delivered', async (ctx) => {
  const first = shipper(ctx);
  await first.s.start();
  const batch = items(40);
  for (const it of batch) await first.s.push(it);
  assert.ok(await first.s.flush(5000));
  // "Restart": a new shipper re-sends the same lines (e.g. offsets not yet persisted) plus new ones.
  const second = shipper(ctx);
  await second.s.start();
  for (const it of [...batch, ...items(10, 40)]) await second.s.push(it);
  assert.ok(await second.s.flush(5000));
  assert.is(ctx.es.docs('weir-logs-*').length, 50);
  assert.is(ctx.es.bulkItemStatuses.filter((x) => x === 409).length, 40);
  assert.is(second.acked.get('indexed')!.length, 50, 'duplicates are acked so offsets advance');
});

S('ES down mid-stream → spool engaged → ES back → every record indexed exactly once', async (ctx) => {
  const dir = await tempDir('weir-spool-');
  ctx.cleanup.push(dir.remove);
  const spool = await Spool.open({ dir: dir.path, maxBytes: 8 * 1024 * 1024 });
  const metrics = new TelemetryMetrics();
  const { s, acked } = shipper(ctx, { spool, metrics });
  await s.start();
  for (const it of items(100)) await s.push(it);
  assert.ok(await s.flush(5000));
  assert.is(ids(ctx.es).size, 100);
  await ctx.es.stop();
  for (const it of items(300, 100)) await s.push(it);
  assert.ok(await s.flush(5000), 'flush completes while ES is down because records spool');
  assert.is(spool.pendingRecords(), 300);
  assert.is(acked.get('spooled')!.length, 300);
  assert.is(s.stats().healthy, false);
  await ctx.es.start(); // same port
  await waitFor(() => spool.pendingRecords() === 0 && ids(ctx.es).size === 400, { what: 'spool replayed', timeoutMs: 8000 });
  assert.is(ctx.es.docs('weir-logs-*').length, 400);
  for (const it of items(20, 400)) await s.push(it);
  assert.ok(await s.flush(5000));
  assert.is(ids(ctx.es).size, 420);
  assert.is(spool.segmentCount(), 0);
  assert.match(await metrics.registry.getSingleMetricAsString('weir_log_records_spooled_total'), /weir_log_records_spooled_total 300/);
});

S('ES dies with a bulk in flight (indexed, response lost) → spooled → replayed → still exactly once', async (ctx) => {
  const dir = await tempDir('weir-spool-');
  ctx.cleanup.push(dir.remove);
  const spool = await Spool.open({ dir: dir.path, maxBytes: 8 * 1024 * 1024 });
  const { s, acked } = shipper(ctx, { spool });
  await s.start();
  ctx.es.holdBulk();
  for (const it of items(50)) await s.push(it);
  await waitFor(() => ctx.es.heldCount() === 1, { what: 'bulk in flight' });
  await ctx.es.stop(); // connections die; the held bulk is still applied: ES indexed it but the client never heard
  await waitFor(() => spool.pendingRecords() === 50, { what: 'batch spooled', timeoutMs: 5000 });
  assert.is(ctx.es.docs('weir-logs-*').length, 50, 'the double did index the lost-response batch');
  for (const it of items(25, 50)) await s.push(it);
  assert.ok(await s.flush(5000));
  await ctx.es.start();
  await waitFor(() => spool.pendingRecords() === 0, { what: 'replay', timeoutMs: 8000 });
  assert.is(ctx.es.docs('weir-logs-*').length, 75);
  assert.is(ctx.es.bulkItemStatuses.filter((x) => x === 409).length, 50);
  assert.is(acked.get('spooled')!.length, 75);
});

S('spooled records survive a restart and are replayed on start; replay after a crash mid-replay does not duplicate', async (ctx) => {
  const dir = await tempDir('weir-spool-');
  ctx.cleanup.push(dir.remove);
  await ctx.es.stop();
  const spool1 = await Spool.open({ dir: dir.path, maxBytes: 8 * 1024 * 1024 });
  const one = shipper(ctx, { spool: spool1 });
  await one.s.start();
  for (const it of items(120)) await one.s.push(it);
  assert.ok(await one.s.flush(5000));
  await one.s.close(500);
  assert.is(one.acked.get('spooled')!.length, 120);
  await ctx.es.start();
  // Part of the spool had already reached ES before the "crash" (the segment was not yet deleted).
  const pre = createEsClient({ url: ctx.es.url });
  await pre.bulk({ body: items(30).map((it) => it.line).join('') } as unknown as Parameters<typeof pre.bulk>[0]);
  await pre.close();
  const spool2 = await Spool.open({ dir: dir.path, maxBytes: 8 * 1024 * 1024 });
  assert.is(spool2.pendingRecords(), 120);
  const two = shipper(ctx, { spool: spool2 });
  await two.s.start();
  await waitFor(() => spool2.pendingRecords() === 0, { what: 'replay on start', timeoutMs: 5000 });
  assert.is(ctx.es.docs('weir-logs-*').length, 120);
  assert.ok(ctx.es.templates.has('weir-logs'), 'template installed once ES came up');
  assert.is(ctx.es.bulkItemStatuses.filter((x) => x === 409).length, 30);
});

S('slow ES: memory queue stays bounded; push waits; offer refuses and counts; all accepted records land', async (ctx) => {
  const metrics = new TelemetryMetrics();
  const { s } = shipper(ctx, { queueCapacity: 20, batchSize: 10, metrics });
  await s.start();
  ctx.es.holdBulk();
  let accepted = 0;
  for (const it of items(200)) if (s.offer(it)) accepted += 1;
  await waitFor(() => ctx.es.heldCount() === 1, { what: 'a bulk request held' });
  for (const it of items(200, 200)) if (s.offer(it)) accepted += 1;
  const st = s.stats();
  assert.ok(st.queued <= 20, `queued ${st.queued}`);
  assert.ok(st.inFlight <= 10, `inFlight ${st.inFlight}`);
  assert.ok(accepted <= 30, `accepted ${accepted}`);
  assert.is(st.dropped, 400 - accepted);
  assert.match(await metrics.registry.getSingleMetricAsString('weir_log_records_dropped_total'), new RegExp(`reason="queue_full"} ${400 - accepted}`));
  let pushed = false;
  const p = s.push(items(1, 1000)[0]!).then(() => (pushed = true));
  await new Promise((r) => setTimeout(r, 100));
  assert.is(pushed, false, 'push waits while the queue is full');
  ctx.es.release();
  await p;
  assert.ok(await s.flush(5000));
  assert.is(ids(ctx.es).size, accepted + 1);
});

S('slow ES with a spool: offer spills to disk instead of refusing; memory stays bounded; all land once', async (ctx) => {
  const dir = await tempDir('weir-spool-');
  ctx.cleanup.push(dir.remove);
  const spool = await Spool.open({ dir: dir.path, maxBytes: 8 * 1024 * 1024 });
  const { s } = shipper(ctx, { spool, queueCapacity: 20, batchSize: 10 });
  await s.start();
  ctx.es.holdBulk();
  const all = items(200);
  let maxQueued = 0;
  for (let k = 0; k < all.length; k += 10) {
    for (const it of all.slice(k, k + 10)) assert.ok(s.offer(it), 'accepted (queue or spool)');
    maxQueued = Math.max(maxQueued, s.stats().queued);
    // Bursts interleave with I/O: the next burst comes once the spill reached the disk (an
    // fdatasync can take well over 5 ms on a busy machine, so no fixed pause).
    await waitFor(() => s.stats().queued <= 20, { what: 'overflow spilled', intervalMs: 2 });
  }
  assert.ok(maxQueued <= 40, `memory: queue + overflow ${maxQueued} <= 2 x capacity`);
  await waitFor(() => spool.pendingRecords() > 0, { what: 'spilled to spool' });
  assert.is(s.stats().dropped, 0);
  ctx.es.release();
  await waitFor(() => ids(ctx.es).size === 200 && spool.pendingRecords() === 0, { what: 'all 200 indexed', timeoutMs: 8000 });
  assert.is(ctx.es.docs('weir-logs-*').length, 200);
});

S('byte path on pooled slabs: slabs are written again and no document is ever corrupted (retries, 429s, spool, refusals)', async (ctx) => {
  const dir = await tempDir('weir-spool-');
  ctx.cleanup.push(dir.remove);
  const spool = await Spool.open({ dir: dir.path, maxBytes: 64 * 1024 * 1024 });
  const { s } = shipper(ctx, { spool, queueCapacity: 400, batchSize: 200 });
  await s.start();
  const metrics = new TelemetryMetrics();
  metrics.setKnown([{ gateway: 'shop', routes: ['blue', 'green'] }]);
  const bytes = new LinePipeline({ ns, agentId: 'agent-1', metrics, ship: true, slabs: s.slabs });
  const strings = new LinePipeline({ ns, agentId: 'agent-1', metrics: new TelemetryMetrics(), ship: true });
  const want = new Map<string, unknown>();
  let refused = 0;
  const send = (from: number, n: number): void => {
    for (let i = from; i < from + n; i++) {
      // Varying lengths so documents straddle slab ends at different places.
      const payload = `{"t":${1763777439 + i}.${String(i % 1000).padStart(3, '0')},"id":"req-${i}","ci":"127.0.0.1","cp":${40000 + (i % 1000)},"ft":"shop","b":"shop:${i % 2 ? 'blue' : 'green'}","s":"s1","Tq":0,"Tw":0,"Tc":1,"Tr":${i % 50},"Ta":${i % 50},"Tt":${(i % 50) + 1},"ST":200,"B":${i},"U":50,"tsc":"----","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"GET /i/${'x'.repeat(i % 97)}/${i} HTTP/1.1"}`;
      const line = Buffer.from(`<134>1 2026-11-22T00:00:00Z h haproxy 1 - - ${payload}`);
      const out = bytes.processBytes(line, 0, line.length);
      const ref = strings.process(line.toString());
      assert.ok(Buffer.isBuffer(out) && typeof ref === 'string', 'the byte path takes the line');
      const [action, doc] = ref.split('\n');
      const id = (JSON.parse(action!) as { create: { _id: string } }).create._id;
      if (s.offer({ line: out })) want.set(id, JSON.parse(doc!));
      else refused += 1;
    }
  };
  // Retries (whole-request 503s, per-item 429s) while slabs turn over.
  ctx.es.failNextRequests(3);
  ctx.es.rejectNextItems(150);
  for (let k = 0; k < 12_000; k += 200) {
    send(k, 200);
    await waitFor(() => s.stats().queued < 400, { what: 'queue drained', intervalMs: 2 });
  }
  assert.ok(await s.flush(10_000));
  // A stuck cluster: the queue fills, the overflow goes to the spool, then everything is replayed.
  ctx.es.holdBulk();
  for (let k = 12_000; k < 16_000; k += 200) {
    send(k, 200);
    await new Promise((r) => setTimeout(r, 5));
  }
  ctx.es.release();
  await waitFor(() => ids(ctx.es).size === want.size && spool.pendingRecords() === 0, { what: `all ${want.size} indexed`, timeoutMs: 20_000 });
  const docs = ctx.es.docs('weir-logs-*');
  assert.is(docs.length, want.size);
  for (const d of docs) assert.equal(d.source, want.get(d.id), `document ${d.id} intact`);
  const pool = s.slabs.stats();
  assert.ok(pool.reused > pool.allocated, `slabs are written again (${JSON.stringify(pool)})`);
  assert.ok(pool.allocated <= 16, `a bounded number of slabs (${pool.allocated})`);
  assert.is(refused, s.stats().dropped, 'only refused offers are dropped');
});

S.run();
