// The file-descriptor check before HAProxy starts. 1. The agent's count of what a config needs is
// HAProxy's own: rendered agent configs of several sizes, started by the real binary under a
// limit it cannot raise, make HAProxy name exactly the number the agent computed. 2. `weir
// agent` under a low limit refuses the config with both numbers and the settings that change
// them, instead of starting an HAProxy that fails.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fdLimit, fdNeeds } from '../../agent/guards/fd-budget.js';
import { packageRoot } from '../../runtime/package-root.js';
import { gatewayYaml, startAgent } from '../harness/agent-fixture.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { get } from '../harness/http.js';
import { freePorts } from '../harness/ports.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const run = promisify(execFile);
const t = suite('edge: file-descriptor budget against real HAProxy');
const CLI = join(packageRoot(), 'dist', 'cli', 'main.js');
const children: ChildProcess[] = [];
t.after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

const files = (n: number, ports: number[], targets: number[]): Record<string, string> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`g${i}.yaml`, gatewayYaml(`g${i}`, ports[i] ?? 0, { v1: { weight: 60, targets }, v2: { weight: 40, targets: targets.slice(0, 1) } })]));

/** What HAProxy itself says the config needs, started where it may open only 40 descriptors. */
async function haproxySays(config: string, dir: string): Promise<number> {
  const out = await run('bash', ['-c', `ulimit -n 40; exec "$0" -W -S "$1/probe.sock" -f "$2"`, haproxyBin(), dir, config], { timeout: 10_000 }).then(
    (r) => r.stderr,
    (e: { stderr?: string }) => e.stderr ?? '',
  );
  const m = /Cannot raise FD limit to (\d+), limit is 40/.exec(out);
  if (!m) throw new Error(`HAProxy did not report its FD need: ${out}`);
  return Number(m[1]);
}

t('the agent counts what HAProxy counts, for rendered configs of several sizes', async () => {
  for (const [gateways, slots] of [[1, 4], [3, 8], [12, 16]] as const) {
    const ports = await freePorts(gateways);
    const fx = await startAgent({ files: files(gateways, ports, [1001, 1002, 1003]), env: { WEIR_SERVER_SLOTS: String(slots) } });
    try {
      await fx.waitStatus((s) => s.applied.length === gateways, `${gateways} gateways applied`);
      const cfg = join(fx.stateDir, 'haproxy.cfg');
      const ours = fdNeeds(await readFile(cfg, 'utf8'));
      assert.is(ours.checkedServers, gateways * 2 * slots, 'every slot is a health-checked server');
      assert.is(ours.total, await haproxySays(cfg, fx.dir), `${gateways} gateways × ${slots} slots`);
    } finally {
      await fx.cleanup();
    }
  }
});

t('weir agent under a low limit refuses the config, naming both numbers and the settings', async () => {
  const hard = fdLimit()?.hard ?? 0;
  assert.ok(hard >= 256, 'the test needs a hard limit of at least 256 to lower');
  const dir = await tempDir('weir-fd-');
  try {
    const storeRoot = join(dir.path, 'store');
    const gwDir = join(storeRoot, 'default', 'default', 'gateways');
    await mkdir(gwDir, { recursive: true });
    const ports = await freePorts(9);
    const [httpPort = 0] = ports.splice(8, 1);
    // 8 gateways × 2 routes × 32 slots = 512 checked servers: more than 200 descriptors allow.
    for (const [f, body] of Object.entries(files(8, ports, [1001]))) await writeFile(join(gwDir, f), body);
    const env = {
      ...process.env,
      WEIR_STORE: `file://${storeRoot}`,
      WEIR_STATE_DIR: join(dir.path, 'state'),
      WEIR_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      WEIR_BIND_ADDRESS: '127.0.0.1',
      WEIR_HAPROXY_BIN: haproxyBin(),
      WEIR_VHOST_PORT: '0',
      WEIR_MONITOR_PORT: '0',
      WEIR_SERVER_SLOTS: '32',
      WEIR_TELEMETRY: 'off',
      WEIR_LOG_LEVEL: 'error',
    };
    const child = spawn('bash', ['-c', 'ulimit -n 200; exec "$0" "$1" agent', process.execPath, CLI], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let logs = '';
    child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    const status = (await waitFor(async () => {
      const r = await get(`http://127.0.0.1:${httpPort}/status`);
      const s = JSON.parse(r.body) as { lastError: string | null; haproxy: { running: boolean }; ready: boolean };
      return s.lastError ? s : null;
    }, { what: 'the agent refusing the config', timeoutMs: 20_000 })) as { lastError: string | null; haproxy: { running: boolean }; ready: boolean };
    assert.match(status.lastError ?? '', /^HAProxy would need \d+ file descriptors for this configuration \(2 × maxconn 100 .*512 health-checked server slots.*\), but the agent, whose limit HAProxy inherits, may open at most 200 \(RLIMIT_NOFILE hard limit\): raise the limit \(ulimit -n.*WEIR_SERVER_SLOTS/);
    assert.is(status.haproxy.running, false, 'HAProxy was never started');
    assert.is(status.ready, false);
    assert.match((await get(`http://127.0.0.1:${httpPort}/metrics`)).body, /weir_haproxy_reload_failures_total\{stage="fd_limit"\} [1-9]/);
    assert.match(logs, /HAProxy would need \d+ file descriptors/);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  } finally {
    await dir.remove();
  }
});

t.run();
