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
import { WindowAggregator, metricsDocumentId, type MetricsItem } from '../../agent/telemetry/window-aggregator.js';
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
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ WEIR_TELEMETRY: 'yes' }, /WEIR_TELEMETRY: "yes" must be on or off/],
    [{ WEIR_LOG_SOURCE: 'kafka' }, /WEIR_LOG_SOURCE/],
    [{ WEIR_LOG_SOURCE: 'udp', WEIR_LOG_TARGET: '127.0.0.1:514' }, /WEIR_LOG_TARGET is set/],
    [{ WEIR_LOG_SOURCE: 'file' }, /needs WEIR_LOG_FILE/],
    [{ WEIR_LOG_UDP_ADDR: '0.0.0.0:514' }, /WEIR_LOG_UDP_ADDR: "0.0.0.0" must be a loopback/],
    [{ WEIR_ELASTICSEARCH_URL: 'ftp://x' }, /must be http/],
    [{ WEIR_ELASTICSEARCH_URL: 'http://x', WEIR_ELASTICSEARCH_API_KEY: 'k', WEIR_ELASTICSEARCH_USERNAME: 'u' }, /use one/],
    [{ WEIR_SPOOL_MAX_BYTES: '10' }, /WEIR_SPOOL_MAX_BYTES: 10 is outside/],
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
  const d = new FrameDecoder(100, (f) => frames.push(f), () => (oversized += 1));
  const msg = (s: string): string => `${Buffer.byteLength(s)} ${s}`;
  const stream = Buffer.from(msg('<134>1 a {"x":"é"}') + msg('<134>1 b') + '<134>legacy line\n' + msg('x'.repeat(150)) + msg('<134>1 after'));
  for (let i = 0; i < stream.length; i += 7) d.push(stream.subarray(i, i + 7)); // every split point is exercised
  assert.equal(frames, ['<134>1 a {"x":"é"}', '<134>1 b', '<134>legacy line', '<134>1 after']);
  assert.is(oversized, 1);
  const lf: string[] = [];
  const d2 = new FrameDecoder(10, (f) => lf.push(f), () => (oversized += 1));
  d2.push(Buffer.from(`<1>ok\n<1>${'y'.repeat(30)}\n<1>ok2\n`));
  assert.equal(lf, ['<1>ok', '<1>ok2']);
  assert.is(oversized, 2);
});

t('metrics windows: by end time, exact nearest-rank percentiles, late records counted, deterministic _id', () => {
  let now = 0;
  const out: MetricsItem[] = [];
  const ns = { org: 'acme', env: 'prod' };
  const agg = new WindowAggregator({ ns, agentId: 'a1', windowSeconds: 10, emit: (i) => out.push(i), now: () => now });
  const labels = { gateway: 'shop', route: 'blue' };
  for (let i = 1; i <= 100; i++) agg.observe(record(HTTP_LINE(`r${i}`, i <= 3 ? 503 : 200, i, i)), labels);
  const rec = record(HTTP_LINE('x'));
  const windowStart = Math.floor((rec.time.getTime() + 15) / 10_000) * 10_000;
  now = windowStart + 10_000 + 1999;
  agg.closeDue();
  assert.is(out.length, 0, 'still inside the grace period');
  now += 2;
  agg.closeDue();
  assert.is(out.length, 1);
  const d = out[0]!.document;
  assert.is(d.requests, 100);
  assert.is(d.rate, 10);
  assert.equal(d.response_time_ms, { p50: 50, p95: 95, p99: 99 });
  assert.is(d.errors_5xx, 3);
  assert.is(d.error_ratio, 0.03);
  assert.ok(Math.abs(d.health - 0.97) < 1e-12);
  assert.is(out[0]!.id, metricsDocumentId(ns, 'a1', 'shop', 'blue', windowStart));
  assert.match(out[0]!.index, /^weir-metrics-acme-prod-\d{4}\.\d\d\.\d\d$/);
  agg.observe(record(HTTP_LINE('late')), labels); // its window is closed
  agg.closeAll();
  assert.is(out.length, 1, 'a late record does not reopen a closed window');
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
