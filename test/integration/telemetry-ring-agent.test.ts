// The ring source in the real agent: HAProxy 2.6 `ring` → TCP (octet counting) → the agent's TCP receiver.
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { freePorts } from '../harness/ports.js';
import { get } from '../harness/http.js';
import { sleep, waitFor } from '../harness/tmp.js';
import { startElasticsearchDouble, type ElasticsearchDouble, type Doc } from '../doubles/elasticsearch.js';

const t = suite('telemetry ring source in the real agent');
let fx: AgentFixture;
let es: ElasticsearchDouble;
let up: Upstream;
let gwPort = 0;

t.before(async () => {
  es = await startElasticsearchDouble();
  up = await httpUpstream('up');
  [gwPort] = (await freePorts(1)) as [number];
  fx = await startAgent({
    env: { WEIR_LOG_SOURCE: 'ring', WEIR_ELASTICSEARCH_URL: es.url },
    files: { 'web.yaml': gatewayYaml('web', gwPort, { a: { weight: 100, targets: [up.port] } }) },
  });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'web'), 'web applied');
});

t.after(async () => {
  await fx?.cleanup();
  await up?.close();
  await es?.stop();
});

const docs = (): Doc[] => [...es.indices.entries()].filter(([n]) => n.startsWith('weir-logs-')).flatMap(([, m]) => [...m.values()]);

t('the config carries the ring section forwarding to the agent, and N requests arrive exactly once', async () => {
  const addr = fx.agent.telemetry!.logAddress()!;
  assert.is(addr.protocol, 'tcp');
  const cfg = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');
  assert.match(cfg, /^  log ring@weir_logs len 8192 format rfc5424 local0 info$/m);
  assert.match(cfg, new RegExp(`^ring weir_logs\\n(?:  .*\\n)*  server weir-agent 127\\.0\\.0\\.1:${addr.port} log-proto octet-count$`, 'm'));
  const N = 80;
  for (let i = 0; i < N; i++) assert.is((await get(`http://127.0.0.1:${gwPort}/ring/${i}`)).status, 200);
  const ring = (): Doc[] => docs().filter((d) => String((d.url as { original: string }).original).startsWith('/ring/'));
  await waitFor(() => ring().length >= N, { what: `${N} documents`, timeoutMs: 10_000 });
  await sleep(300);
  assert.is(ring().length, N);
  const text = await fx.agent.metrics.registry.metrics();
  assert.match(text, new RegExp(`weir_http_requests_total\\{gateway="web",route="a",code_class="2xx"\\} (\\d+)`));
  const counted = Number(/weir_http_requests_total\{gateway="web",route="a",code_class="2xx"\} (\d+)/.exec(text)![1]);
  assert.is(counted, N);
});

t('an oversized or garbage TCP frame is counted and the connection keeps working', async () => {
  const addr = fx.agent.telemetry!.logAddress()!;
  const sock = connect(addr.port, addr.host);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const big = 'x'.repeat(70_000);
  sock.write(`${big.length} ${big}9 not json!`);
  const ok = `<134>1 2026-01-01T00:00:00Z h haproxy 1 - - {"t":${Date.now() / 1000},"id":"tcp-frame","ci":"127.0.0.1","cp":1,"ft":"web","b":"web:a","s":"s0","Tq":0,"Tw":0,"Tc":0,"Tr":1,"Ta":1,"Tt":1,"ST":200,"B":1,"U":1,"tsc":"----","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"GET /frame HTTP/1.1"}`;
  sock.write(`${Buffer.byteLength(ok)} ${ok}`);
  await waitFor(() => docs().some((d) => (d.url as { original: string }).original === '/frame'), { what: 'frame after the oversized one' });
  sock.destroy();
  const text = await fx.agent.metrics.registry.metrics();
  assert.match(text, /weir_log_lines_failed_total\{reason="oversized"\} 1\n/);
  assert.match(text, /weir_log_lines_failed_total\{reason="no_payload"\} [1-9]/);
});

t('stopping the agent (the SIGTERM path) flushes what HAProxy logged last to Elasticsearch', async () => {
  const N = 20;
  for (let i = 0; i < N; i++) assert.is((await get(`http://127.0.0.1:${gwPort}/bye/${i}`)).status, 200);
  // No waiting: the shipper's 1 s flush interval has not passed; stop() must send them (bounded by
  // WEIR_TELEMETRY_FLUSH_TIMEOUT_MS) after HAProxy has stopped.
  await fx.stop();
  const bye = docs().filter((d) => String((d.url as { original: string }).original).startsWith('/bye/'));
  assert.is(bye.length, N);
});

t.run();
