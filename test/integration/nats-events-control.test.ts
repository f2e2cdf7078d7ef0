// control/nats-main.ts wiring, end to end through the CLI: `weir gateway apply` → control API →
// change event on the core subject + WEIR_CHANGES + WEIR_AUDIT; an agent heartbeat on NATS →
// `weir status` shows it. A real nats-server, the real control API on a file store.
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import type { CliIo } from '../../cli/api-client.js';
import { runGatewayCommand } from '../../cli/gateway-commands.js';
import { runStatusCommand } from '../../cli/status-commands.js';
import { streams, subjects, type AgentStatusEvent, type AuditRecord, type GatewayChangedEvent } from '../../events/contract.js';
import type { RunningControl } from '../../control/main.js';
import { runControlWithNats } from '../../control/nats-main.js';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('nats events: control API wired to NATS');
const ADMIN = `weir_${'a1b2c3d4e5f6a7b8'}_${'s'.repeat(40)}`;
let nats: NatsHarness;
let dir: { path: string; remove: () => Promise<void> };
let control: RunningControl;
let nc: NatsConnection;

function io(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { env: { WEIR_URL: `http://127.0.0.1:${control.server.port}`, WEIR_TOKEN: ADMIN, WEIR_NAMESPACE: 'acme/prod' }, out: (s) => (out += s), err: (s) => (err += s), readStdin: async () => SHOP, stdout: () => out, stderr: () => err };
}
const SHOP = 'name: shop\nport: 18080/http\nroutes:\n  v1:\n    weight: 90%\n    targets: [127.0.0.1:9901]\n  v2:\n    weight: 10%\n    targets: [127.0.0.1:9902]\n';

t.before(async () => {
  try {
    nats = await startNatsServer();
    dir = await tempDir('weir-control-nats-');
    control = await runControlWithNats({
      WEIR_STORE: `file://${join(dir.path, 'store')}`,
      WEIR_CONTROL_ADDR: '127.0.0.1:0',
      WEIR_CONTROL_STATE_DIR: join(dir.path, 'control'),
      WEIR_ADMIN_TOKEN: ADMIN,
      WEIR_NATS_URL: nats.url,
      WEIR_LOG_LEVEL: process.env.WEIR_TEST_LOGS ? 'debug' : 'silent',
    });
    nc = await connect({ servers: nats.url });
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
    throw err;
  }
});
t.after(async () => {
  await nc?.close();
  await control?.close();
  await nats?.dispose();
  await dir?.remove();
});

t('weir gateway apply → change event (core + WEIR_CHANGES) and audit record (WEIR_AUDIT)', async () => {
  const got: GatewayChangedEvent[] = [];
  nc.subscribe(subjects.gatewaysChanged({ org: 'acme', env: 'prod' }), { callback: (_e, m) => got.push(JSON.parse(new TextDecoder().decode(m.data)) as GatewayChangedEvent) });
  await nc.flush();
  const x = io();
  assert.is(await runGatewayCommand(['apply', '-f', '-'], x), 0, x.stderr());
  const ev = (await waitFor(() => got[0], { what: 'change event', timeoutMs: 5000 })) as GatewayChangedEvent;
  assert.is(ev.gateway, 'shop');
  assert.is(ev.action, 'put');
  assert.match(x.stdout(), new RegExp(`gateway/shop created \\(version ${ev.version}\\)`));
  const jsm = await nc.jetstreamManager();
  await waitFor(async () => (await jsm.streams.info(streams.audit.name)).state.messages > 0, { what: 'audit record in WEIR_AUDIT', timeoutMs: 5000 });
  const last = await jsm.streams.getMessage(streams.audit.name, { last_by_subj: subjects.audit({ org: 'acme', env: 'prod' }) });
  const rec = JSON.parse(new TextDecoder().decode(last.data)) as AuditRecord;
  assert.is(rec.target, 'gateway/acme/prod/shop');
  assert.is(rec.afterVersion, ev.version);
  assert.ok((await jsm.streams.info(streams.changes.name)).state.messages >= 1);
});

t('an agent heartbeat on NATS shows up in weir status', async () => {
  const list = io();
  assert.is(await runGatewayCommand(['list', '-o', 'json'], list), 0, list.stderr());
  const version = (JSON.parse(list.stdout()) as { gateways: Array<{ name: string; version: string }> }).gateways.find((g) => g.name === 'shop')?.version ?? '';
  const beat: AgentStatusEvent = { agentId: 'node-1.example', namespace: 'acme/prod', at: new Date().toISOString(), intervalMs: 5000, ready: true, haproxyRunning: true, servingFromCache: false, storeOk: true, applied: [{ name: 'shop', version }], problems: [], lastApplyAt: null, lastError: null };
  nc.publish(subjects.agentStatus({ org: 'acme', env: 'prod' }, 'node-1_example'), JSON.stringify(beat));
  await nc.flush();
  type Status = { converged: boolean; agents: Array<{ agentId: string }> };
  const status = (await waitFor(async () => {
    const x = io();
    await runStatusCommand(['shop', '-o', 'json'], x);
    const s = JSON.parse(x.stdout()) as Status;
    return s.agents.length > 0 ? s : null;
  }, { what: 'agent in status', timeoutMs: 5000 })) as Status;
  assert.is(status.converged, true);
  assert.equal(status.agents.map((a) => a.agentId), ['node-1.example']);
});

t.run();
