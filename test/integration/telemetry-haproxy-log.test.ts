import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test, suite, assert } from '../harness/uvu.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { freePorts } from '../harness/ports.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { httpUpstream, tcpUpstream, type Upstream } from '../harness/upstream.js';
import { get, tcpRead } from '../harness/http.js';
import { startSyslogUdp, type SyslogUdpReceiver } from '../../agent/telemetry/syslog-udp.js';
import { parseLogLine, type TrafficRecord } from '../../agent/telemetry/log-record.js';
import { createLineHandler } from '../../agent/telemetry/line-handler.js';
import { EsShipper } from '../../agent/telemetry/es-shipper.js';
import { createEsClient } from '../../metrics/es-connection.js';
import { TelemetryMetrics } from '../../agent/telemetry/traffic-metrics.js';
import { startElasticsearchDouble } from '../doubles/elasticsearch.js';

// The log formats exactly as the lead's template emits them (see the telemetry brief).
const HTTP_FORMAT = `'{"t":%Ts.%ms,"id":"%ID","ci":"%ci","cp":%cp,"ft":"%ft","b":"%b","s":"%s","Tq":%Tq,"Tw":%Tw,"Tc":%Tc,"Tr":%Tr,"Ta":%Ta,"Tt":%Tt,"ST":%ST,"B":%B,"U":%U,"tsc":"%tsc","ac":%ac,"fc":%fc,"bc":%bc,"sc":%sc,"rc":%rc,"sq":%sq,"bq":%bq,"HM":"%HM","r":%{+Q}r}'`;
const TCP_FORMAT = `'{"t":%Ts.%ms,"id":"%ID","ci":"%ci","cp":%cp,"ft":"%ft","b":"%b","s":"%s","Tw":%Tw,"Tc":%Tc,"Tt":%Tt,"B":%B,"U":%U,"ts":"%ts","ac":%ac,"fc":%fc,"bc":%bc,"sc":%sc,"rc":%rc,"sq":%sq,"bq":%bq}'`;

interface Ctx {
  dir?: { path: string; remove: () => Promise<void> };
  up?: Upstream;
  tcpUp?: Upstream;
  proc?: ChildProcess;
  rx?: SyslogUdpReceiver;
  lines: string[];
  tap?: (line: string) => void;
  httpPort: number;
  tcpPort: number;
}

const T = suite<Ctx>('telemetry: real HAProxy 2.6 logs → UDP receiver → parser', { lines: [], httpPort: 0, tcpPort: 0 });

async function startHaproxy(ctx: Ctx, syslogFormat: 'rfc5424' | 'rfc3164'): Promise<void> {
  const dir = ctx.dir!;
  const [httpPort, tcpPort] = await freePorts(2);
  ctx.httpPort = httpPort!;
  ctx.tcpPort = tcpPort!;
  const cfg = `global
  log 127.0.0.1:${ctx.rx!.address().port} len 8192 format ${syslogFormat} local0 info
defaults
  log global
  timeout connect 2s
  timeout client 5s
  timeout server 5s
  unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
frontend shop
  mode http
  bind 127.0.0.1:${ctx.httpPort}
  log-format ${HTTP_FORMAT}
  use_backend shop:blue if { path_beg /blue }
  http-request deny deny_status 403 if { path_beg /deny }
backend shop:blue
  mode http
  server blue_1 127.0.0.1:${ctx.up!.port}
frontend db
  mode tcp
  bind 127.0.0.1:${ctx.tcpPort}
  log-format ${TCP_FORMAT}
  default_backend db:primary
backend db:primary
  mode tcp
  server p1 127.0.0.1:${ctx.tcpUp!.port}
`;
  const file = join(dir.path, `haproxy-${syslogFormat}.cfg`);
  await writeFile(file, cfg);
  const proc = spawn(haproxyBin(), ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  ctx.proc = proc;
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
      return (await get(`http://127.0.0.1:${ctx.httpPort}/blue/ready`, {}, 500)).status === 200;
    },
    { what: 'haproxy listening' },
  );
}

async function stopHaproxy(ctx: Ctx): Promise<void> {
  const p = ctx.proc;
  ctx.proc = undefined;
  if (p && p.exitCode === null) {
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }
}

T.before(async (ctx) => {
  ctx.dir = await tempDir('weir-telemetry-');
  ctx.up = await httpUpstream('blue');
  ctx.tcpUp = await tcpUpstream('primary');
  ctx.rx = await startSyslogUdp({ port: 0, sink: (l) => {
      ctx.lines.push(l);
      ctx.tap?.(l);
    },
  });
});

T.after.each(async (ctx) => {
  await stopHaproxy(ctx);
  ctx.lines.length = 0;
  ctx.tap = undefined;
});

T.after(async (ctx) => {
  await stopHaproxy(ctx);
  await ctx.rx?.close();
  await ctx.up?.close();
  await ctx.tcpUp?.close();
  await ctx.dir?.remove();
});

const parsedRecords = (lines: string[]): TrafficRecord[] =>
  lines.map((l) => {
    const out = parseLogLine(l);
    if (!out.ok) throw new Error(`unparsed line (${out.reason}: ${out.detail}): ${l}`);
    return out.record;
  });

for (const fmt of ['rfc5424', 'rfc3164'] as const) {
  T(`${fmt}: N HTTP requests → N records with backend, status and route`, async (ctx) => {
    await startHaproxy(ctx, fmt);
    await waitFor(() => ctx.lines.length >= 1, { what: 'readiness log line' });
    ctx.lines.length = 0;
    const N = 20;
    for (let i = 0; i < N; i += 1) assert.is((await get(`http://127.0.0.1:${ctx.httpPort}/blue/item?i=${i}`)).status, 200);
    await waitFor(() => ctx.lines.length >= N, { what: `${N} log lines` });
    if (fmt === 'rfc5424') assert.match(ctx.lines[0]!, /^<134>1 \d{4}-/);
    else assert.match(ctx.lines[0]!, /^<134>[A-Z][a-z]{2} [ \d]\d /);
    const recs = parsedRecords(ctx.lines);
    assert.is(recs.length, N);
    const ids = new Set(recs.map((r) => r.id));
    assert.is(ids.size, N, 'unique-id-format gives every request its own id');
    // HAProxy logs when a stream ends, on whichever thread ran it: lines may swap places.
    const expected = Array.from({ length: N }, (_, i) => `GET /blue/item?i=${i} HTTP/1.1`).sort();
    assert.equal(recs.map((r) => r.requestLine).sort(), expected);
    for (const r of recs) {
      assert.is(r.mode, 'http');
      assert.is(r.frontend, 'shop');
      assert.is(r.backend, 'shop:blue');
      assert.is(r.gateway, 'shop');
      assert.is(r.route, 'blue');
      assert.is(r.server, 'blue_1');
      assert.is(r.status, 200);
      assert.is(r.method, 'GET');
      assert.is(r.clientIp, '127.0.0.1');
      assert.ok(r.timings.Tt >= 0 && r.timings.Tr >= 0);
      assert.ok(r.bytesOut > 0 && r.bytesIn > 0);
      assert.ok(Math.abs(r.time.getTime() - Date.now()) < 60_000);
      assert.is(r.terminationState, '----');
    }
  });
}

T('no backend (<NOSRV>), denied request, backslash/quote in URI, TCP record', async (ctx) => {
  await startHaproxy(ctx, 'rfc5424');
  await waitFor(() => ctx.lines.length >= 1, { what: 'readiness log line' });
  ctx.lines.length = 0;
  assert.is((await get(`http://127.0.0.1:${ctx.httpPort}/nowhere`)).status, 503);
  assert.is((await get(`http://127.0.0.1:${ctx.httpPort}/deny`)).status, 403);
  // Raw request: Node's client would refuse these characters in a path.
  await new Promise<void>((resolve, reject) => {
    const s = connect(ctx.httpPort, '127.0.0.1', () => s.end('GET /blue/a\\b"c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    s.on('data', () => undefined);
    s.on('close', () => resolve());
    s.on('error', reject);
  });
  assert.is(await tcpRead(ctx.tcpPort), 'primary');
  await waitFor(() => ctx.lines.length >= 4, { what: '4 log lines' });
  const recs = parsedRecords(ctx.lines);
  const nosrv = recs.find((r) => r.requestLine === 'GET /nowhere HTTP/1.1')!;
  assert.is(nosrv.backend, 'shop');
  assert.is(nosrv.server, '<NOSRV>');
  assert.is(nosrv.status, 503);
  const denied = recs.find((r) => r.requestLine === 'GET /deny HTTP/1.1')!;
  assert.is(denied.status, 403);
  assert.is(denied.timings.Tr, -1, 'no server response → Tr = -1');
  const odd = recs.find((r) => r.requestLine?.startsWith('GET /blue/a'))!;
  assert.ok(odd, 'the backslash line parsed (repair path)');
  // HAProxy 2.6 encodes `"` as #22 in %r but leaves `\` alone; the parser restores the literal text.
  assert.is(odd.requestLine, 'GET /blue/a\\b#22c HTTP/1.1');
  const tcp = recs.find((r) => r.mode === 'tcp')!;
  assert.is(tcp.backend, 'db:primary');
  assert.is(tcp.gateway, 'db');
  assert.is(tcp.route, 'primary');
  assert.is(tcp.status, -1);
  assert.is(tcp.method, null);
  assert.ok(tcp.bytesOut >= 7);
});

T('end to end: HAProxy → UDP → parse → metrics → shipper → ES double', async (ctx) => {
  const es = await startElasticsearchDouble();
  const client = createEsClient({ url: es.url });
  const metrics = new TelemetryMetrics();
  metrics.setKnown([{ gateway: 'shop', routes: ['blue'] }]);
  const shipper = new EsShipper<never>({ client, batchSize: 50, flushIntervalMs: 20, metrics });
  try {
    await shipper.start();
    const handle = createLineHandler({ ns: { org: 'acme', env: 'test' }, agentId: 'a1', metrics, shipper });
    ctx.tap = (l) => void handle(l);
    await startHaproxy(ctx, 'rfc5424');
    const N = 15;
    for (let i = 0; i < N; i += 1) assert.is((await get(`http://127.0.0.1:${ctx.httpPort}/blue/e2e/${i}`)).status, 200);
    await waitFor(() => es.docs('weir-logs-acme-test-*').filter((d) => String((d.source.url as { original: string }).original).startsWith('/blue/e2e/')).length === N, {
      what: `${N} documents`,
    });
    const docs = es.docs('weir-logs-acme-test-*').filter((d) => String((d.source.url as { original: string }).original).startsWith('/blue/e2e/'));
    for (const d of docs) {
      assert.equal(d.source.weir, { gateway: 'shop', route: 'blue', namespace: 'acme-test', org: 'acme', env: 'test', mode: 'http' });
      assert.is((d.source.http as { response: { status_code: number } }).response.status_code, 200);
      assert.is((d.source.event as { id: string }).id, d.id);
    }
    const text = await metrics.registry.metrics();
    // +1: the readiness probe request in startHaproxy also went through /blue. (Request counts are not
    // taken from lines: telemetry-counters.test.ts.)
    assert.match(text, /weir_http_response_time_seconds_count\{gateway="shop",route="blue",phase="total"\} 16/);
    assert.match(text, /weir_log_lines_parsed_total 16/);
  } finally {
    await shipper.close(1000);
    await client.close();
    await es.stop();
  }
});

T.run();
