// Restart safety and leadership with real processes: two `weir control` processes (each with
// its release controller) on one NATS KV store, a real agent with HAProxy, real traffic. The
// acting controller is killed with SIGKILL mid-step; the other takes the lease and resumes the
// same step with its original start time, and the release finishes with each step written
// once. The two never lead at the same time.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { streams, type AuditRecord } from '../../events/contract.js';
import { packageRoot } from '../../runtime/package-root.js';
import { adminTokenValue, api, Cleanup, gwPath, launchE2EAgent, scratch, type E2EControl } from '../harness/e2e.js';
import { startNatsServer } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { behaviourUpstream, current, policyPath, relPath, startLoad, waitRun } from '../harness/release-e2e.js';
import { waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const ORG = 'acme';
const ENV = 'prod';
const POLICY = `
name: e2e
interval: 10s
defaults: { minSamples: 20 }
conditions:
  - { name: errors, value: target.errorRate <= source.errorRate * 1.2 + 0.001 }
steps:
  - { name: twenty, source: { weight: 80 }, target: { weight: 20 }, endAfter: { duration: 30s } }
  - { name: full, source: { weight: 0 }, target: { weight: 100 }, endAfter: { duration: 10s } }
`;

interface ControlProc {
  name: string;
  port: number;
  child: ChildProcess;
  api: E2EControl['api'];
  leader(): Promise<boolean | null>;
}

const t = suite('releases: a controller killed mid-step, two controllers on one store');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

async function startControlProc(name: string, env: Record<string, string>, dir: string, token: string): Promise<ControlProc> {
  const [port = 0] = await freePorts(1);
  const log = createWriteStream(join(dir, `${name}.log`));
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'cli', 'main.js'), 'control'], {
    env: { ...process.env, ...env, WEIR_CONTROL_ADDR: `127.0.0.1:${port}`, WEIR_CONTROL_STATE_DIR: join(dir, name), WEIR_ADMIN_TOKEN: token, WEIR_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', kill);
  cleanup.add(kill);
  const base = `http://127.0.0.1:${port}`;
  const p: ControlProc = {
    name,
    port,
    child,
    api: (method, path, o = {}) => api(base, method, path, o.token === undefined ? token : o.token, o.body, o.headers),
    leader: async () => {
      const text = await fetch(`${base}/metrics`).then((r) => r.text(), () => null);
      if (text === null) return null;
      return /^weir_release_controller_leader 1$/m.test(text);
    },
  };
  await waitFor(async () => (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)), { what: `${name} up`, timeoutMs: 20_000 });
  return p;
}

t('kill -9 the acting controller mid-step: the other resumes the same step, same start time; never two leaders', async () => {
  const dir = await scratch(cleanup, 'weir-release-restart-');
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const token = adminTokenValue();
  const env = { WEIR_STORE: nats.url, WEIR_NATS_URL: nats.url, WEIR_RELEASE_LEASE_TTL_MS: '3000', WEIR_RELEASE_SWEEP_MS: '1000' };
  const a = await startControlProc('control-a', env, dir, token);
  await waitFor(() => a.leader(), { what: 'control-a leads', timeoutMs: 15_000 });
  const b = await startControlProc('control-b', env, dir, token);
  const agent = await launchE2EAgent({ id: 'agent-1', bind: '127.0.0.2', namespace: `${ORG}/${ENV}`, store: nats.url, stateDir: join(dir, 'agent'), natsUrl: nats.url, env: { WEIR_TELEMETRY: 'on' } });
  cleanup.add(() => agent.stop());
  const v1 = await behaviourUpstream('v1');
  const v2 = await behaviourUpstream('v2');
  cleanup.add(() => v1.close());
  cleanup.add(() => v2.close());
  const [port = 0] = await freePorts(1, '127.0.0.2');
  assert.is((await a.api('PUT', gwPath(ORG, ENV, 'shop'), { body: { port, routes: { v1: { weight: 100, targets: [`127.0.0.1:${v1.port}`] }, v2: { weight: 0, targets: [`127.0.0.1:${v2.port}`] } } } })).status, 201);
  assert.is((await a.api('PUT', policyPath(ORG, ENV, 'e2e'), { body: POLICY })).status, 201);
  await waitFor(async () => (await agent.status()).applied.length === 1, { what: 'agent serves shop', timeoutMs: 20_000 });
  const load = startLoad(`http://127.0.0.2:${port}/`, 40);
  cleanup.add(() => load.stop());

  // Never two leaders: sample both controllers' lease gauge the whole time.
  const both: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [la, lb] = await Promise.all([a.leader(), b.leader()]);
      if (la && lb) both.push(Date.now());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  cleanup.add(async () => {
    sampling = false;
    await sampler;
  });

  const fake = { api: a.api } as E2EControl;
  const r = await a.api('POST', relPath(ORG, ENV, 'shop'), { body: { policy: 'e2e', source: 'v1', target: 'v2' } });
  assert.is(r.status, 201, r.text);
  const mid = await waitRun(fake, ORG, ENV, 'shop', (x) => x.step.stage === 'Measure' && x.measurements.length >= 1, 'step 0 judged once', 60_000);
  const startedAt = mid.step.startedAt;

  const leaderBefore = (await a.leader()) ? a : b;
  const other = leaderBefore === a ? b : a;
  const killedAt = Date.now();
  process.kill(leaderBefore.child.pid as number, 'SIGKILL');
  await waitFor(() => other.leader(), { what: `${other.name} takes over`, timeoutMs: 15_000, intervalMs: 100 });
  const takeover = Date.now() - killedAt;
  assert.ok(takeover <= 3000 + 1000 + 1000 + 1500, `takeover in ${takeover} ms (ttl 3 s + skew 1 s + renew 1 s)`);

  const viaOther = { api: other.api } as E2EControl;
  const resumed = await waitRun(viaOther, ORG, ENV, 'shop', (x) => x.measurements.some((m) => m.step === mid.step.index && Date.parse((m as unknown as { at: string }).at) > killedAt), 'step 0 judged by the other controller', 30_000);
  const starts = resumed.transitions.filter((x) => x.kind === 'step-started' && x.step === mid.step.index);
  assert.is(starts.length, 1, 'the same step, not started again');
  assert.is(starts[0]?.at, startedAt, 'with its original start time');
  const done = await waitRun(viaOther, ORG, ENV, 'shop', (x) => x.phase === 'Succeeded' && x.finish.state === 'done', 'finished', 90_000);
  assert.equal(done.transitions.filter((x) => x.kind === 'step-started').map((x) => x.step), [0, 1]);
  assert.equal(both, [], 'never two leaders at once');

  // Each step's routes were written once, whoever wrote them (audit records in WEIR_AUDIT).
  const nc: NatsConnection = await connect({ servers: nats.url });
  cleanup.add(() => nc.close());
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(streams.audit.name);
  const actions: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(streams.audit.name, { seq }).catch(() => null);
    if (!m) continue;
    const rec = JSON.parse(new TextDecoder().decode(m.data)) as AuditRecord;
    if (rec.action.startsWith('release.')) actions.push(rec.action);
  }
  assert.equal(actions.filter((x) => x === 'release.step'), ['release.step', 'release.step']);
  assert.is((await current(viaOther, ORG, ENV, 'shop')).phase, 'Succeeded');
});

t.run();
