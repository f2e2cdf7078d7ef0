// One scale measurement in a fresh process (so heap and RSS belong to this size only):
// N gateways × 2 routes × 1 target. Pure timings first (no agent), then a real agent
// (in-process, real HAProxy, file store): cold start, a weight change, a structural change,
// memory. Results go back to the parent over IPC.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FileStore } from '../store/file-store.js';
import { GatewayBook } from '../agent/sync/gateway-book.js';
import { buildHaproxyModel } from '../agent/plan/haproxy-model.js';
import { ConfigRenderer, DEFAULT_TEMPLATE_DIR } from '../agent/render/renderer.js';
import { checkConfig } from '../agent/haproxy/config-check.js';
import { plan } from '../agent/plan/planner.js';
import { writeFileAtomic } from '../runtime/atomic-file.js';
import { parseGateway } from '../model/parse.js';
import { startAgent, type AgentFixture } from '../test/harness/agent-fixture.js';
import { HAPROXY_BIN, childrenOf, median, progress, rssKiB, sleep, tempDir } from './lib.js';
import { Probe } from './probe.js';

export interface ScaleInput {
  size: number;
  ports: number[];
  up: Record<string, number>;
  repeats: number;
  reloadMinIntervalMs: number;
  /** WEIR_SERVER_SLOTS: minimum pre-allocated slots per route (agent default 4). */
  serverSlots: number;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const mem = (): { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number } => {
  gc();
  gc();
  const m = process.memoryUsage();
  const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external) };
};

const gwName = (i: number): string => `gw${String(i).padStart(5, '0')}`;
function yaml(name: string, port: number, up: Record<string, number>, w: Record<string, number>): string {
  const lines = [`name: ${name}`, `port: ${port}`, 'routes:'];
  for (const [r, v] of Object.entries(w)) lines.push(`  ${r}:`, `    weight: ${v}%`, `    targets: ["127.0.0.1:${up[r]}"]`);
  return `${lines.join('\n')}\n`;
}

async function run(input: ScaleInput): Promise<unknown> {
  const { size, ports, up } = input;
  const tmp = await tempDir(`weir-bench-scale-${size}-`);
  const agentDir = join(tmp.path, 'agent');
  const storeRoot = join(agentDir, 'store');
  const gwDir = join(storeRoot, 'default', 'default', 'gateways');
  await mkdir(gwDir, { recursive: true });
  let fx: AgentFixture | null = null;
  let probe: Probe | null = null;
  try {
    for (let i = 0; i < size; i++) await writeFile(join(gwDir, `${gwName(i)}.yaml`), yaml(gwName(i), ports[i] ?? 0, up, { a: 100, b: 0 }));

    // ---- pure timings, no agent (in a function so nothing it built stays reachable for the memory figures) ----
    const { pure, configBytes } = await (async (): Promise<{ pure: Record<string, number>; configBytes: number }> => {
      const pure: Record<string, number> = {};
      const store = new FileStore(storeRoot);
      let t = now();
      const snapshot = await store.list({ org: 'default', env: 'default' });
      pure.storeListMs = now() - t;
      t = now();
      const res = new GatewayBook().resolve(snapshot);
      pure.parseValidateMs = now() - t;
      if (res.desired.length !== size) throw new Error(`only ${res.desired.length}/${size} gateways valid: ${JSON.stringify(res.problems.slice(0, 2))}`);
      const pureDir = join(tmp.path, 'pure');
      const mapsDir = join(pureDir, 'maps');
      await mkdir(mapsDir, { recursive: true });
      t = now();
      const model = buildHaproxyModel(res.desired.map((d) => d.gateway), { bindAddress: '127.0.0.1', mapsDir, minSlots: input.serverSlots, vhostPort: 0 });
      pure.buildModelMs = now() - t;
      const renderer = new ConfigRenderer(DEFAULT_TEMPLATE_DIR);
      const settings = { adminSocket: join(pureDir, 'admin.sock'), serverStateFile: join(pureDir, 'state'), hardStopAfter: '30s', maxReloads: 50, maxconn: null, logTarget: null, monitorPort: 0 };
      await renderer.render(buildHaproxyModel([], { bindAddress: '127.0.0.1', mapsDir, minSlots: input.serverSlots, vhostPort: 0 }), settings); // template parse/cache warm-up
      t = now();
      const rendered = await renderer.render(model, settings);
      pure.renderMs = now() - t;
      await writeFile(settings.serverStateFile, '1\n');
      for (const [p, c] of Object.entries(rendered.maps)) await writeFile(p, c);
      await writeFile(join(pureDir, 'haproxy.cfg'), rendered.config);
      t = now();
      const check = await checkConfig(HAPROXY_BIN, join(pureDir, 'haproxy.cfg'));
      pure.haproxyCheckMs = now() - t;
      const configBytes = rendered.config.length;
      // What a weight change costs before the runtime API is called: plan() over the whole model.
      const changed = parseGateway(yaml(gwName(0), ports[0] ?? 0, up, { a: 0, b: 100 }), { source: 'bench', format: 'yaml', expectedName: gwName(0) });
      if (!changed.ok) throw new Error('bench gateway invalid');
      const desired2 = buildHaproxyModel([changed.gateway, ...res.desired.slice(1).map((d) => d.gateway)], { bindAddress: '127.0.0.1', mapsDir, minSlots: input.serverSlots, vhostPort: 0 }, model);
      t = now();
      const p = plan(model, desired2);
      pure.planWeightChangeMs = now() - t;
      if (p.reload || p.runtime.length !== 1) throw new Error(`unexpected plan for a weight change: ${JSON.stringify(p.reloadReasons)}`);
      // The applier writes every map file with writeFileAtomic (fsync file + directory) on each apply.
      const atomicDir = join(pureDir, 'atomic');
      t = now();
      for (const [path, content] of Object.entries(rendered.maps)) await writeFileAtomic(path.replace(mapsDir, atomicDir), content);
      pure.writeAllMapsAtomicMs = now() - t;
      if (!check.ok) throw new Error(`haproxy -c refused: ${JSON.stringify(check.diagnostics.slice(0, 3))}`);
      progress(`size ${size}: list ${pure.storeListMs.toFixed(0)} ms, parse+validate ${pure.parseValidateMs.toFixed(0)} ms, model ${pure.buildModelMs.toFixed(0)} ms, render ${pure.renderMs.toFixed(0)} ms, haproxy -c ${pure.haproxyCheckMs.toFixed(0)} ms, plan ${pure.planWeightChangeMs.toFixed(0)} ms, write all maps atomically ${pure.writeAllMapsAtomicMs.toFixed(0)} ms`);
      return { pure, configBytes };
    })();

    // ---- real agent ----
    const memBefore = mem();
    let t = now();
    fx = await startAgent({
      dir: agentDir,
      env: {
        WEIR_HAPROXY_BIN: HAPROXY_BIN,
        WEIR_BIND_ADDRESS: '127.0.0.1',
        WEIR_DEBOUNCE_MS: '10',
        WEIR_RELOAD_MIN_INTERVAL_MS: String(input.reloadMinIntervalMs),
        WEIR_POLL_INTERVAL_MS: '5000',
        WEIR_HARD_STOP_AFTER: '30s',
        WEIR_SERVER_SLOTS: String(input.serverSlots),
        // Any WEIR_* setting from the environment (e.g. WEIR_TELEMETRY=off) overrides the above.
        ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('WEIR_') && e[1] !== undefined)),
      },
    });
    const agent = fx;
    await fx.waitStatus((s) => s.ready && s.applied.length === size, `${size} gateways applied`, 600_000);
    const coldMs = now() - t;
    progress(`size ${size}: cold start to ${size} gateways applied in ${coldMs.toFixed(0)} ms`);
    const memAfterStart = mem();
    const haproxyPid = fx.status().haproxy.pid ?? 0;
    const hpRss = (): { masterKiB: number; workersKiB: number[] } => ({ masterKiB: rssKiB(haproxyPid), workersKiB: childrenOf(haproxyPid).map(rssKiB) });
    const haproxyAfterStart = hpRss();

    const write = async (body: string): Promise<number> => {
      const tmpFile = join(gwDir, `.${gwName(0)}.yaml.tmp`);
      await writeFile(tmpFile, body);
      const t0 = process.hrtime.bigint();
      await rename(tmpFile, join(gwDir, `${gwName(0)}.yaml`));
      return Number(t0) / 1e6;
    };
    const reloadSum = async (): Promise<{ sum: number; count: number }> => {
      const m = await agent.agent.metrics.reloadDuration.get();
      const pick = (s: string): number => m.values.filter((v) => v.metricName?.endsWith(s)).reduce((a, v) => a + v.value, 0);
      return { sum: pick('_sum'), count: pick('_count') };
    };
    const port0 = ports[0] ?? 0;
    probe = new Probe(port0, { concurrency: 2 });
    if ((await probe.firstFrom('a', 0n, 10_000)) === null) throw new Error(`gateway ${gwName(0)} does not answer from route a`);

    // Weight changes (runtime) and structural changes (reload), alternating back and forth.
    const weight: Array<{ shiftMs: number; idleMs: number }> = [];
    const structural: Array<{ shiftMs: number; idleMs: number; reloadMs: number }> = [];
    let lastReload = Date.now();
    for (let i = 0; i < input.repeats; i++) {
      for (const to of ['b', 'a']) {
        const t0 = await write(yaml(gwName(0), port0, up, to === 'b' ? { a: 0, b: 100 } : { a: 100, b: 0 }));
        const hit = await probe.firstFrom(to, BigInt(Math.floor(t0 * 1e6)), 120_000);
        if (hit === null) throw new Error(`weight change to ${to}: no traffic shift`);
        await agent.agent.idle();
        weight.push({ shiftMs: Number(hit) / 1e6 - t0, idleMs: now() - t0 });
      }
      for (const add of [true, false]) {
        const wait = lastReload + input.reloadMinIntervalMs + 100 - Date.now();
        if (wait > 0) await sleep(wait);
        const r0 = await reloadSum();
        const to = add ? 'c' : 'a';
        const t0 = await write(yaml(gwName(0), port0, up, add ? { a: 0, b: 0, c: 100 } : { a: 100, b: 0 }));
        const hit = await probe.firstFrom(to, BigInt(Math.floor(t0 * 1e6)), 300_000);
        if (hit === null) throw new Error(`structural change (${add ? 'add' : 'remove'} c): no traffic shift`);
        await agent.agent.idle();
        lastReload = Date.now();
        const r1 = await reloadSum();
        if (add) structural.push({ shiftMs: Number(hit) / 1e6 - t0, idleMs: now() - t0, reloadMs: r1.count > r0.count ? (r1.sum - r0.sum) * 1000 : NaN });
      }
      progress(`size ${size}: round ${i + 1}/${input.repeats}: weight ${weight.at(-2)?.shiftMs.toFixed(1)} ms, structural ${structural.at(-1)?.shiftMs.toFixed(0)} ms (reload ${structural.at(-1)?.reloadMs.toFixed(0)} ms)`);
    }
    // The probe thread (its own V8 isolate) is stopped before measuring, so it is not counted.
    const probeStats = await probe.stats();
    await probe.stop();
    probe = null;
    await sleep(200);
    const memAfterChanges = mem();
    const haproxyAfterChanges = hpRss();
    return {
      size,
      configBytes,
      pure,
      coldMs,
      weight,
      structural,
      weightShiftMedianMs: median(weight.map((w) => w.shiftMs)),
      weightIdleMedianMs: median(weight.map((w) => w.idleMs)),
      structShiftMedianMs: median(structural.map((w) => w.shiftMs)),
      structIdleMedianMs: median(structural.map((w) => w.idleMs)),
      reloadMedianMs: median(structural.map((w) => w.reloadMs)),
      memBefore,
      memAfterStart,
      memAfterChanges,
      haproxyAfterStart,
      haproxyAfterChanges,
      probeStats,
    };
  } finally {
    await probe?.stop().catch(() => undefined);
    await fx?.cleanup().catch(() => undefined);
    await tmp.remove();
  }
}

process.once('message', (input: ScaleInput) => {
  run(input).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (err: unknown) => process.send?.({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () => process.exit(1)),
  );
});
