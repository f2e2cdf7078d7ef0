// The agent's NATS link against a real nats-server and a real agent + HAProxy. The store is a
// file store with its watch switched off and a 60 s poll, so a change can only apply quickly
// because a `gateways.changed` event arrived (or because the link re-syncs after a reconnect).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { Agent } from '../../agent/agent.js';
import { createLogger, silentLogger } from '../../runtime/log.js';
import { NatsConnector } from '../../events/nats-connection.js';
import { AgentNatsLink } from '../../agent/nats-link.js';
import { resolveSettings } from '../../agent/settings.js';
import { FileStore } from '../../store/file-store.js';
import type { GatewayStore, StopWatching } from '../../store/store.js';
import { subjects, type GatewayChangedEvent } from '../../events/contract.js';
import { NatsAgentStatusSource } from '../../control/nats-agent-status.js';
import { gatewayYaml } from '../harness/agent-fixture.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { tally } from '../harness/http.js';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { sleep, tempDir, waitFor } from '../harness/tmp.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const ns = { org: 'default', env: 'default' };
const HEARTBEAT_MS = 200;
const t = suite('nats events: agent link with a real agent');
const logger = process.env.WEIR_TEST_LOGS ? createLogger({ level: 'debug' }) : silentLogger();

/** A file store that never watches: only polls, NATS events and reconnect syncs move the agent. */
class PollOnlyStore extends FileStore {
  override async watch(): Promise<StopWatching> {
    return async () => undefined;
  }
}

let nats: NatsHarness;
let dir: { path: string; remove: () => Promise<void> };
let agent: Agent;
let link: AgentNatsLink;
let source: NatsAgentStatusSource;
let sourceConn: NatsConnector;
let nc: NatsConnection;
let a: Upstream;
let b: Upstream;
let port = 0;
let env: Record<string, string>;
const gatewaysDir = (): string => join(dir.path, 'store', 'default', 'default', 'gateways');

async function writeGateway(v1: number, v2: number): Promise<void> {
  const tmp = join(gatewaysDir(), '.shop.tmp');
  await writeFile(tmp, gatewayYaml('shop', port, { v1: { weight: v1, targets: [a.port] }, v2: { weight: v2, targets: [b.port] } }));
  await rename(tmp, join(gatewaysDir(), 'shop.yaml'));
}

const applied = (): string | undefined => agent.getStatus().applied.find((x) => x.name === 'shop')?.version;
const storeVersion = async (): Promise<string> => ((await new FileStore(join(dir.path, 'store')).list(ns)).entries.find((e) => e.name === 'shop')?.version ?? '');

async function startAgent(overrides: Record<string, string> = {}): Promise<Agent> {
  const settings = resolveSettings({}, { ...env, ...overrides }, 'node-1.example.internal');
  const store: GatewayStore = new PollOnlyStore(join(dir.path, 'store'));
  const ag = new Agent(settings, store, logger);
  await ag.start();
  return ag;
}

function announce(version: string): void {
  const ev: GatewayChangedEvent = { gateway: 'shop', version, action: 'put', by: 'test', at: new Date().toISOString() };
  nc.publish(subjects.gatewaysChanged(ns), JSON.stringify(ev));
}

t.before(async () => {
  try {
    nats = await startNatsServer();
    dir = await tempDir('weir-link-');
    a = await httpUpstream('a');
    b = await httpUpstream('b');
    const [p = 0, vhost = 0, monitor = 0] = await freePorts(3);
    port = p;
    await mkdir(gatewaysDir(), { recursive: true });
    env = {
      WEIR_STORE: `file://${join(dir.path, 'store')}`,
      WEIR_STATE_DIR: join(dir.path, 'state'),
      WEIR_HTTP_ADDR: '127.0.0.1:0',
      WEIR_BIND_ADDRESS: '127.0.0.1',
      WEIR_HAPROXY_BIN: haproxyBin(),
      WEIR_VHOST_PORT: String(vhost),
      WEIR_MONITOR_PORT: String(monitor),
      WEIR_RELOAD_MIN_INTERVAL_MS: '200',
      WEIR_DEBOUNCE_MS: '5',
      WEIR_POLL_INTERVAL_MS: '60000',
      WEIR_HARD_STOP_AFTER: '3s',
      WEIR_NATS_URL: nats.url,
      WEIR_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
    };
    await writeGateway(100, 0);
    agent = await startAgent();
    link = new AgentNatsLink(agent, { servers: [nats.url], logger, retryMs: 200 });
    link.start();
    sourceConn = new NatsConnector({ servers: [nats.url], name: 'test-control', retryMs: 200 });
    source = new NatsAgentStatusSource({ connector: sourceConn });
    nc = await connect({ servers: nats.url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    await waitFor(() => link.isConnected() && sourceConn.isConnected(), { what: 'link and source connected' });
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
    throw err;
  }
});

t.after(async () => {
  await link?.stop().catch(() => undefined);
  source?.close();
  await sourceConn?.close();
  await nc?.close().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  await a?.close();
  await b?.close();
  await nats?.dispose();
  await dir?.remove();
});

t('a gateways.changed event applies a weight change at once (no watch, 60 s poll)', async () => {
  await waitFor(() => applied(), { what: 'shop applied' });
  assert.equal((await tally(`http://127.0.0.1:${port}/`, 10)).counts, { a: 10 });
  await writeGateway(0, 100);
  const want = await storeVersion();
  await sleep(1200);
  assert.is.not(applied(), want, 'without an event nothing should notice the file change');
  announce(want);
  // The poll is 60 s and there is no watch: only the event can apply it within 10 s (the bound
  // is loose on purpose; how fast is measured in bench/convergence.ts).
  await waitFor(() => applied() === want && !agent.getStatus().pendingReload, { what: 'event-driven apply', timeoutMs: 10_000, intervalMs: 5 });
  assert.equal((await tally(`http://127.0.0.1:${port}/`, 10)).counts, { b: 10 });
});

t('status heartbeats reach the NatsAgentStatusSource (dotted agent id, applied versions)', async () => {
  const want = applied();
  const found = await waitFor(() => source.agents(ns).find((x) => x.applied.some((g) => g.name === 'shop' && g.version === want)), { what: 'status with the applied version', timeoutMs: 3000 });
  const seen = found as NonNullable<typeof found>;
  assert.is(seen.agentId, 'node-1.example.internal');
  assert.is(seen.namespace, 'default/default');
  assert.is(seen.quiet, false);
  assert.is(seen.ready, true);
  assert.is(seen.intervalMs, HEARTBEAT_MS);
  // The control API refuses gateways on these ports (its port_reserved check reads them from here).
  assert.equal(seen.reservedPorts?.map((r) => r.port).sort(), [Number(env.WEIR_VHOST_PORT), Number(env.WEIR_MONITOR_PORT)].sort());
  const first = seen.lastSeenAt;
  await waitFor(() => source.agents(ns)[0]?.lastSeenAt !== first, { what: 'a later heartbeat', timeoutMs: 2000 });
  assert.equal(source.agents({ org: 'other', env: 'default' }), []);
});

t('NATS restarted: the link resumes without restarting the agent and catches a missed change', async () => {
  await nats.stop();
  await waitFor(() => !link.isConnected(), { what: 'link to notice the outage', timeoutMs: 5000 });
  await writeGateway(50, 50); // nobody can announce this one
  const want = await storeVersion();
  await sleep(500);
  assert.is.not(applied(), want);
  await nats.restart();
  // On reconnect the link publishes its status and asks for one sync: the missed change applies.
  await waitFor(() => applied() === want, { what: 'sync after reconnect', timeoutMs: 10_000 });
  // Subscriptions survived: an event after the restart still applies at once, and heartbeats flow.
  await waitFor(() => link.isConnected(), { what: 'link back' });
  // flush() answers once the server has PONGed: the test's own client is back too.
  await waitFor(() => nc.flush().then(() => true), { what: 'test client back', timeoutMs: 10_000 });
  await writeGateway(100, 0);
  const next = await storeVersion();
  announce(next);
  await waitFor(() => applied() === next, { what: 'event-driven apply after restart', timeoutMs: 10_000, intervalMs: 5 });
  await waitFor(() => source.agents(ns).find((x) => x.applied.some((g) => g.version === next)), { what: 'heartbeats after restart (source resubscribed)', timeoutMs: 3000 });
});

t('an agent that stops beating is marked quiet after 3 intervals', async () => {
  await link.stop();
  const quiet = await waitFor(() => source.agents(ns).find((x) => x.quiet), { what: 'agent quiet', timeoutMs: 3000 });
  assert.ok(quiet && Date.now() - Date.parse(quiet.lastSeenAt) >= 3 * HEARTBEAT_MS);
});

t('without NATS the agent falls back to its poll', async () => {
  await agent.stop();
  await nats.stop();
  agent = await startAgent({ WEIR_POLL_INTERVAL_MS: '1000' });
  link = new AgentNatsLink(agent, { servers: [nats.url], logger, retryMs: 200 });
  link.start();
  await waitFor(() => applied(), { what: 'restarted agent applied' });
  await writeGateway(0, 100);
  const want = await storeVersion();
  await waitFor(() => applied() === want, { what: 'poll to apply the change', timeoutMs: 3000 });
  assert.is(link.isConnected(), false);
});

t('while events arrive the poll slows to WEIR_POLL_INTERVAL_WITH_NATS_MS; when NATS goes, the normal poll returns at once', async () => {
  await link.stop();
  await agent.stop();
  await nats.restart();
  agent = await startAgent({ WEIR_POLL_INTERVAL_MS: '300', WEIR_POLL_INTERVAL_WITH_NATS_MS: '600000' });
  link = new AgentNatsLink(agent, { servers: [nats.url], logger, retryMs: 200 });
  link.start();
  await waitFor(() => link.isConnected() && applied(), { what: 'agent applied with NATS up' });
  await agent.idle();
  await writeGateway(100, 0);
  const want = await storeVersion();
  await sleep(1500); // five normal poll intervals: nothing polls while events arrive
  assert.is.not(applied(), want);
  await nats.stop();
  await waitFor(() => applied() === want, { what: 'the normal poll to apply the change', timeoutMs: 3000 });
});

t.run();
