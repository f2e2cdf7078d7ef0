// The `weir` binary as users run it: validate/render exit codes, and `weir agent` as a
// process under SIGTERM, stopping HAProxy or keeping it for the next agent to adopt.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite, assert } from '../harness/uvu.js';
import { packageRoot } from '../../runtime/package-root.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { get, tally } from '../harness/http.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { gatewayYaml } from '../harness/agent-fixture.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'cli', 'main.js');
const t = suite('weir binary');
let dir: { path: string; remove: () => Promise<void> };
let up: Upstream;
const children: ChildProcess[] = [];

t.before(async () => {
  dir = await tempDir('weir-cli-');
  up = await httpUpstream('up');
});
t.after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  // A kept HAProxy from the last test is stopped by the second agent; kill leftovers anyway.
  const pidFile = join(dir.path, 'state', 'haproxy.pid');
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim().split('\n')[0]);
  if (pid > 0) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  await up.close();
  await dir.remove();
});

t('weir validate: exit 0 for good files, 1 with file: field: reason for bad ones', async () => {
  const good = join(dir.path, 'good.yaml');
  const bad = join(dir.path, 'bad.json');
  await writeFile(good, gatewayYaml('good', 8080, { a: { weight: 100, targets: [1] } }));
  await writeFile(bad, JSON.stringify({ name: 'bad', port: '80/udp', routes: { a: { weight: 120, targets: [] } } }));
  const ok = await run(process.execPath, [CLI, 'validate', good]);
  assert.match(ok.stdout, /ok  .*good\.yaml: gateway good on port 8080\/http, 1 route/);
  const failed = await run(process.execPath, [CLI, 'validate', good, bad]).then(() => null, (e: { code: number; stderr: string }) => e);
  assert.is(failed?.code, 1);
  assert.match(failed?.stderr ?? '', /bad\.json:1:\d+: port: /);
  // Judged as an agent with the same settings would: its own listeners' ports are taken.
  const monitor = join(dir.path, 'monitor.yaml');
  await writeFile(monitor, gatewayYaml('monitor', 1988, { a: { weight: 100, targets: [1] } }));
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'WEIR_MONITOR_PORT'));
  const taken = await run(process.execPath, [CLI, 'validate', monitor], { env }).then(() => null, (e: { code: number; stderr: string }) => e);
  assert.is(taken?.code, 1);
  assert.match(taken?.stderr ?? '', /monitor\.yaml: port: port 1988 is reserved for HAProxy's monitor frontend \(WEIR_MONITOR_PORT\)/);
  assert.match((await run(process.execPath, [CLI, 'validate', monitor, '--monitor-port', '0'], { env })).stdout, /ok  .*monitor\.yaml/);
});

t('weir render prints a config HAProxy accepts', async () => {
  const out = await run(process.execPath, [CLI, 'render', join(dir.path, 'good.yaml'), '--state-dir', join(dir.path, 'render-state')]);
  assert.match(out.stdout, /^frontend good$/m);
  const cfg = join(dir.path, 'rendered.cfg');
  await writeFile(cfg, out.stdout);
  const maps = await run(process.execPath, [CLI, 'render', join(dir.path, 'good.yaml'), '--state-dir', join(dir.path, 'render-state'), '--maps', '']);
  assert.match(maps.stdout, /# map .*good\.weights\.map\n0 good:a\n/);
});

async function startAgentProcess(env: Record<string, string>): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'agent'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitFor(async () => (await get(`http://${env.WEIR_HTTP_ADDR}/readyz`)).status === 200, { what: 'agent ready', timeoutMs: 20_000 });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
  }
  return { child, exited };
}

t('weir agent: serves, then SIGTERM stops it and HAProxy (stop) or leaves HAProxy serving for the next agent (keep)', async () => {
  const [gwPort = 0, httpPort = 0, monitorPort = 0] = await freePorts(3);
  const gateways = join(dir.path, 'store', 'default', 'default', 'gateways');
  await mkdir(gateways, { recursive: true });
  await writeFile(join(gateways, 'web.yaml'), gatewayYaml('web', gwPort, { a: { weight: 100, targets: [up.port] } }));
  const env = {
    WEIR_STORE: `file://${join(dir.path, 'store')}`,
    WEIR_STATE_DIR: join(dir.path, 'state'),
    WEIR_HTTP_ADDR: `127.0.0.1:${httpPort}`,
    WEIR_BIND_ADDRESS: '127.0.0.1',
    WEIR_HAPROXY_BIN: haproxyBin(),
    WEIR_VHOST_PORT: '0',
    WEIR_MONITOR_PORT: String(monitorPort),
    WEIR_LOG_LEVEL: 'warn',
  };
  const url = `http://127.0.0.1:${gwPort}/`;

  const first = await startAgentProcess(env);
  assert.equal((await tally(url, 10)).counts, { up: 10 });
  first.child.kill('SIGTERM');
  assert.is(await first.exited, 0);
  await waitFor(async () => get(url).then(() => false, () => true), { what: 'HAProxy stopped with the agent' });

  const kept = await startAgentProcess({ ...env, WEIR_HAPROXY_ON_EXIT: 'keep' });
  const keptPid = Number((await readFile(join(dir.path, 'state', 'haproxy.pid'), 'utf8')).trim().split('\n')[0]);
  kept.child.kill('SIGTERM');
  assert.is(await kept.exited, 0);
  assert.equal((await tally(url, 10)).counts, { up: 10 }, 'HAProxy keeps serving without the agent');

  const next = await startAgentProcess(env);
  const status = JSON.parse((await get(`http://${env.WEIR_HTTP_ADDR}/status`)).body) as { haproxy: { adopted: boolean; pid: number } };
  assert.is(status.haproxy.adopted, true);
  assert.is(status.haproxy.pid, keptPid);
  assert.equal((await tally(url, 10)).counts, { up: 10 });
  next.child.kill('SIGTERM');
  assert.is(await next.exited, 0);
  await waitFor(async () => get(url).then(() => false, () => true), { what: 'adopted HAProxy stopped' });
});

t.run();
