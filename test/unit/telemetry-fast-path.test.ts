// The shipper's fast paths against their general forms on generated lines: the log-format scan gives the
// record JSON.parse gives; the direct NDJSON writer gives JSON.stringify(toEcsDocument(...)) byte for byte.
// Plus the pieces the exact counts and the pooled windows rest on: show stat / show info parsing, the
// fixed-bucket histogram's bound and merge, filter_path in the Elasticsearch double.
import fc from 'fast-check';
import { suite, assert } from '../harness/uvu.js';
import { parseLogLine, parsePayloadJson, toEcsDocument } from '../../agent/telemetry/log-record.js';
import { scanRecord } from '../../agent/telemetry/fast-record.js';
import { agentIdKey, EcsLineWriter } from '../../agent/telemetry/ecs-line.js';
import { C, G, parseBackendCounters, parseWorkerInfo } from '../../agent/telemetry/stat-counters.js';
import { bucketIndex, bucketValue, LatencyHistogram, RELATIVE_ERROR } from '../../metrics/latency-histogram.js';
import { filterPath } from '../doubles/elasticsearch.js';
import { LinePipeline } from '../../agent/telemetry/line-pipeline.js';
import { bulkBody } from '../../agent/telemetry/es-shipper.js';
import { TelemetryMetrics } from '../../agent/telemetry/traffic-metrics.js';
import type { TrafficRecord } from '../../agent/telemetry/log-record.js';

const t = suite('telemetry fast paths');
const ns = { org: 'acme', env: 'prod' };

const token = fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/);
const int = fc.integer({ min: -1, max: 100_000 });
// Request lines as HAProxy writes them with %{+Q}r: printable, no raw quote; sometimes odd (`<BADREQ>`, one word,
// spaces, non-ASCII, a backslash that forces the repair path).
const requestLine = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT'), fc.stringMatching(/^\/[ -!#-~é]{0,40}$/), fc.constantFrom('HTTP/1.1', 'HTTP/2.0')).map(([m, p, v]) => `${m} ${p} ${v}`),
  fc.constantFrom('<BADREQ>', 'GET', 'GET /a b c HTTP/1.1', 'GET /x\\y HTTP/1.1', ''),
);
const httpPayload = fc
  .record({ t: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), id: token, ci: fc.constantFrom('127.0.0.1', '::1', '10.1.2.3'), cp: int, ft: token, b: fc.oneof(token, fc.constantFrom('<NOSRV>', 'shop:blue')), s: token, n: fc.array(int, { minLength: 16, maxLength: 16 }), st: fc.constantFrom(200, 404, 503, -1), tsc: fc.constantFrom('----', 'CD--', 'sH--'), hm: fc.constantFrom('GET', '', '-'), r: requestLine })
  .map((x) => `{"t":${Math.floor(x.t / 1000)}.${String(x.t % 1000).padStart(3, '0')},"id":"${x.id}","ci":"${x.ci}","cp":${x.cp},"ft":"${x.ft}","b":"${x.b}","s":"${x.s}","Tq":${x.n[0]},"Tw":${x.n[1]},"Tc":${x.n[2]},"Tr":${x.n[3]},"Ta":${x.n[4]},"Tt":${x.n[5]},"ST":${x.st},"B":${x.n[6]},"U":${x.n[7]},"tsc":"${x.tsc}","ac":${x.n[8]},"fc":${x.n[9]},"bc":${x.n[10]},"sc":${x.n[11]},"rc":${x.n[12]},"sq":${x.n[13]},"bq":${x.n[14]},"HM":"${x.hm}","r":"${x.r}"}`);
const tcpPayload = fc
  .record({ t: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), id: token, b: token, n: fc.array(int, { minLength: 12, maxLength: 12 }), ts: fc.constantFrom('--', 'SD', 'cD') })
  .map((x) => `{"t":${x.t / 1000},"id":"${x.id}","ci":"10.0.0.9","cp":${x.n[0]},"ft":"db","b":"${x.b}","s":"p1","Tw":${x.n[1]},"Tc":${x.n[2]},"Tt":${x.n[3]},"B":${x.n[4]},"U":${x.n[5]},"ts":"${x.ts}","ac":${x.n[6]},"fc":${x.n[7]},"bc":${x.n[8]},"sc":${x.n[9]},"rc":${x.n[10]},"sq":${x.n[11]},"bq":1}`);

t('the log-format scan gives the record JSON.parse gives (or declines and the JSON path answers)', () => {
  let scanned = 0;
  fc.assert(
    fc.property(fc.oneof(httpPayload, tcpPayload), (payload) => {
      const general = parsePayloadJson(payload);
      const fast = scanRecord(payload);
      if (fast) {
        scanned += 1;
        assert.ok(general.ok, 'the scan never accepts what the JSON path refuses');
        if (general.ok) assert.equal(fast, general.record);
      }
      const out = parseLogLine(`<134>1 2026-11-22T02:10:39Z h haproxy 1 - - ${payload}`);
      assert.equal(out.ok, general.ok);
      if (out.ok && general.ok) assert.equal(out.record, general.record);
    }),
    { numRuns: 3000 },
  );
  assert.ok(scanned > 2000, `most lines take the fast path (${scanned})`);
  for (const odd of ['{"id":"x","t":1}', '{"t":1e3,"id":"x"}', '{"t":1,"id":"a\\"b"}', '{ "t":1 }']) assert.is(scanRecord(odd), null, odd);
});

t('the direct NDJSON writer gives JSON.stringify(toEcsDocument(...)) byte for byte, with the _id as event.id', () => {
  const w = new EcsLineWriter({ ns, agentId: 'node-1.example' });
  fc.assert(
    fc.property(fc.oneof(httpPayload, tcpPayload), (payload) => {
      const out = parsePayloadJson(payload);
      if (!out.ok) return;
      const [action, doc, rest] = w.line(out.record).split('\n');
      assert.is(rest, '');
      const id = w.id(out.record);
      assert.is(doc, JSON.stringify(toEcsDocument(out.record, ns, 'node-1.example', id)));
      const day = out.record.time.toISOString().slice(0, 10).replace(/-/g, '.');
      assert.is(action, JSON.stringify({ create: { _index: `weir-logs-acme-prod-${day}`, _id: id } }));
    }),
    { numRuns: 2000 },
  );
  const r = parseLogLine('{"t":1763777439.042,"id":"7F000001:A0CE_7F000001:9A5B_6B026173_0000:06E0","ci":"127.0.0.1","cp":1,"ft":"f","b":"f:r","s":"s","Tw":0,"Tc":0,"Tt":1,"B":1,"U":1,"ts":"--","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0}');
  assert.ok(r.ok);
  if (r.ok) {
    assert.is(w.id(r.record), `${agentIdKey(ns, 'node-1.example')}.7F000001:A0CE_7F000001:9A5B_6B026173_0000:06E0`, 'agent key + HAProxy request id, no hash per line');
    assert.not.equal(new EcsLineWriter({ ns, agentId: 'node-2' }).id(r.record), w.id(r.record), 'another agent, another _id');
  }
});

t('show stat: backends only, by header, counters and gauges; show info: worker identity and drain state', () => {
  const stat = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,econ,eresp,wretr,wredis,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,req_tot,cli_abrt,srv_abrt,mode,\nshop,FRONTEND,,,3,5,,100,1,2,,,,,0,90,0,5,5,0,100,,,http,\nshop:blue,BACKEND,1,2,3,4,,70,700,7000,1,2,3,4,0,60,1,4,5,0,70,6,7,http,\nshop:blue,s0,0,0,0,0,,70,,,,,,,,,,,,,,,,http,\ndb:one,BACKEND,0,0,2,2,,9,10,20,0,1,0,0,,,,,,,,,,tcp,\n';
  const rows = parseBackendCounters(stat);
  assert.equal([...rows.keys()], ['shop:blue', 'db:one']);
  const b = rows.get('shop:blue')!;
  assert.is(b.mode, 'http');
  assert.equal([b.counters[C.req_tot], b.counters[C.hrsp_2xx], b.counters[C.hrsp_5xx], b.counters[C.stot], b.counters[C.bout], b.counters[C.cli_abrt]], [70, 60, 5, 70, 7000, 6]);
  assert.equal([b.gauges[G.scur], b.gauges[G.qcur]], [3, 1]);
  assert.is(rows.get('db:one')!.counters[C.eresp], 1);
  assert.throws(() => parseBackendCounters('shop:blue,BACKEND,1\n'), /no "# pxname/);
  const info = parseWorkerInfo('Name: HAProxy\nPid: 4242\nUptime_sec: 9\nCurrConns: 2\nStopping: 1\nStart_time_sec: 1796196546\n');
  assert.equal(info, { id: '4242@1796196546', pid: 4242, stopping: true, currConns: 2 });
  assert.throws(() => parseWorkerInfo('Name: HAProxy\n'), /no Pid/);
});

t('latency histogram: every value within 2 % of its bucket, whole ms exact below 25 ms, merge = add, HDR ranks', () => {
  for (let ms = 0; ms <= 25; ms++) assert.is(bucketValue(bucketIndex(ms)), ms, `${ms} ms exact`);
  fc.assert(
    fc.property(fc.double({ min: 0.5, max: 9e7, noNaN: true }), (ms) => {
      assert.ok(Math.abs(bucketValue(bucketIndex(ms)) - ms) / ms <= RELATIVE_ERROR + 1e-12 || Math.abs(bucketValue(bucketIndex(ms)) - ms) < 1);
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 60_000 }), { minLength: 1, maxLength: 400 }), fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 400 }), (a, b) => {
      const ha = new LatencyHistogram();
      const hb = new LatencyHistogram();
      const all = new LatencyHistogram();
      for (const v of a) (ha.add(v), all.add(v));
      for (const v of b) (hb.add(v), all.add(v));
      ha.mergeHistogram(hb);
      const sorted = [...a, ...b].sort((x, y) => x - y);
      for (const q of [0.5, 0.95, 0.99]) {
        assert.is(ha.quantile(q), all.quantile(q), 'merging two windows = one window of both');
        const exact = sorted[Math.max(1, Math.round(q * sorted.length)) - 1]!;
        const got = ha.quantile(q)!;
        assert.ok(exact <= 25 ? got === exact : Math.abs(got - exact) / exact <= RELATIVE_ERROR + 1e-12, `q${q}: ${got} vs ${exact}`);
      }
      assert.is(ha.sumMs, sorted.reduce((x, y) => x + y, 0));
    }),
    { numRuns: 300 },
  );
});

t('the double answers filter_path as Elasticsearch does (arrays passed through, * one level, ** any)', () => {
  const res = { took: 3, errors: true, items: [{ create: { _index: 'i', _id: 'a', status: 201, result: 'created' } }, { create: { _index: 'i', _id: 'b', status: 429, error: { type: 'es_rejected_execution_exception', reason: 'busy', index: 'i' } } }] };
  assert.equal(filterPath(res, ['errors', 'items.*.status', 'items.*.error.type', 'items.*.error.reason']), {
    errors: true,
    items: [{ create: { status: 201 } }, { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'busy' } } }],
  });
  assert.equal(filterPath(res, ['**.reason']), { items: [{ create: { error: { reason: 'busy' } } }] });
  assert.is(filterPath(res, ['nope']), undefined);
});

/** A pipeline with its own metrics and a recorder of what reaches the window aggregates. */
function pipelineWithRecorder(): { p: LinePipeline; metrics: TelemetryMetrics; windows: unknown[][] } {
  const metrics = new TelemetryMetrics();
  metrics.setKnown([{ gateway: 'shop', routes: ['blue'] }, { gateway: 'db', routes: ['p1'] }]);
  const windows: unknown[][] = [];
  const rec = {
    // What WindowAggregator.observe does with a record before its shared part.
    observe(r: TrafficRecord, l: { gateway: string; route: string }): void {
      if (l.route !== 'other') rec.observeAt(r.time.getTime(), r.mode, r.timings.Tt, r.timings.Ta, `${l.gateway}:${l.route}`);
    },
    observeAt(...a: unknown[]): void {
      windows.push(a);
    },
  };
  return { p: new LinePipeline({ ns, agentId: 'node-1.example', metrics, windows: rec, ship: true }), metrics, windows };
}

t('the byte path gives the bulk lines, metrics and window samples the string path gives, or hands the line to it', async () => {
  const bytes = pipelineWithRecorder();
  const strings = pipelineWithRecorder();
  let fast = 0;
  let total = 0;
  const headers = ['<134>1 2026-11-22T02:10:39.123456+00:00 h haproxy 1760 - - ', '<134>Nov 22 02:10:39 haproxy[1760]: ', '', '<134>1 2026-11-22T02:10:39Z h haproxy 1 - [x@1 a="]"] '];
  fc.assert(
    fc.property(fc.oneof(httpPayload, tcpPayload), fc.constantFrom(...headers), fc.constantFrom('', 'shop:blue', 'db:p1'), (payload, header, backend) => {
      const line = header + (backend ? payload.replace(/"b":"[^"]*"/, `"b":"${backend}"`) : payload);
      // Inside a bigger buffer, as a TCP chunk holds it.
      const buf = Buffer.concat([Buffer.from('xx'), Buffer.from(line, 'utf8'), Buffer.from('yy')]);
      const got = bytes.p.processBytes(buf, 2, buf.length - 2);
      const want = strings.p.process(line);
      total += 1;
      if (Buffer.isBuffer(got)) {
        fast += 1;
        assert.ok(typeof want === 'string', 'the string path also gives bulk lines');
        assert.is(got.toString('utf8'), want);
      } else assert.equal(got, want);
    }),
    { numRuns: 4000 },
  );
  assert.ok(fast > total / 3, `many lines take the byte path (${fast} of ${total})`);
  assert.ok(fast < total, 'some lines are handed to the string path');
  assert.equal(bytes.windows, strings.windows, 'same window samples');
  // Series in any order: the byte path makes a route's histogram child when it first sees the route, the string path on its first timing.
  const metricsText = async (m: TelemetryMetrics): Promise<string> => (await m.registry.metrics()).split('\n').sort().join('\n');
  assert.is(await metricsText(bytes.metrics), await metricsText(strings.metrics), 'same Prometheus text');
  // Not ours: nothing shipped, counted the same way.
  for (const odd of ['', 'garbage', '<134>1 2026-11-22T02:10:39Z h haproxy 1 - - Proxy shop started.', '{"t":1.5,"id":"é"}']) {
    const b = Buffer.from(odd);
    assert.equal(bytes.p.processBytes(b, 0, b.length), strings.p.process(odd), odd);
  }
});

t('bulk body: lines contiguous in one slab are the body as a view; anything else is copied, same bytes', () => {
  const slab = Buffer.alloc(15); // not from the shared pool, like a 1 MiB slab
  slab.write('aaa\nbbbb\ncc\nzz');
  const a = slab.subarray(0, 4);
  const b = slab.subarray(4, 9);
  const c = slab.subarray(9, 12);
  const view = bulkBody([{ line: a }, { line: b }, { line: c }]);
  assert.is(view.toString(), 'aaa\nbbbb\ncc\n');
  assert.is(view.buffer, slab.buffer, 'no copy');
  const gap = bulkBody([{ line: a }, { line: c }]);
  assert.is(gap.toString(), 'aaa\ncc\n');
  assert.is.not(gap.buffer, slab.buffer);
  assert.is(bulkBody([{ line: a }, { line: 'x\n' }, { line: b }]).toString(), 'aaa\nx\nbbbb\n');
  assert.is(bulkBody([{ line: c }, { line: b }]).toString(), 'cc\nbbbb\n', 'out of order is copied in queue order');
  assert.is(bulkBody([]).length, 0);
});

t.run();
