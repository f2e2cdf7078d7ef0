// A `gateways.changed` event names one gateway and its version: the agent reads that key only
// (no LIST of the namespace, which for Vault is one read per gateway), skips an event for the
// version it already serves, and falls back to a full list when it cannot trust its snapshot.
// Real HAProxy, real nats-server, the Vault KV v2 contract double as the store.
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { Agent } from '../../agent/agent.js';
import { createLogger, silentLogger } from '../../runtime/log.js';
import { AgentNatsLink } from '../../agent/nats-link.js';
import { resolveSettings } from '../../agent/settings.js';
import { VaultStore } from '../../store/vault-store.js';
import { subjects, type GatewayChangedEvent } from '../../events/contract.js';
import { VaultKv2Double } from '../doubles/vault-kv2.js';
import { gatewayYaml } from '../harness/agent-fixture.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { tally } from '../harness/http.js';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { sleep, tempDir, waitFor } from '../harness/tmp.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const ns = { org: 'acme', env: 'prod' };
const t = suite('agent: targeted store reads on change events');
const logger = process.env.WEIR_TEST_LOGS ? createLogger({ level: 'debug' }) : silentLogger();

let nats: NatsHarness;
let vault: VaultKv2Double;
let writer: VaultStore;
let dir: { path: string; remove: () => Promise<void> };
let agent: Agent;
let link: AgentNatsLink;
let nc: NatsConnection;
let a: Upstream;
let b: Upstream;
let shopPort = 0;
let apiPort = 0;

const served = (name: string): string | undefined => agent.getStatus().applied.find((x) => x.name === name)?.version;
const shop = (v1: number, v2: number): string => gatewayYaml('shop', shopPort, { v1: { weight: v1, targets: [a.port] }, v2: { weight: v2, targets: [b.port] } });
/** Store requests the agent made since `mark` (the writer's own requests carry the root token). */
const agentRequests = (mark: number): string[] => vault.requests.slice(mark).filter((r) => r.token === 'agent').map((r) => `${r.method} ${r.path}`);
// node-vault lists with GET ?list=1; the vault CLI uses the LIST verb.
const isList = (r: string): boolean => r.startsWith('LIST ') || /[?&]list=(1|true)\b/.test(r);

function announce(gateway: string, version: string | null): void {
  const ev: GatewayChangedEvent = { gateway, version, action: version === null ? 'delete' : 'put', by: 'test', at: new Date().toISOString() };
  nc.publish(subjects.gatewaysChanged(ns), JSON.stringify(ev));
}

/** Waits until no request reached the double for `quietMs` (the agent has finished reacting). */
async function settle(quietMs = 150): Promise<void> {
  let n = -1;
  while (n !== vault.requests.length) {
    n = vault.requests.length;
    await sleep(quietMs);
  }
  await agent.idle();
}

t.before(async () => {
  nats = await startNatsServer();
  vault = new VaultKv2Double({ mount: 'secret', tokens: { root: { root: true }, agent: { root: true } } });
  await vault.start();
  writer = new VaultStore({ mount: 'secret', endpoint: vault.url, token: 'root' });
  dir = await tempDir('weir-targeted-');
  a = await httpUpstream('a');
  b = await httpUpstream('b');
  const [p1 = 0, p2 = 0, vhost = 0, monitor = 0] = await freePorts(4);
  shopPort = p1;
  apiPort = p2;
  await writer.put(ns, 'shop', shop(100, 0), 'yaml');
  const settings = resolveSettings(
    {},
    {
      WEIR_STORE: 'vault:secret',
      WEIR_NAMESPACE: 'acme/prod',
      WEIR_STATE_DIR: join(dir.path, 'state'),
      WEIR_HTTP_ADDR: '127.0.0.1:0',
      WEIR_BIND_ADDRESS: '127.0.0.1',
      WEIR_HAPROXY_BIN: haproxyBin(),
      WEIR_VHOST_PORT: String(vhost),
      WEIR_MONITOR_PORT: String(monitor),
      WEIR_RELOAD_MIN_INTERVAL_MS: '200',
      // Only events move the agent: the poll would list the namespace and blur what is measured.
      WEIR_POLL_INTERVAL_MS: '600000',
      WEIR_HARD_STOP_AFTER: '3s',
      WEIR_NATS_URL: nats.url,
    },
    'targeted-1',
  );
  agent = new Agent(settings, new VaultStore({ mount: 'secret', endpoint: vault.url, token: 'agent' }), logger);
  await agent.start();
  link = new AgentNatsLink(agent, { servers: [nats.url], logger, retryMs: 200 });
  link.start();
  nc = await connect({ servers: nats.url });
  await waitFor(() => link.isConnected() && served('shop') === '1', { what: 'agent serving shop@1 with NATS up' });
  await settle(); // the link's first-connect sync (a full list)
});

t.after(async () => {
  await link?.stop().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  await writer?.close();
  await vault?.stop();
  await a?.close();
  await b?.close();
  await nats?.dispose();
  await dir?.remove();
});

t('an event reads only the named key, and traffic shifts', async () => {
  const { version } = await writer.put(ns, 'shop', shop(0, 100), 'yaml');
  const mark = vault.requests.length;
  announce('shop', version);
  await waitFor(() => served('shop') === version, { what: `shop@${version} applied`, timeoutMs: 5000 });
  await settle();
  assert.equal(agentRequests(mark), ['GET /v1/secret/data/weir/acme/prod/gateways/shop']);
  assert.equal((await tally(`http://127.0.0.1:${shopPort}/`, 10)).counts, { b: 10 });
});

t('an event naming the version already served reads nothing', async () => {
  const mark = vault.requests.length;
  announce('shop', served('shop') ?? '');
  await sleep(300);
  assert.equal(agentRequests(mark), []);
});

t('a new gateway and a delete apply by key; the other gateway is untouched', async () => {
  const { version } = await writer.put(ns, 'api', gatewayYaml('api', apiPort, { main: { targets: [a.port] } }), 'yaml');
  let mark = vault.requests.length;
  announce('api', version);
  await waitFor(() => served('api') === version, { what: 'api applied', timeoutMs: 10_000 });
  await settle();
  assert.equal(agentRequests(mark), ['GET /v1/secret/data/weir/acme/prod/gateways/api']);
  assert.equal((await tally(`http://127.0.0.1:${apiPort}/`, 4)).counts, { a: 4 });
  const shopVersion = served('shop');

  await writer.delete(ns, 'api');
  mark = vault.requests.length;
  announce('api', null);
  await waitFor(() => served('api') === undefined && !agent.getStatus().pendingReload, { what: 'api removed', timeoutMs: 10_000 });
  await settle();
  assert.equal(agentRequests(mark), ['GET /v1/secret/data/weir/acme/prod/gateways/api']);
  assert.is(served('shop'), shopVersion);
  assert.equal((await tally(`http://127.0.0.1:${shopPort}/`, 4)).counts, { b: 4 });
});

t('a bad value read by key is reported; the served version stays, and a fix clears it', async () => {
  const before = served('shop');
  vault.seed('weir/acme/prod/gateways/shop', { format: 'yaml' }); // no body
  const bad = String(Number(before) + 1);
  announce('shop', bad);
  const status = await waitFor(() => agent.getStatus().problems.find((p) => p.name === 'shop'), { what: 'problem for shop', timeoutMs: 5000 });
  assert.match(status?.errors.join('\n') ?? '', /vault:secret\/weir\/acme\/prod\/gateways\/shop: value is not a Weir gateway/);
  assert.is(served('shop'), before);
  assert.equal((await tally(`http://127.0.0.1:${shopPort}/`, 4)).counts, { b: 4 });
  const { version } = await writer.put(ns, 'shop', shop(100, 0), 'yaml');
  announce('shop', version);
  await waitFor(() => served('shop') === version && agent.getStatus().problems.length === 0, { what: 'fixed shop applied', timeoutMs: 5000 });
  assert.equal((await tally(`http://127.0.0.1:${shopPort}/`, 4)).counts, { a: 4 });
});

t('an unreadable event or a failed read makes the next sync list the namespace', async () => {
  let mark = vault.requests.length;
  nc.publish(subjects.gatewaysChanged(ns), 'not json');
  await waitFor(() => agentRequests(mark).some(isList), { what: 'a full list after a garbage event', timeoutMs: 5000 });
  await settle();

  const { version } = await writer.put(ns, 'shop', shop(50, 50), 'yaml');
  vault.failNext(1, 503);
  mark = vault.requests.length;
  announce('shop', version);
  await waitFor(() => agent.getStatus().store.ok === false, { what: 'the read to fail', timeoutMs: 5000 });
  assert.is.not(served('shop'), version);
  assert.ok(!agentRequests(mark).some(isList));
  // The snapshot is no longer trusted: the next event lists everything, and the change lands.
  mark = vault.requests.length;
  announce('shop', version);
  await waitFor(() => served('shop') === version, { what: 'shop applied after the outage', timeoutMs: 5000 });
  assert.ok(agentRequests(mark).some(isList), agentRequests(mark).join('\n'));
});

t.run();
