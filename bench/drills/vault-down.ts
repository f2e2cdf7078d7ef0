// Drill: Vault down with traffic (DRILL_VAULT_DOWN_S, 600 = 10 minutes). The control API and a
// `weir agent` process use the Vault KV v2 double (test/doubles/vault-kv2.ts; a real Vault cannot
// be installed here); the agent polls every second. Vault goes away for the whole period while a
// load generator runs; every minute a write through the API is tried (503 store_unavailable
// expected). Vault back: a weight change through the API must reach HAProxy. Counts: requests,
// failures, API answers during the outage, time for the change after.
import { join } from 'node:path';
import { runControl, type RunningControl } from '../../control/main.js';
import { VaultKv2Double } from '../../test/doubles/vault-kv2.js';
import { adminTokenValue, api } from '../../test/harness/e2e.js';
import { LoadGenerator } from '../../test/harness/load.js';
import { httpUpstream } from '../../test/harness/upstream.js';
import { sleep, waitFor } from '../../test/harness/tmp.js';
import { freePorts, HAPROXY_BIN, tempDir } from '../lib.js';
import { agentStatus, finish, envInt, reasons, say, startAgentProcess, type AgentProc, type DrillReport } from './lib.js';

export async function vaultDownDrill(opts: { downSeconds?: number } = {}): Promise<DrillReport> {
  const downS = opts.downSeconds ?? envInt('DRILL_VAULT_DOWN_S', 600);
  const dir = await tempDir('weir-drill-vault-');
  const vault = new VaultKv2Double({ mount: 'secret' });
  await vault.start();
  const v1 = await httpUpstream('v1');
  const v2 = await httpUpstream('v2');
  const [port = 0, httpPort = 0, controlPort = 0] = await freePorts(3);
  const token = adminTokenValue();
  let control: RunningControl | null = null;
  let agent: AgentProc | null = null;
  let load: LoadGenerator | null = null;
  try {
    control = await runControl({ WEIR_STORE: 'vault:secret', VAULT_ADDR: vault.url, VAULT_TOKEN: 'root', WEIR_CONTROL_ADDR: `127.0.0.1:${controlPort}`, WEIR_CONTROL_STATE_DIR: join(dir.path, 'control'), WEIR_ADMIN_TOKEN: token, WEIR_LOG_LEVEL: 'silent' }, { handleSignals: false });
    const base = `http://127.0.0.1:${controlPort}`;
    const path = '/api/v1/namespaces/default/default/gateways/shop';
    const body = (w1: number) => ({ port, routes: { v1: { weight: w1, targets: [`127.0.0.1:${v1.port}`] }, v2: { weight: 100 - w1, targets: [`127.0.0.1:${v2.port}`] } } });
    const created = await api(base, 'PUT', path, token, body(100));
    if (created.status !== 201) throw new Error(`create: ${created.text}`);
    agent = await startAgentProcess({ WEIR_STORE: 'vault:secret', VAULT_ADDR: vault.url, VAULT_TOKEN: 'root', WEIR_STATE_DIR: join(dir.path, 'state'), WEIR_BIND_ADDRESS: '127.0.0.1', WEIR_HAPROXY_BIN: HAPROXY_BIN, WEIR_VHOST_PORT: '0', WEIR_MONITOR_PORT: '0', WEIR_TELEMETRY: 'off', WEIR_POLL_INTERVAL_MS: '1000', WEIR_LOG_LEVEL: 'warn' }, httpPort);
    await waitFor(async () => (await agentStatus(httpPort)).applied[0]?.version === created.json.version, { what: 'applied' });
    load = new LoadGenerator(`http://127.0.0.1:${port}/`, { concurrency: 4, newConnection: true });
    await sleep(1000);
    await vault.stop();
    say(`Vault down for ${downS} s`);
    const apiDuring: Record<string, number> = {};
    const downUntil = Date.now() + downS * 1000;
    let storeDownSeen = false;
    while (Date.now() < downUntil) {
      const r = await api(base, 'PUT', `${path}/weights`, token, { v1: 50, v2: 50 });
      const k = `${r.status} ${r.json?.error?.code ?? ''}`.trim();
      apiDuring[k] = (apiDuring[k] ?? 0) + 1;
      storeDownSeen ||= !((await agentStatus(httpPort)).store as { ok: boolean }).ok;
      // The agent notices at its next poll (1 s); look again before waiting the minute.
      await sleep(1500);
      storeDownSeen ||= !((await agentStatus(httpPort)).store as { ok: boolean }).ok;
      await sleep(Math.min(60_000, Math.max(0, downUntil - Date.now())));
      if (Date.now() < downUntil) say(`${Math.round((downUntil - Date.now()) / 1000)} s of the outage left; ${reasons(await load.stats())} failed so far`);
    }
    await vault.start();
    const t0 = Date.now();
    const change = await waitFor(async () => {
      const r = await api(base, 'PUT', `${path}/weights`, token, { v1: 0, v2: 100 });
      return r.status === 200 ? r : null;
    }, { what: 'a write after Vault is back', timeoutMs: 30_000, intervalMs: 200 });
    await waitFor(async () => (await agentStatus(httpPort)).applied[0]?.version === change?.json.version, { what: 'the change applied', timeoutMs: 30_000, intervalMs: 50 });
    const appliedMs = Date.now() - t0;
    await sleep(500);
    const s = await load.stop();
    load = null;
    const failures: string[] = [];
    if (s.failed > 0) failures.push(`${s.failed} failed requests (${reasons(s)})`);
    if (!storeDownSeen) failures.push('the agent never reported the store down');
    return finish('vault-down', [
        'control API and one agent on the Vault KV v2 double; a gateway created through the API; a new connection per request all along',
        `Vault stopped for ${downS} s; a weights write through the API tried every minute`,
        'Vault started again on the same address; a weights change through the API (v1 0 %, v2 100 %) waited for at the agent',
      ], {
        'outage, s': downS,
        requests: s.sent,
        ok: s.ok,
        'failed requests': s.failed,
        'failure reasons': reasons(s),
        'API writes during the outage': Object.entries(apiDuring).map(([k, v]) => `${k} ×${v}`).join(', '),
        'agent reported the store down': storeDownSeen ? 'yes' : 'no',
        'Vault back → change applied, ms': appliedMs,
        'answers v1 / v2': `${s.bodies.v1 ?? 0} / ${s.bodies.v2 ?? 0}`,
      }, failures);
  } finally {
    await load?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await control?.close().catch(() => undefined);
    await vault.stop();
    await v1.close();
    await v2.close();
    await dir.remove();
  }
}
