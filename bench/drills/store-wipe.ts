// Drill: the store wiped and restored (issue 11 §4). One `weir agent` process serves
// DRILL_GATEWAYS (10) gateways from the file store, each under load. 1. Every gateway file is
// deleted (the directory stays: the store answers "no gateways"), left so for DRILL_WIPE_S (10),
// then restored: the agent holds the mass removal and keeps serving. 2. Wiped again and left:
// the removal goes ahead once the store has said the same for WEIR_MASS_REMOVAL_HOLD_MS
// (DRILL_HOLD_MS, 15000 here; 60000 by default); then restored. Counts: failed requests, the
// fewest gateways served in phase 1, when phase 2 removed them.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts, HAPROXY_BIN, tempDir } from '../lib.js';
import { LoadGenerator, type LoadStats } from '../../test/harness/load.js';
import { httpUpstream } from '../../test/harness/upstream.js';
import { sleep, waitFor } from '../../test/harness/tmp.js';
import { agentStatus, finish, envInt, reasons, say, startAgentProcess, type AgentProc, type DrillReport } from './lib.js';

export async function storeWipeDrill(opts: { gateways?: number; wipeSeconds?: number; holdMs?: number } = {}): Promise<DrillReport> {
  const n = opts.gateways ?? envInt('DRILL_GATEWAYS', 10);
  const wipeS = opts.wipeSeconds ?? envInt('DRILL_WIPE_S', 10);
  const holdMs = opts.holdMs ?? envInt('DRILL_HOLD_MS', 15_000);
  const dir = await tempDir('weir-drill-wipe-');
  const gwDir = join(dir.path, 'store', 'default', 'default', 'gateways');
  await mkdir(gwDir, { recursive: true });
  const up = await httpUpstream('up');
  const ports = await freePorts(n + 1);
  const httpPort = ports.pop() as number;
  const names = ports.map((_, i) => `g${i}`);
  const restore = async (): Promise<void> => {
    for (const [i, name] of names.entries()) await writeFile(join(gwDir, `${name}.yaml`), `name: ${name}\nport: ${ports[i]}\nroutes:\n  v1:\n    targets: ["127.0.0.1:${up.port}"]\n`);
  };
  const wipe = async (): Promise<void> => {
    for (const name of names) await rm(join(gwDir, `${name}.yaml`), { force: true });
  };
  await restore();
  let agent: AgentProc | null = null;
  let loads: LoadGenerator[] = [];
  try {
    agent = await startAgentProcess({ WEIR_STORE: `file://${join(dir.path, 'store')}`, WEIR_STATE_DIR: join(dir.path, 'state'), WEIR_BIND_ADDRESS: '127.0.0.1', WEIR_HAPROXY_BIN: HAPROXY_BIN, WEIR_VHOST_PORT: '0', WEIR_MONITOR_PORT: '0', WEIR_TELEMETRY: 'off', WEIR_MASS_REMOVAL_HOLD_MS: String(holdMs), WEIR_LOG_LEVEL: 'warn' }, httpPort);
    await waitFor(async () => (await agentStatus(httpPort)).applied.length === n, { what: 'all applied' });
    loads = ports.map((p) => new LoadGenerator(`http://127.0.0.1:${p}/`, { concurrency: 1, newConnection: true }));
    await sleep(500);
    // Phase 1: wiped for less than the hold time, then restored.
    let fewest = n;
    const watch = async (ms: number): Promise<void> => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        fewest = Math.min(fewest, (await agentStatus(httpPort)).applied.length);
        await sleep(100);
      }
    };
    await wipe();
    say(`store wiped; restoring in ${wipeS} s`);
    const held = await waitFor(async () => (await agentStatus(httpPort)).massRemoval as { message: string } | null, { what: 'the hold', timeoutMs: 20_000 });
    await watch(wipeS * 1000);
    await restore();
    await waitFor(async () => (await agentStatus(httpPort)).massRemoval === null, { what: 'hold cancelled', timeoutMs: 20_000 });
    await watch(1000);
    const stats: LoadStats[] = await Promise.all(loads.map((l) => l.stop()));
    loads = [];
    const sent = stats.reduce((a, s) => a + s.sent, 0);
    const failed = stats.reduce((a, s) => a + s.failed, 0);
    const why = stats.map(reasons).filter((r) => r !== 'none').join('; ') || 'none';
    // Phase 2: wiped and left: removed after the hold.
    await wipe();
    const t0 = Date.now();
    say(`store wiped again; the removal should go ahead after ${holdMs} ms`);
    await waitFor(async () => (await agentStatus(httpPort)).applied.length === 0, { what: 'removal after the hold', timeoutMs: holdMs + 30_000, intervalMs: 100 });
    const removedAfter = Date.now() - t0;
    await restore();
    await waitFor(async () => (await agentStatus(httpPort)).applied.length === n, { what: 'restored', timeoutMs: 20_000 });
    const failures: string[] = [];
    if (failed > 0) failures.push(`${failed} failed requests during phase 1 (${why})`);
    if (fewest < n) failures.push(`only ${fewest} of ${n} gateways were served at one point of phase 1`);
    if (removedAfter < holdMs) failures.push(`phase 2 removed the gateways after ${removedAfter} ms, before the hold (${holdMs} ms)`);
    return finish('store-wipe', [
        `served ${n} gateways from the file store, each under load (a new connection per request)`,
        `phase 1: deleted every gateway file, restored them ${wipeS} s later; the agent said: "${held?.message ?? ""}"`,
        `phase 2: deleted them again and left them deleted, then restored them once the agent had removed them`,
      ], {
        'phase 1 requests': sent,
        'phase 1 failed requests': failed,
        'phase 1 failure reasons': why,
        'phase 1 fewest gateways served': `${fewest} of ${n}`,
        'phase 2 wipe → removed, ms': removedAfter,
        'WEIR_MASS_REMOVAL_HOLD_MS': holdMs,
      }, failures);
  } finally {
    await Promise.all(loads.map((l) => l.stop().catch(() => undefined)));
    await agent?.stop().catch(() => undefined);
    await up.close();
    await dir.remove();
  }
}
