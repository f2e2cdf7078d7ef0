import { Registry } from 'prom-client';
import { test, assert } from '../harness/uvu.js';
import { parseLogLine, type TrafficRecord } from '../../agent/telemetry/log-record.js';
import { TelemetryMetrics } from '../../agent/telemetry/traffic-metrics.js';
import { createLineHandler } from '../../agent/telemetry/line-handler.js';
import { routeLabels } from '../../agent/telemetry/route-metrics.js';

const line = (b: string, st: number, tt: number, tcp = false): string =>
  tcp
    ? `{"t":1763777439.5,"id":"x","ci":"10.1.2.3","cp":1,"ft":"db","b":"${b}","s":"p1","Tw":0,"Tc":0,"Tt":${tt},"B":7,"U":3,"ts":"--","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0}`
    : `{"t":1763777439.5,"id":"x","ci":"10.1.2.3","cp":1,"ft":"f","b":"${b}","s":"s","Tq":0,"Tw":0,"Tc":0,"Tr":1,"Ta":${tt},"Tt":${tt},"ST":${st},"B":100,"U":40,"tsc":"----","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"GET /secret/path?user=1 HTTP/1.1"}`;
const rec = (l: string): TrafficRecord => {
  const o = parseLogLine(l);
  if (!o.ok) throw new Error(o.detail);
  return o.record;
};

test('log lines feed only the latency histograms (seconds, bounded labels); counts and bytes come from HAProxy\'s counters', async () => {
  const registry = new Registry();
  const m = new TelemetryMetrics({ registry });
  m.setKnown([
    { gateway: 'shop', routes: ['blue', 'green'] },
    { gateway: 'db', routes: ['primary'] },
  ]);
  m.observe(rec(line('shop:blue', 200, 250)));
  m.observe(rec(line('shop:blue', 503, 2)));
  m.observe(rec(line('shop:purple', 404, 2))); // route not applied
  m.observe(rec(line('evil:x', 200, 2))); // gateway not applied
  m.observe(rec(line('<NOSRV>', 503, 2)));
  m.observe(rec(line('db:primary', -1, 40, true)));
  const text = await registry.metrics();
  assert.match(text, /weir_http_response_time_seconds_bucket\{le="0.25",gateway="shop",route="blue",phase="total"\} 2/);
  assert.match(text, /weir_http_response_time_seconds_bucket\{le="0.1",gateway="shop",route="blue",phase="total"\} 1/);
  assert.match(text, /weir_http_response_time_seconds_sum\{gateway="shop",route="blue",phase="total"\} 0.252/);
  assert.match(text, /weir_http_response_time_seconds_count\{gateway="shop",route="other",phase="active"\} 1/);
  assert.match(text, /weir_http_response_time_seconds_count\{gateway="other",route="other",phase="total"\} 2/);
  assert.not.match(text, /^# TYPE (weir_http_requests_total|weir_traffic_bytes_total)/m, 'not from lines, which may be sampled');
  assert.not.match(text, /evil|purple|secret|10\.1\.2\.3/, 'no unbounded label values');
  assert.not.match(text, /gateway="db"/, 'TCP lines have no HTTP timings');
});

test('route labels: applied routes only; HAProxy\'s internal backends are other/other', () => {
  const known = new Map([['shop', new Set(['blue', 'v1.2_x'])]]);
  assert.equal(routeLabels('shop:blue', known), { gateway: 'shop', route: 'blue' });
  assert.equal(routeLabels('shop:v1.2_x', known), { gateway: 'shop', route: 'v1.2_x' });
  assert.is(routeLabels('shop:gone', known), null);
  assert.is(routeLabels('evil:x', known), null);
  assert.equal(routeLabels('weir_http_503', known), { gateway: 'other', route: 'other' });
  assert.is(routeLabels('stats', known), null);
});

test('line handler counts received/parsed/failed with bounded reasons', async () => {
  const m = new TelemetryMetrics();
  const handle = createLineHandler({ ns: { org: 'o', env: 'e' }, agentId: 'a', metrics: m });
  assert.is(handle(line('shop:blue', 200, 1)), true);
  assert.is(handle('garbage'), false);
  assert.is(handle('{"t":1}'), false);
  assert.is(handle(''), false);
  const text = await m.registry.metrics();
  assert.match(text, /weir_log_lines_received_total 4/);
  assert.match(text, /weir_log_lines_parsed_total 1/);
  assert.match(text, /weir_log_lines_failed_total\{reason="no_payload"\} 1/);
  assert.match(text, /weir_log_lines_failed_total\{reason="missing_field"\} 1/);
  assert.match(text, /weir_log_lines_failed_total\{reason="empty"\} 1/);
});

test.run();
