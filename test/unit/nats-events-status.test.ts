// NatsAgentStatusSource bookkeeping (quiet, forget, bound, subject checks) and the
// outbox file format, fed directly without a server.
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentStatusEvent } from '../../events/contract.js';
import { agentSubjectToken, NatsAgentStatusSource } from '../../control/nats-agent-status.js';
import { Outbox } from '../../control/nats-outbox.js';
import { resolveSettings } from '../../agent/settings.js';
import { toStatusEvent } from '../../agent/nats-link.js';
import type { AgentStatus } from '../../agent/agent.js';
import { isAgentStatusEvent } from '../../control/nats-agent-status.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('nats events: status source and outbox (no server)');
const fakeConnector = { onUp: () => () => undefined, start: () => undefined };
let clock = 1_000_000;

function ev(agentId: string, namespace = 'acme/prod', applied: Array<{ name: string; version: string }> = []): AgentStatusEvent {
  return { agentId, namespace, at: new Date(clock).toISOString(), intervalMs: 1000, ready: true, haproxyRunning: true, servingFromCache: false, storeOk: true, applied, problems: [], lastApplyAt: null, lastError: null };
}
const send = (src: NatsAgentStatusSource, e: AgentStatusEvent, subject?: string): void => {
  const [org, env] = e.namespace.split('/');
  src.receive(subject ?? `weir.${org}.${env}.agents.${agentSubjectToken(e.agentId)}.status`, new TextEncoder().encode(JSON.stringify(e)));
};

t('keeps the latest status per agent, marks quiet after 3 intervals, forgets after an hour', () => {
  const src = new NatsAgentStatusSource({ connector: fakeConnector, now: () => clock });
  send(src, ev('node-1.a.b', 'acme/prod', [{ name: 'shop', version: '1' }]));
  send(src, ev('n2'));
  send(src, ev('n3', 'acme/dev'));
  clock += 500;
  send(src, ev('node-1.a.b', 'acme/prod', [{ name: 'shop', version: '2' }]));
  assert.equal(src.agents({ org: 'acme', env: 'prod' }).map((a) => [a.agentId, a.quiet, a.applied[0]?.version ?? null]), [['n2', false, null], ['node-1.a.b', false, '2']]);
  clock += 2600; // n2: 3100 ms > 3 × 1000; node-1: 2600 ms
  assert.equal(src.agents('acme/prod').map((a) => [a.agentId, a.quiet]), [['n2', true], ['node-1.a.b', false]]);
  assert.is(src.agents('acme/prod')[0]?.lastSeenAt, new Date(1_000_000).toISOString());
  clock += 3600_000;
  assert.equal(src.agents('acme/prod'), []);
  src.close();
});

t('rejects malformed events and subjects that do not match the payload; stays bounded', () => {
  const src = new NatsAgentStatusSource({ connector: fakeConnector, now: () => clock, maxAgents: 3 });
  src.receive('weir.acme.prod.agents.x.status', new TextEncoder().encode('{nope'));
  send(src, { ...ev('x'), intervalMs: 0 });
  send(src, ev('x', 'acme/prod'), 'weir.evil.prod.agents.x.status');
  send(src, ev('x', 'acme/prod'), 'weir.acme.prod.agents.y.status');
  assert.is(src.rejectedCount(), 4);
  for (const id of ['a', 'b', 'c', 'd']) send(src, ev(id));
  assert.equal(src.agents('acme/prod').map((a) => a.agentId), ['b', 'c', 'd']);
  src.close();
});

t('outbox: FIFO across reopen, acks, torn last line, truncation when empty', async () => {
  const dir = await tempDir('weir-outbox-unit-');
  try {
    const msg = (id: string) => ({ id, kind: 'audit' as const, subject: 'weir.audit._system', stream: 'WEIR_AUDIT', payload: `{"id":"${id}"}` });
    const box = await Outbox.open(dir.path);
    const e1 = await box.append(msg('1'));
    await box.append(msg('2'));
    await box.append(msg('3'));
    await box.ack(e1.seq);
    await box.close();
    await appendFile(join(dir.path, 'outbox.jsonl'), '{"op":"add","seq":4,"msg":{"id":"4"');
    const again = await Outbox.open(dir.path);
    assert.equal(again.entries().map((e) => e.msg.id), ['2', '3']);
    const e4 = await again.append(msg('4'));
    assert.ok(e4.seq > 3, 'sequence numbers keep growing');
    for (const e of [...again.entries()]) await again.ack(e.seq);
    assert.is(again.depth(), 0);
    assert.is(await readFile(join(dir.path, 'outbox.jsonl'), 'utf8'), '');
    await again.close();
  } finally {
    await dir.remove();
  }
});

t('settings: WEIR_NATS_URL optional and checked; heartbeat interval default 5 s', () => {
  const s = resolveSettings({}, {}, 'h');
  assert.is(s.natsUrl, null);
  assert.is(s.heartbeatIntervalMs, 5000);
  const n = resolveSettings({}, { WEIR_NATS_URL: 'nats://a:4222, nats://b:4222', WEIR_HEARTBEAT_INTERVAL_MS: '250' }, 'h');
  assert.is(n.natsUrl, 'nats://a:4222, nats://b:4222');
  assert.is(n.heartbeatIntervalMs, 250);
  assert.throws(() => resolveSettings({}, { WEIR_NATS_URL: 'http://a:4222' }), /WEIR_NATS_URL: "http:\/\/a:4222" is not a nats:\/\/host:port URL/);
  assert.throws(() => resolveSettings({ 'nats-url': 'nats://u:pw@' }), /--nats-url/);
  assert.throws(() => resolveSettings({}, { WEIR_HEARTBEAT_INTERVAL_MS: '10' }), /outside 100/);
});

t('toStatusEvent maps the agent status onto the contract', () => {
  // `as`: fields other parts of the agent add to AgentStatus do not matter to the mapping.
  const status = {
    agentId: 'n1',
    namespace: 'acme/prod',
    store: { location: 'file:x', ok: true, error: null, lastReadAt: null },
    haproxy: { running: true, pid: 1, adopted: false, restarts: 0 },
    servingFromCache: false,
    ready: true,
    applied: [{ name: 'shop', version: '3', source: 'x' }],
    problems: [{ name: 'bad', source: 'y', version: '1', errors: ['nope'], servingVersion: null }],
    lastApply: { at: '2026-01-01T00:00:00.000Z', kind: 'runtime', checksum: 'c' },
    lastError: null,
    pendingReload: false,
  } as AgentStatus;
  const ev = toStatusEvent(status, 5000);
  assert.ok(isAgentStatusEvent(ev));
  assert.equal(ev.applied, [{ name: 'shop', version: '3' }]);
  assert.equal(ev.problems, [{ name: 'bad', version: '1', errors: ['nope'] }]);
  assert.is(ev.lastApplyAt, '2026-01-01T00:00:00.000Z');
  assert.is(ev.storeOk, true);
});

t.run();
