// The control API's publisher against a real nats-server: core delivery plus JetStream
// history; an outage fills the on-disk outbox while writes keep succeeding; the restart
// drains it in order, exactly once per message (Nats-Msg-Id dedup).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { NatsConnector } from '../../events/nats-connection.js';
import { streams, subjects, type ReleaseEvent, type AuditRecord, type GatewayChangedEvent } from '../../events/contract.js';
import { NatsAuditSink, NatsChangePublisher, NatsEventPublisher } from '../../control/nats-publisher.js';
import { Outbox } from '../../control/nats-outbox.js';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const ns = { org: 'acme', env: 'prod' };
const t = suite('nats events: publisher and outbox');
let nats: NatsHarness | undefined;
const cleanups: Array<() => Promise<void>> = [];

t.before(async () => {
  try {
    nats = await startNatsServer();
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
    throw err;
  }
});
t.after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await nats?.dispose();
});

const change = (gateway: string, version: string | null): GatewayChangedEvent => ({ gateway, version, action: version ? 'put' : 'delete', by: 'ci', at: new Date().toISOString() });
const audit = (id: string): AuditRecord => ({ id, at: new Date().toISOString(), by: 'ci', role: 'admin', action: 'gateway.put', target: `gateway/acme/prod/${id}`, beforeVersion: null, afterVersion: '1', requestId: `req-${id}` });

async function openPublisher(): Promise<{ pub: NatsEventPublisher; connector: NatsConnector; dir: string }> {
  const dir = await tempDir('weir-outbox-');
  const connector = new NatsConnector({ servers: [(nats as NatsHarness).url], name: 'test-control', retryMs: 200, timeoutMs: 1000 });
  const pub = await NatsEventPublisher.open({ connector, outboxDir: dir.path, publishTimeoutMs: 1000, retryMs: 200 });
  cleanups.push(async () => {
    await pub.close();
    await connector.close();
    await dir.remove();
  });
  return { pub, connector, dir: dir.path };
}

async function client(): Promise<NatsConnection> {
  const nc = await connect({ servers: (nats as NatsHarness).url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  cleanups.push(() => nc.close());
  return nc;
}

/** Every message of a stream, in order. */
async function history(nc: NatsConnection, stream: string): Promise<Array<{ subject: string; data: unknown; id: string | undefined }>> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(stream);
  const out: Array<{ subject: string; data: unknown; id: string | undefined }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push({ subject: m.subject, data: JSON.parse(new TextDecoder().decode(m.data)), id: m.header?.get('Nats-Msg-Id') });
  }
  return out;
}

t('publishes on the core subject and into WEIR_CHANGES / WEIR_AUDIT (streams created)', async () => {
  const { pub } = await openPublisher();
  const nc = await client();
  const got: GatewayChangedEvent[] = [];
  const sub = nc.subscribe(subjects.gatewaysChanged(ns), { callback: (_e, m) => got.push(JSON.parse(new TextDecoder().decode(m.data)) as GatewayChangedEvent) });
  await nc.flush();
  const changes = new NatsChangePublisher(pub);
  const sink = new NatsAuditSink(pub);
  await changes.publishGatewayChanged(ns, change('shop', '3'));
  await sink.record(ns, audit('a-1'));
  await sink.record(null, audit('a-2'));
  assert.ok(await pub.drained(5000), 'outbox drained');
  await waitFor(() => got.length === 1, { what: 'core subscriber to get the change', timeoutMs: 3000 });
  assert.is(got[0]?.gateway, 'shop');
  const ch = await history(nc, streams.changes.name);
  assert.equal(ch.map((m) => [m.subject, (m.data as GatewayChangedEvent).version]), [['weir.acme.prod.gateways.changed', '3']]);
  const au = await history(nc, streams.audit.name);
  assert.equal(au.map((m) => [m.subject, m.id]), [['weir.audit.acme.prod', 'a-1'], ['weir.audit._system', 'a-2']]);
  assert.equal(pub.stats().published, { change: 1, audit: 2, release: 0 });
  assert.is(pub.stats().outboxDepth, 0);
  sub.unsubscribe();
});

t('release events go to weir.<org>.<env>.releases.<gateway> and WEIR_RELEASES; a re-send is stored once', async () => {
  const { pub } = await openPublisher();
  const nc = await client();
  const ev: ReleaseEvent = {
    runId: 'r-1', namespace: 'acme/prod', gateway: 'shop', kind: 'step-started', from: 'Pending', phase: 'Progressing',
    step: { index: 0, name: 'five', count: 2, weights: { source: 95, target: 5 } }, attempt: 1, source: 'v1', target: 'v2',
    policy: { name: 'canary', version: null, hash: 'abc' }, actor: 'release-controller', reason: 'agents applied', pauseReasons: [], outcome: null, at: '2030-01-01T00:00:00.000Z',
  };
  await pub.publishRelease(ns, 'shop', ev);
  await pub.publishRelease(ns, 'shop', ev);
  assert.ok(await pub.drained(5000), 'outbox drained');
  const rel = await history(nc, streams.releases.name);
  assert.equal(rel.map((m) => [m.subject, (m.data as ReleaseEvent).kind]), [['weir.acme.prod.releases.shop', 'step-started']]);
});

t('NATS down: writes keep succeeding into the outbox; restart drains in order, exactly once', async () => {
  const { pub, dir } = await openPublisher();
  const nc = await client();
  assert.ok(await pub.drained(1000));
  const before = (await history(nc, streams.audit.name)).length;
  await (nats as NatsHarness).stop();
  await waitFor(() => !pub.stats().connected, { what: 'publisher to notice the outage', timeoutMs: 5000 });
  const started = Date.now();
  for (let i = 0; i < 5; i++) await pub.record(ns, audit(`out-${i}`));
  await pub.publishGatewayChanged(ns, change('shop', '9'));
  assert.ok(Date.now() - started < 1000, `writes must not wait for NATS (took ${Date.now() - started} ms)`);
  assert.is(pub.stats().outboxDepth, 6);
  // Durable: the outbox file holds them (a crash now would lose nothing).
  const replay = await Outbox.open(join(dir, 'replay-check'));
  await replay.close();
  const text = await readFile(join(dir, 'outbox.jsonl'), 'utf8');
  assert.is(text.trim().split('\n').length, 6);

  await (nats as NatsHarness).restart();
  assert.ok(await pub.drained(15_000), `outbox drained after restart (depth ${pub.stats().outboxDepth})`);
  // The test's own client reconnects on its own schedule: retry its reads until it is back.
  const au = await waitFor(() => history(nc, streams.audit.name), { what: 'test client reconnect', timeoutMs: 10_000, intervalMs: 100 });
  assert.equal(au.slice(before).map((m) => m.id), ['out-0', 'out-1', 'out-2', 'out-3', 'out-4']);
  const ch = await history(nc, streams.changes.name);
  assert.is((ch.at(-1)?.data as GatewayChangedEvent).version, '9');
  assert.is((await readFile(join(dir, 'outbox.jsonl'), 'utf8')).trim(), '', 'outbox truncated once empty');
});

t('a re-sent message with the same id is stored once (msgID dedup)', async () => {
  const { pub } = await openPublisher();
  const nc = await client();
  assert.ok(await pub.drained(5000));
  const before = (await history(nc, streams.audit.name)).length;
  await pub.record(ns, audit('dup-1'));
  await pub.record(ns, audit('dup-1'));
  assert.ok(await pub.drained(5000));
  const au = await history(nc, streams.audit.name);
  assert.equal(au.slice(before).map((m) => m.id), ['dup-1']);
});

t('an outbox left by a crashed process is replayed by the next one', async () => {
  const dir = await tempDir('weir-outbox-');
  cleanups.push(dir.remove);
  const box = await Outbox.open(dir.path);
  await box.append({ id: 'crash-1', kind: 'audit', subject: subjects.audit(ns), stream: streams.audit.name, payload: JSON.stringify(audit('crash-1')) });
  const e2 = await box.append({ id: 'crash-2', kind: 'audit', subject: subjects.audit(ns), stream: streams.audit.name, payload: JSON.stringify(audit('crash-2')) });
  await box.append({ id: 'crash-3', kind: 'audit', subject: subjects.audit(ns), stream: streams.audit.name, payload: JSON.stringify(audit('crash-3')) });
  await box.ack(e2.seq); // published before the crash
  await box.close();
  const { appendFile } = await import('node:fs/promises');
  await appendFile(join(dir.path, 'outbox.jsonl'), '{"op":"add","seq":9,"msg":{"id":"torn'); // torn last line
  const nc = await client();
  const before = (await history(nc, streams.audit.name)).length;
  const connector = new NatsConnector({ servers: [(nats as NatsHarness).url], name: 'test-control-2', retryMs: 200 });
  const pub = await NatsEventPublisher.open({ connector, outboxDir: dir.path, publishTimeoutMs: 1000, retryMs: 200 });
  cleanups.push(async () => {
    await pub.close();
    await connector.close();
  });
  assert.ok(await pub.drained(5000));
  const au = await history(nc, streams.audit.name);
  assert.equal(au.slice(before).map((m) => m.id), ['crash-1', 'crash-3']);
});

t.run();

