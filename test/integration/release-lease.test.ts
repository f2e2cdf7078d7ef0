// Two release controllers on one (file) store: exactly one acts at a time. The leader is cut
// off from its lease mid-step (it still reaches the store otherwise, the harsh case); it must
// stop acting before the other takes over, the other takes over within the documented bound
// (ttl + skew + renew) and finishes the run, and every step's routes are written once.
import { join } from 'node:path';
import { MemoryAuditSink } from '../../control/audit-file.js';
import { GatewayService } from '../../control/gateway-service.js';
import { ControlMetrics } from '../../control/metrics.js';
import { GatewayServiceRouteWriter } from '../../control/release-writer.js';
import { startReleaseController, type RunningReleaseController } from '../../cli/release-wiring.js';
import type { TrafficWindowSource, WindowAggregates, WindowQuery } from '../../metrics/window-source.js';
import { ReleaseService, type AgentAckSource } from '../../release/index.js';
import { resolveReleaseSettings } from '../../release/settings.js';
import { silentLogger } from '../../runtime/log.js';
import { FileStore } from '../../store/file-store.js';
import type { LeaseBackend } from '../../store/lease.js';
import { StoreUnavailableError, type Namespace } from '../../store/store.js';
import { Cleanup } from '../harness/e2e.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';
import { Registry } from 'prom-client';

const ns: Namespace = { org: 'acme', env: 'prod' };
const POLICY = `
name: canary
interval: 10s
defaults: { minSamples: 10 }
conditions: [{ name: errors, value: target.errorRate <= source.errorRate + 0.01 }]
steps:
  - { name: ten, source: { weight: 90 }, target: { weight: 10 }, endAfter: { duration: 10s } }
`;

/** Healthy traffic on both routes for any window (this test is about who acts, not judging). */
const healthy: TrafficWindowSource = {
  kind: 'nats',
  location: 'test',
  async aggregate(q: WindowQuery): Promise<WindowAggregates> {
    const r = (route: string) => ({ route, requests: 500, errors: 0, errorRate: 0, rate: 50, p50: 0.01, p95: 0.02, p99: 0.03, health: 1, latencySamples: 500, latencyBounds: { p50: [0.01, 0.01] as [number, number], p95: [0.02, 0.02] as [number, number], p99: [0.03, 0.03] as [number, number] } });
    return { from: q.from, to: q.to, windowSeconds: 10, routes: { v1: r('v1'), v2: r('v2') }, agents: [{ id: 'a1', windows: 1 }] };
  },
  async close() {},
};

/** An agent that applies every stored version within ~50 ms. */
function agentsOf(store: FileStore, cleanup: Cleanup): AgentAckSource {
  let applied: Array<{ name: string; version: string }> = [];
  const t = setInterval(() => void store.list(ns).then((s) => (applied = s.entries.map((e) => ({ name: e.name, version: e.version }))), () => undefined), 50);
  cleanup.add(() => clearInterval(t));
  return { agents: () => [{ agentId: 'a1', quiet: false, applied, problems: [] }] };
}

const t = suite('release controller lease');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

t('a leader cut off from its lease stops acting before the other takes over, within ttl + skew + renew', async () => {
  const dir = await tempDir('weir-release-lease-');
  cleanup.add(() => dir.remove());
  const store = new FileStore(join(dir.path, 'store'));
  cleanup.add(() => store.close());
  await store.put(ns, 'shop', 'name: shop\nport: 18080\nroutes:\n  v1: {weight: 100%, targets: ["127.0.0.1:9001"]}\n  v2: {weight: 0%, targets: ["127.0.0.1:9002"]}\n', 'yaml');
  await store.putDocument(ns, 'release-policies', 'canary', POLICY, 'yaml');
  const settings = resolveReleaseSettings({ WEIR_RELEASE_LEASE_TTL_MS: '3000', WEIR_RELEASE_METRICS_LAG_MS: '300', WEIR_RELEASE_SWEEP_MS: '500' });
  const audit = new MemoryAuditSink();
  const agents = agentsOf(store, cleanup);
  let partitioned = false;
  const start = (holder: string, cutOff: boolean): RunningReleaseController => {
    const real = store.leases();
    const backend: LeaseBackend = {
      location: real.location,
      read: (n) => (cutOff && partitioned ? Promise.reject(new StoreUnavailableError('lease', 'partitioned')) : real.read(n)),
      claim: (n, r, p) => (cutOff && partitioned ? Promise.reject(new StoreUnavailableError('lease', 'partitioned')) : real.claim(n, r, p)),
      renew: (n, r, c) => (cutOff && partitioned ? Promise.reject(new StoreUnavailableError('lease', 'partitioned')) : real.renew(n, r, c)),
    };
    const view = new Proxy(store, { get: (target, prop, recv) => (prop === 'leases' ? () => backend : Reflect.get(target, prop, recv)) });
    const gateways = new GatewayService({ store, audit, metrics: new ControlMetrics({ defaultMetrics: false }), log: silentLogger() });
    const service = new ReleaseService({ store, gateways: store, audit });
    const running = startReleaseController({ store: view, service, writer: new GatewayServiceRouteWriter(gateways, holder), agents, metricsSource: healthy, registry: new Registry(), logger: silentLogger(), holder }, settings);
    cleanup.add(() => running.close());
    return running;
  };
  const a = start('ctl-a', true);
  await waitFor(() => a.election.isLeader(), { what: 'a leads', timeoutMs: 10_000 });
  const b = start('ctl-b', false);
  const both: number[] = [];
  const sampler = setInterval(() => {
    if (a.election.isLeader() && b.election.isLeader()) both.push(Date.now());
  }, 5);
  cleanup.add(() => clearInterval(sampler));

  const service = new ReleaseService({ store, gateways: store });
  await service.start({ ns, actor: 'ci (t)', role: 'deployer', requestId: 'x' }, 'shop', { policy: 'canary', source: 'v1', target: 'v2' });
  await waitFor(async () => (await service.current(ns, 'shop')).step.stage === 'Measure', { what: 'step 0 started', timeoutMs: 15_000 });

  partitioned = true;
  const cutAt = Date.now();
  await waitFor(() => !a.election.isLeader(), { what: 'a steps down', timeoutMs: 10_000, intervalMs: 5 });
  const aDown = Date.now();
  await waitFor(() => b.election.isLeader(), { what: 'b takes over', timeoutMs: 15_000, intervalMs: 5 });
  const bUp = Date.now();
  const bound = b.election.takeoverBoundMs;
  assert.ok(bUp - cutAt <= bound + 1000, `takeover took ${bUp - cutAt} ms, bound ${bound} ms`);
  assert.ok(aDown <= bUp, 'the old leader stopped counting itself leader first');
  assert.equal(both, [], 'never two leaders at once');

  const done = await waitFor(async () => {
    const r = await service.current(ns, 'shop');
    return r.phase === 'Succeeded' && r.history ? r : null;
  }, { what: 'run finished by b', timeoutMs: 60_000 });
  assert.ok(done);
  const writes = audit.lines.filter((l) => l.action.startsWith('release.'));
  assert.equal(writes.map((w) => w.action), ['release.step', 'release.promote'], 'the step and the final split written once each');
  assert.ok(writes.filter((w) => w.at >= new Date(aDown).toISOString()).every((w) => w.by.includes('ctl-b')), 'nothing written by a after it stepped down');
  assert.is((await service.runs.current(ns, 'shop'))?.run.controllerEpoch, b.election.epoch);
});

t.run();
