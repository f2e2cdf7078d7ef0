// The event hub behind GET …/events: feeds open with a namespace's first stream and close with
// its last; a feed that fails to open leaves the others working; agent status becomes an event
// only when something shown changes, including an agent falling quiet or being forgotten.
import type { AgentStatusSource, AgentStatusView } from '../../control/seams.js';
import { agentStatusFeed } from '../../control/event-feeds.js';
import { EventHub, type ConsoleEvent, type EventFeed } from '../../control/event-hub.js';
import { silentLogger } from '../../runtime/log.js';
import { waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('event hub');
const ns = { org: 'acme', env: 'prod' };

t('a feed is opened once per namespace and closed with the last stream; a broken feed is skipped', async () => {
  const log: string[] = [];
  let emit: ((ev: ConsoleEvent) => void) | undefined;
  const feed: EventFeed = {
    name: 'fake',
    async open(n, e) {
      log.push(`open ${n.org}/${n.env}`);
      emit = e;
      return () => void log.push('close');
    },
  };
  const broken: EventFeed = { name: 'broken', open: async () => Promise.reject(new Error('no')) };
  const hub = new EventHub([broken, feed], silentLogger());
  const a: ConsoleEvent[] = [];
  const b: ConsoleEvent[] = [];
  const offA = await hub.subscribe(ns, (ev) => a.push(ev));
  const offB = await hub.subscribe(ns, (ev) => b.push(ev));
  assert.equal(log, ['open acme/prod']);
  emit?.({ type: 'gateway', gateway: 'web', at: 'now', via: 'store' });
  assert.is(a.length, 1);
  assert.is(b.length, 1);
  offA();
  assert.equal(log, ['open acme/prod'], 'still one stream');
  offB();
  await waitFor(() => log.includes('close'), { what: 'feed closed' });
  assert.is(hub.listenerCount(ns), 0);
  await hub.close();
});

t('agent status: events on changes (health, applied, quiet, gone), none for a heartbeat that changes nothing', async () => {
  const view = (over: Partial<AgentStatusView>): AgentStatusView => ({
    agentId: 'node-1',
    namespace: 'acme/prod',
    at: 'x',
    intervalMs: 1000,
    ready: true,
    haproxyRunning: true,
    servingFromCache: false,
    storeOk: true,
    applied: [{ name: 'web', version: '1' }],
    problems: [],
    lastApplyAt: null,
    lastError: null,
    quiet: false,
    lastSeenAt: 'x',
    ...over,
  });
  let agents: AgentStatusView[] = [view({})];
  const source: AgentStatusSource = { agents: () => agents };
  const hub = new EventHub([agentStatusFeed(source, 20)], silentLogger());
  const got: ConsoleEvent[] = [];
  const off = await hub.subscribe(ns, (ev) => got.push(ev));
  agents = [view({ lastSeenAt: 'later', at: 'later' })];
  await new Promise((r) => setTimeout(r, 80));
  assert.is(got.length, 0, 'a heartbeat alone is no event');
  agents = [view({ applied: [{ name: 'web', version: '2' }] })];
  await waitFor(() => got.length === 1, { what: 'applied change' });
  agents = [view({ applied: [{ name: 'web', version: '2' }], quiet: true })];
  await waitFor(() => got.length === 2, { what: 'quiet' });
  assert.equal(got.map((e) => (e.type === 'agent' ? e.health : '')), ['ok', 'quiet']);
  agents = [];
  await waitFor(() => got.length === 3, { what: 'gone' });
  assert.is(got[2]?.type === 'agent' && got[2].health, 'gone');
  off();
  await hub.close();
});

t.run();
