// Units of the agent's telemetry wiring: settings, RFC 6587 framing, metrics windows, and the Filebeat files
// (template generated from the code; the Filebeat script processor builds the agent's documents).
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { suite, assert } from '../harness/uvu.js';
import { packageRoot } from '../../runtime/package-root.js';
import { resolveSettings } from '../../agent/settings.js';
import { SettingsError } from '../../runtime/settings-parse.js';
import { FrameDecoder } from '../../agent/telemetry/syslog-tcp.js';
import { WindowAggregator } from '../../agent/telemetry/window-aggregator.js';
import { metricsDocumentId, metricsDocuments } from '../../metrics/es-window-documents.js';
import { RELATIVE_ERROR } from '../../metrics/latency-histogram.js';
import type { GatewayWindowReport } from '../../metrics/window-report.js';
import type { TapRow } from '../../agent/telemetry/counter-tap.js';
import { C, COUNTER_FIELDS, GAUGE_FIELDS } from '../../agent/telemetry/stat-counters.js';
import { parseLogLine, toEcsDocument, type TrafficRecord } from '../../agent/telemetry/log-record.js';
import { TEMPLATE_FILE, templateText } from '../../scripts/gen-filebeat-template.js';

const t = suite('telemetry agent parts');

const HTTP_LINE = (id: string, status = 200, ta = 12, tt = 15, r = 'GET /a/b?c=1 HTTP/1.1'): string =>
  `<134>1 2026-11-22T02:00:00.000Z host haproxy 77 - - {"t":1763776800.123,"id":"${id}","ci":"10.0.0.1","cp":5555,"ft":"shop","b":"shop:blue","s":"s0","Tq":0,"Tw":0,"Tc":1,"Tr":${ta - 1},"Ta":${ta},"Tt":${tt},"ST":${status},"B":120,"U":80,"tsc":"----","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"${r}"}`;
const TCP_LINE = `Nov 22 02:00:00 host haproxy[77]: {"t":1763776800.5,"id":"tcp1","ci":"10.0.0.2","cp":6000,"ft":"db","b":"db:one","s":"s1","Tw":0,"Tc":0,"Tt":30,"B":5,"U":3,"ts":"--","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0}`;

const record = (line: string): TrafficRecord => {
  const out = parseLogLine(line);
  if (!out.ok) throw new Error(out.detail);
  return out.record;
};

t('settings: defaults, source selection, conflicts and bad values fail with the setting name', () => {
  const base = { WEIR_STATE_DIR: '/tmp/x' };
  const s = resolveSettings({}, base);
  assert.is(s.telemetry.enabled, true);
  assert.is(s.telemetry.source, 'udp');
  assert.equal(s.telemetry.udpAddr, { host: '127.0.0.1', port: 0 });
  assert.is(s.telemetry.spoolMaxBytes, 256 * 1024 * 1024);
  assert.is(s.telemetry.elasticsearch, null);
  assert.is(resolveSettings({}, { ...base, WEIR_LOG_FILE: '/var/log/haproxy.log', WEIR_LOG_TARGET: '127.0.0.1:514' }).telemetry.source, 'file');
  assert.is(resolveSettings({}, { ...base, WEIR_LOG_TARGET: '127.0.0.1:514' }).telemetry.source, 'none');
  assert.is(resolveSettings({}, { ...base, WEIR_TELEMETRY: 'off', WEIR_LOG_SOURCE: 'udp', WEIR_LOG_TARGET: '127.0.0.1:514' }).telemetry.enabled, false);
  const es = resolveSettings({}, { ...base, WEIR_ELASTICSEARCH_URL: 'https://es:9200', WEIR_ELASTICSEARCH_USERNAME: 'u', WEIR_ELASTICSEARCH_PASSWORD: 'p' }).telemetry.elasticsearch;
  assert.equal(es, { url: 'https://es:9200', apiKey: null, username: 'u', password: 'p', caFile: null });
  // Shipping on: the ring by default (batched, buffered), and a larger V8 heap growth; off: UDP and V8's own.
  assert.is(s.telemetry.heapGrowthPercent, 0);
  const shipping = resolveSettings({}, { ...base, WEIR_ELASTICSEARCH_URL: 'http://es:9200' }).telemetry;
  assert.is(shipping.source, 'ring');
  assert.is(shipping.heapGrowthPercent, 150);
  assert.is(resolveSettings({}, { ...base, WEIR_ELASTICSEARCH_URL: 'http://es:9200', WEIR_LOG_SOURCE: 'udp', WEIR_HEAP_GROWTH_PERCENT: '0' }).telemetry.source, 'udp');
  assert.is(resolveSettings({}, { ...base, WEIR_ELASTICSEARCH_URL: 'http://es:9200', WEIR_HEAP_GROWTH_PERCENT: '0' }).telemetry.heapGrowthPercent, 0);
  assert.is(resolveSettings({}, { ...base, WEIR_HEAP_GROWTH_PERCENT: '300' }).telemetry.heapGrowthPercent, 300);
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ WEIR_TELEMETRY: 'yes' }, /WEIR_TELEMETRY: "yes" must be on or off/],
    [{ WEIR_LOG_SOURCE: 'kafka' }, /WEIR_LOG_SOURCE/],
    [{ WEIR_LOG_SOURCE: 'udp', WEIR_LOG_TARGET: '127.0.0.1:514' }, /WEIR_LOG_TARGET is set/],
    [{ WEIR_LOG_SOURCE: 'file' }, /needs WEIR_LOG_FILE/],
    [{ WEIR_LOG_UDP_ADDR: '0.0.0.0:514' }, /WEIR_LOG_UDP_ADDR: "0.0.0.0" must be a loopback/],
    [{ WEIR_ELASTICSEARCH_URL: 'ftp://x' }, /must be http/],
    [{ WEIR_ELASTICSEARCH_URL: 'http://x', WEIR_ELASTICSEARCH_API_KEY: 'k', WEIR_ELASTICSEARCH_USERNAME: 'u' }, /use one/],
    [{ WEIR_SPOOL_MAX_BYTES: '10' }, /WEIR_SPOOL_MAX_BYTES: 10 is outside/],
    [{ WEIR_HEAP_GROWTH_PERCENT: '2000' }, /WEIR_HEAP_GROWTH_PERCENT: 2000 is outside 0..1000/],
    [{ WEIR_HEAP_GROWTH_PERCENT: 'lots' }, /WEIR_HEAP_GROWTH_PERCENT: "lots" is not a whole number/],
  ];
  for (const [env, re] of bad) {
    try {
      resolveSettings({}, { ...base, ...env });
      assert.unreachable(`accepted ${JSON.stringify(env)}`);
    } catch (err) {
      assert.instance(err, SettingsError);
      assert.match((err as Error).message, re);
    }
  }
});

t('RFC 6587 framing: octet counting split anywhere, LF framing, oversized frames skipped whole', () => {
  const frames: string[] = [];
  let oversized = 0;
  const d = new FrameDecoder(100, (b, s, e) => frames.push(b.toString('utf8', s, e)), () => (oversized += 1));
  const msg = (s: string): string => `${Buffer.byteLength(s)} ${s}`;
  const stream = Buffer.from(msg('<134>1 a {"x":"é"}') + msg('<134>1 b') + '<134>legacy line\n' + msg('x'.repeat(150)) + msg('<134>1 after'));
  for (let i = 0; i < stream.length; i += 7) d.push(stream.subarray(i, i + 7)); // every split point is exercised
  assert.equal(frames, ['<134>1 a {"x":"é"}', '<134>1 b', '<134>legacy line', '<134>1 after']);
  assert.is(oversized, 1);
  const lf: string[] = [];
  const d2 = new FrameDecoder(10, (b, s, e) => lf.push(b.toString('utf8', s, e)), () => (oversized += 1));
  d2.push(Buffer.from(`<1>ok\n<1>${'y'.repeat(30)}\n<1>ok2\n`));
  assert.equal(lf, ['<1>ok', '<1>ok2']);
  assert.is(oversized, 2);
});

/** Counter totals as the tap reports them: HTTP backends with 2xx and 5xx responses. */
const totals = (rows: Record<string, { ok: number; err: number; mode?: string }>): Map<string, TapRow> =>
  new Map(
    Object.entries(rows).map(([b, r]) => {
      const counters = new Float64Array(COUNTER_FIELDS.length);
      counters[C.hrsp_2xx] = r.ok;
      counters[C.hrsp_5xx] = r.err;
      counters[C.stot] = r.ok + r.err;
      counters[C.econ] = r.err;
      return [b, { mode: r.mode ?? 'http', counters, gauges: new Float64Array(GAUGE_FIELDS.length) }];
    }),
  );

t('metrics windows: counts from counter deltas at the boundaries, latency from lines by end time, idle routes as zeros', () => {
  const rec = record(HTTP_LINE('x'));
  const windowStart = Math.floor((rec.time.getTime() + 15) / 10_000) * 10_000;
  let now = windowStart + 100;
  const out: GatewayWindowReport[] = [];
  const ns = { org: 'acme', env: 'prod' };
  const known = new Map([['shop', new Set(['blue', 'green'])], ['db', new Set(['one'])]]);
  let reads = 0;
  const agg = new WindowAggregator({ ns, agentId: 'a1', windowSeconds: 10, emit: (r) => out.push(r), now: () => now, known: () => known, readCounters: () => (reads += 1) });
  agg.onCounters(totals({ 'shop:blue': { ok: 1000, err: 7 }, 'db:one': { ok: 5, err: 0, mode: 'tcp' } }), now); // baseline (agent start)
  const labels = { gateway: 'shop', route: 'blue' };
  // Lines are a sample: 100 of the requests, latencies 1..100 ms.
  for (let i = 1; i <= 100; i++) agg.observe(record(HTTP_LINE(`r${i}`, 200, i, i)), labels);
  agg.onCounters(totals({ 'shop:blue': { ok: 1970, err: 37 }, 'db:one': { ok: 9, err: 1, mode: 'tcp' } }), windowStart + 10_000 + 3);
  agg.onCounters(totals({ 'shop:blue': { ok: 1980, err: 37 }, 'db:one': { ok: 9, err: 1, mode: 'tcp' } }), windowStart + 10_000 + 900);
  now = windowStart + 10_000 + 1999;
  agg.closeDue();
  assert.is(out.length, 0, 'still inside the grace period');
  now += 2;
  agg.closeDue();
  assert.is(out.length, 2, 'one report per applied gateway');
  const shop = out.find((r) => r.gateway === 'shop')!;
  assert.is(shop.start, windowStart);
  const blue = shop.routes.find((r) => r.route === 'blue')!;
  assert.is(blue.requests, 1000, 'the first read at/after the boundary ends the window: 2007 - 1007');
  assert.is(blue.errors, 30);
  assert.is(blue.latency.samples, 100);
  assert.is(blue.latency.sum_ms, 5050);
  assert.equal(shop.routes.find((r) => r.route === 'green'), { route: 'green', requests: 0, errors: 0, latency: { samples: 0, sum_ms: 0, histogram: { values: [], counts: [] } } });
  const db = out.find((r) => r.gateway === 'db')!;
  assert.is(db.mode, 'tcp');
  assert.equal([db.routes[0]!.requests, db.routes[0]!.errors], [5, 1], 'TCP: sessions started, connection + response errors');
  const docs = metricsDocuments(shop);
  assert.is(docs.length, 2, 'a gateway with traffic: one document per route');
  const d = docs.find((x) => x.document.weir.route === 'blue')!;
  assert.is(d.document.requests, 1000);
  assert.is(d.document.rate, 100);
  // Fixed buckets: within 2 % of the nearest-rank sample (metrics/latency-histogram.ts), exact below ~25 ms.
  for (const [k, exact] of [['p50', 50], ['p95', 95], ['p99', 99]] as const) {
    const v = d.document.response_time_ms![k]!;
    assert.ok(Math.abs(v - exact) / exact <= RELATIVE_ERROR, `${k} ${v} within 2 % of ${exact}`);
  }
  assert.is(d.document.errors_5xx, 30);
  assert.is(d.document.error_ratio, 0.03);
  assert.is(d.id, metricsDocumentId(ns, 'a1', 'shop', 'blue', windowStart));
  assert.match(d.index, /^weir-metrics-acme-prod-\d{4}\.\d\d\.\d\d$/);
  agg.observe(record(HTTP_LINE('late')), labels); // its window is closed
  // The next window: no read at its end boundary → no counts; the one after gets both.
  now = windowStart + 30_000 + 2001;
  agg.onCounters(totals({ 'shop:blue': { ok: 2500, err: 37 }, 'db:one': { ok: 9, err: 1, mode: 'tcp' } }), windowStart + 30_000 + 5);
  agg.closeDue();
  const blueOf = (k: number): number => out.filter((r) => r.gateway === 'shop')[k]!.routes.find((r) => r.route === 'blue')!.requests;
  assert.is(blueOf(1), 0);
  assert.is(blueOf(2), 530, 'the missed boundary moves counts to the next window, the total stays exact');
  const idle = metricsDocuments(out.filter((r) => r.gateway === 'db')[1]!);
  assert.is(idle.length, 1, 'an idle gateway: one document without a route');
  assert.is(idle[0]!.document.weir.route, undefined);
  assert.ok(reads === 0, 'boundary reads are scheduled by start() only');
});

t('filebeat/weir-logs-template.json is the template the agent installs (regenerate: npx tsx scripts/gen-filebeat-template.ts)', () => {
  assert.is(readFileSync(TEMPLATE_FILE, 'utf8'), templateText());
});

t('filebeat.yml script processor builds the same document fields as the agent', () => {
  const yml = parseYaml(readFileSync(join(packageRoot(), 'filebeat', 'filebeat.yml'), 'utf8')) as {
    'filebeat.inputs': Array<{ processors: Array<{ script?: { source: string; params: Record<string, string> } }> }>;
  };
  const script = yml['filebeat.inputs'][0]!.processors.find((p) => p.script)!.script!;
  const ns = { org: 'acme', env: 'prod' };
  for (const line of [HTTP_LINE('h1', 502), TCP_LINE, HTTP_LINE('h2', 200, 3, 4, 'GET /a\\\\b HTTP/1.1'), 'Nov 22 host haproxy[1]: Proxy shop started.']) {
    const fields: Record<string, unknown> = { message: line };
    let cancelled = false;
    const event = {
      Get: (k: string) => fields[k],
      Put: (k: string, v: unknown) => {
        fields[k] = v;
      },
      Cancel: () => {
        cancelled = true;
      },
    };
    const ctx: Record<string, unknown> = { event };
    runInNewContext(`${script.source}\nregister(${JSON.stringify({ org: 'acme', env: 'prod', agent_id: 'fb' })}); process(event);`, ctx);
    const parsed = parseLogLine(line);
    if (!parsed.ok) {
      assert.ok(cancelled, `dropped: ${line}`);
      continue;
    }
    assert.ok(!cancelled, line);
    const doc = toEcsDocument(parsed.record, ns, 'fb') as unknown as Record<string, Record<string, unknown>>;
    // Flatten the agent's document and compare every leaf the script wrote (event.id aside: the agent uses the _id).
    const flat: Record<string, unknown> = {};
    const walk = (o: Record<string, unknown>, p: string): void => {
      for (const [k, v] of Object.entries(o)) {
        if (v && typeof v === 'object' && !Array.isArray(v) && !(p === '' && k === 'haproxy')) walk(v as Record<string, unknown>, `${p}${k}.`);
        else flat[`${p}${k}`] = v;
      }
    };
    walk(doc, '');
    delete flat['@timestamp'];
    // JSON round trip: arrays and objects made inside the vm context have that context's prototypes.
    const here = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
    for (const [k, v] of Object.entries(flat)) assert.equal(here(fields[k]), v, `${k} for ${line.slice(0, 60)}`);
    assert.is(new Date(fields.weir_t_ms as number).toISOString(), doc['@timestamp'] as unknown as string);
  }
});

t.run();
