import { test, assert } from '../harness/uvu.js';
import { documentId, indexName, parseLogLine, syslogPayload, toEcsDocument, validateNamespace, NamespaceError, MAX_LINE_BYTES } from '../../agent/telemetry/log-record.js';

// Shapes as HAProxy 2.6.12 sends them (captured by test/integration/telemetry-haproxy-log.test.ts).
const HTTP =
  '{"t":1763777439.042,"id":"7F000001 127.0.0.1:40000_127.0.0.1:8080_1763777439_0003:77","ci":"127.0.0.1","cp":40000,"ft":"shop","b":"shop:blue","s":"blue_1","Tq":0,"Tw":0,"Tc":1,"Tr":2,"Ta":3,"Tt":4,"ST":200,"B":150,"U":80,"tsc":"----","ac":1,"fc":1,"bc":0,"sc":0,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"GET /blue/item?i=1 HTTP/1.1"}';
const TCP =
  '{"t":1763777439.5,"id":"x1","ci":"10.0.0.9","cp":5000,"ft":"db","b":"db:primary","s":"p1","Tw":0,"Tc":0,"Tt":12,"B":7,"U":0,"ts":"--","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0}';
const rfc5424 = (p: string): string => `<134>1 2026-11-22T02:10:39.042741+00:00 host haproxy 4242 - - ${p}`;
const rfc3164 = (p: string): string => `<134>Nov 22 02:10:39 haproxy[4242]: ${p}`;

test('rfc5424, rfc3164, no-PRI and bare payloads all parse to the same record', () => {
  for (const line of [rfc5424(HTTP), rfc3164(HTTP), `Nov 22 02:10:39 host haproxy[1]: ${HTTP}`, `1 2026-11-22T02:10:39Z h haproxy 1 - [a@1 k="v\\]"] ${HTTP}`, HTTP, `${HTTP}\n`]) {
    const out = parseLogLine(line);
    if (!out.ok) throw new Error(`${out.reason}: ${out.detail} in ${line}`);
    assert.is(out.payload, HTTP);
    const r = out.record;
    assert.is(r.time.toISOString(), '2025-11-22T02:10:39.042Z');
    assert.equal([r.gateway, r.route, r.frontend, r.server, r.mode, r.status, r.method], ['shop', 'blue', 'shop', 'blue_1', 'http', 200, 'GET']);
    assert.equal(r.timings, { Tq: 0, Tw: 0, Tc: 1, Tr: 2, Ta: 3, Tt: 4 });
    assert.equal([r.bytesIn, r.bytesOut, r.clientPort, r.terminationState], [80, 150, 40000, '----']);
    assert.equal(r.connections, { active: 1, frontend: 1, backend: 0, server: 0, retries: 0 });
    assert.equal(r.queues, { server: 0, backend: 0 });
  }
});

test('TCP record: mode tcp, -1 for HTTP-only timings, no method/status', () => {
  const out = parseLogLine(rfc5424(TCP));
  assert.ok(out.ok);
  if (!out.ok) return;
  assert.is(out.record.mode, 'tcp');
  assert.is(out.record.status, -1);
  assert.is(out.record.method, null);
  assert.is(out.record.requestLine, null);
  assert.equal(out.record.timings, { Tq: -1, Tw: 0, Tc: 0, Tr: -1, Ta: -1, Tt: 12 });
  assert.is(out.record.terminationState, '--');
  assert.equal([out.record.gateway, out.record.route], ['db', 'primary']);
});

test('<NOSRV> and -1 timings', () => {
  const line = HTTP.replace('"b":"shop:blue","s":"blue_1"', '"b":"shop","s":"<NOSRV>"').replace('"Tr":2', '"Tr":-1').replace('"ST":200', '"ST":503');
  const out = parseLogLine(line);
  assert.ok(out.ok);
  if (!out.ok) return;
  assert.is(out.record.gateway, null);
  assert.is(out.record.route, null);
  assert.is(out.record.timings.Tr, -1);
  const nosrv = parseLogLine(HTTP.replace('"b":"shop:blue"', '"b":"<NOSRV>"'));
  assert.ok(nosrv.ok && nosrv.record.route === null);
});

test('request line with backslash and raw quotes is repaired, not mis-decoded', () => {
  for (const uri of ['/a\\b', '/x"y', '/p\\"}q', '/u\\u0041']) {
    const line = HTTP.replace('"r":"GET /blue/item?i=1 HTTP/1.1"', `"r":"GET ${uri} HTTP/1.1"`);
    const out = parseLogLine(rfc3164(line));
    if (!out.ok) throw new Error(`${uri}: ${out.reason} ${out.detail}`);
    assert.is(out.record.requestLine, `GET ${uri} HTTP/1.1`);
    assert.ok(out.repaired);
    assert.is(out.record.status, 200);
  }
});

test('garbage, empty, oversized and incomplete lines are values with bounded reasons', () => {
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    ['   ', 'empty'],
    // A syslog line with a text message is HAProxy's own event (connect, server DOWN), not garbage.
    ['<134>1 2026-11-22T02:10:39Z h haproxy 1 - - Connect from 127.0.0.1', 'haproxy_event'],
    ['<133>Nov 22 02:51:00 vm haproxy[7]: Server shop:v1/s0 is DOWN', 'haproxy_event'],
    ['hello world', 'no_payload'],
    ['<134>Nov 22 02:10:39 haproxy[1]: {"t":1,', 'invalid_json'],
    ['{"t":1}', 'missing_field'],
    [TCP.replace('"cp":5000', '"cp":"5000"'), 'bad_field'],
    [HTTP.replace('"t":1763777439.042', '"t":1e300'), 'bad_field'],
    ['[1,2]', 'no_payload'],
    [`{"r":"${'x'.repeat(MAX_LINE_BYTES)}"}`, 'oversized'],
    [`{"r":"${'é'.repeat(MAX_LINE_BYTES / 2 + 1)}"}`, 'oversized'],
  ];
  for (const [line, reason] of cases) {
    const out = parseLogLine(line);
    assert.is(out.ok, false, line.slice(0, 60));
    if (!out.ok) {
      assert.is(out.reason, reason, `${line.slice(0, 60)} → ${out.detail}`);
      assert.ok(out.detail.length > 0 && out.detail.length < 200);
    }
  }
  assert.is(syslogPayload('<99999>x'), null);
});

test('ECS document and deterministic id', () => {
  const out = parseLogLine(rfc5424(HTTP));
  assert.ok(out.ok);
  if (!out.ok) return;
  const ns = { org: 'acme', env: 'prod' };
  const id = documentId(out.record, out.payload, ns);
  assert.match(id, /^[A-Za-z0-9_-]{32}$/);
  const again = parseLogLine(rfc3164(HTTP));
  assert.ok(again.ok && documentId(again.record, again.payload, ns) === id, 'same payload via other framing → same id');
  assert.is.not(documentId(out.record, out.payload, { org: 'acme', env: 'dev' }), id);
  const doc = toEcsDocument(out.record, ns, 'agent-1', id);
  assert.is(doc['@timestamp'], '2025-11-22T02:10:39.042Z');
  assert.is(doc.event.id, id);
  assert.is(doc.event.duration, 4_000_000);
  assert.is(doc.event.outcome, 'success');
  assert.equal(doc.source, { ip: '127.0.0.1', port: 40000 });
  assert.equal(doc.http, { request: { id: out.record.id, method: 'GET' }, response: { bytes: 150, status_code: 200 } });
  assert.equal(doc.url, { original: '/blue/item?i=1' });
  assert.equal([doc.weir.gateway, doc.weir.route, doc.weir.namespace], ['shop', 'blue', 'acme-prod']);
  assert.is(doc.haproxy.backend_name, 'shop:blue');
  assert.is(doc.haproxy.time_total_ms, 4);
  assert.is(indexName(ns, out.record.time), 'weir-logs-acme-prod-2025.11.22');
  const tcp = parseLogLine(TCP);
  assert.ok(tcp.ok);
  if (tcp.ok) {
    const d = toEcsDocument(tcp.record, ns, 'a');
    assert.is(d.http, undefined);
    assert.is(d.url, undefined);
    assert.is(d.event.id, 'x1');
  }
});

test('namespace must make valid ES index names', () => {
  validateNamespace({ org: 'acme', env: 'prod-eu.1' });
  for (const bad of [{ org: 'Acme', env: 'p' }, { org: 'a b', env: 'p' }, { org: 'a', env: 'x*' }, { org: '', env: 'p' }, { org: '-a', env: 'p' }]) {
    assert.throws(() => validateNamespace(bad), (e: unknown) => e instanceof NamespaceError && /namespace/.test((e as Error).message));
  }
});

test.run();
