// The file source for real: HAProxy → the real rsyslogd (imudp → omfile, run from a temp dir) → a log file
// → `weir agent` (a child process, so it can be SIGKILLed) tailing it → the Elasticsearch double.
// Drills: agent killed mid-stream and restarted (HAProxy keeps serving, rsyslog keeps writing), rename
// rotation (mv + HUP, as logrotate does), copytruncate, garbage and oversized lines. Every request the
// clients saw answered must be indexed exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, copyFile, mkdir, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { packageRoot } from '../../runtime/package-root.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { get } from '../harness/http.js';
import { sleep, tempDir, waitFor } from '../harness/tmp.js';
import { gatewayYaml } from '../harness/agent-fixture.js';
import { startElasticsearchDouble, type ElasticsearchDouble, type Doc } from '../doubles/elasticsearch.js';

const t = suite('telemetry file source: rsyslog → file → agent (killed, rotated)');
let dir: { path: string; remove: () => Promise<void> };
let up: Upstream;
let es: ElasticsearchDouble;
let rsyslog: ChildProcess | null = null;
const children: ChildProcess[] = [];

const RSYSLOGD = process.env.WEIR_RSYSLOGD ?? '/usr/sbin/rsyslogd';

t.before(async () => {
  dir = await tempDir('weir-file-');
  up = await httpUpstream('up');
  es = await startElasticsearchDouble();
});

t.after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  const pid = Number((await readFile(join(dir.path, 'state', 'haproxy.pid'), 'utf8').catch(() => '')).trim().split('\n')[0]);
  if (pid > 0) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  if (rsyslog && rsyslog.exitCode === null) rsyslog.kill('SIGKILL');
  await up.close();
  await es.stop();
  await dir.remove();
});

async function startRsyslog(port: number, logFile: string): Promise<ChildProcess> {
  const conf = join(dir.path, 'rsyslog.conf');
  // Default omfile template (RSYSLOG_TraditionalFileFormat-like "timestamp host tag: msg"): what users have.
  await writeFile(conf, `global(workDirectory="${dir.path}")\nmodule(load="imudp")\ninput(type="imudp" address="127.0.0.1" port="${port}")\naction(type="omfile" file="${logFile}")\n`);
  const child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir.path, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await sleep(300);
  if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${err}`);
  return child;
}

async function startAgentProcess(env: Record<string, string>): Promise<{ child: ChildProcess; exited: Promise<number | null>; log: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(packageRoot(), 'cli', 'main.ts'), 'agent'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: packageRoot(), detached: true });
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
  return { child, exited, log: () => log };
}

t('no loss, no duplicate: SIGKILL + restart, rename rotation, copytruncate; garbage and oversized lines counted', async () => {
  const [gwPort = 0, httpPort = 0, monitorPort = 0, syslogPort = 0] = await freePorts(4);
  const logFile = join(dir.path, 'log', 'haproxy.log');
  await mkdir(join(dir.path, 'log'));
  rsyslog = await startRsyslog(syslogPort, logFile);
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
    WEIR_LOG_LEVEL: process.env.WEIR_TEST_AGENT_LOG_LEVEL ?? 'warn',
    WEIR_HARD_STOP_AFTER: '1s',
    WEIR_LOG_TARGET: `127.0.0.1:${syslogPort}`,
    WEIR_LOG_FILE: logFile,
    WEIR_ELASTICSEARCH_URL: es.url,
  };

  // Clients: unique paths; only requests that got an answer are expected in ES.
  const answered: string[] = [];
  let running = true;
  let paused = false;
  let seq = 0;
  const client = async (): Promise<void> => {
    while (running) {
      if (paused) {
        await sleep(20);
        continue;
      }
      const path = `/r/${seq++}`;
      const ok = await get(`http://127.0.0.1:${gwPort}${path}`).then((r) => r.status === 200, () => false);
      if (ok) answered.push(path);
      await sleep(5);
    }
  };
  const docs = (): Doc[] => [...es.indices.entries()].filter(([n]) => n.startsWith('weir-logs-')).flatMap(([, m]) => [...m.values()]);
  const rDocs = (): string[] => docs().map((d) => (d.url as { original: string } | undefined)?.original ?? '').filter((p) => p.startsWith('/r/'));
  const caughtUp = (what: string): Promise<unknown> => waitFor(() => rDocs().length >= answered.length, { what, timeoutMs: 10_000 });

  const t0 = Date.now();
  const mark = (what: string): void => {
    if (process.env.WEIR_TEST_VERBOSE) console.log(`  ${Date.now() - t0} ms ${what}`);
  };
  let agent = await startAgentProcess(env);
  mark('agent up');
  const clients = [client(), client()];
  await sleep(1000);

  // 1. SIGKILL mid-stream: HAProxy (orphaned) keeps serving and rsyslog keeps writing; the next agent adopts
  //    HAProxy and resumes at the committed offset (lines read but unacked are re-sent: same _id → 409).
  agent.child.kill('SIGKILL');
  await agent.exited;
  await sleep(800);
  const answeredWhileDown = answered.length;
  agent = await startAgentProcess(env);
  mark('agent = await startAgentProces');
  await sleep(800);

  // 2. Rename rotation, as logrotate without copytruncate does: mv, then HUP so rsyslog reopens.
  await rename(logFile, `${logFile}.1`);
  process.kill(rsyslog.pid!, 'SIGHUP');
  await sleep(1000);

  // 3. copytruncate: lines written between the copy and the truncate are lost by design (every tailer's
  //    limitation), so pause the clients and let the agent catch up first, as a careful operator would.
  paused = true;
  await sleep(200);
  await caughtUp('caught up before copytruncate');
  mark("await caughtUp('caught up befo");
  await copyFile(logFile, `${logFile}.2`);
  await truncate(logFile, 0);
  paused = false;
  await sleep(1000);

  // Garbage and an oversized line in the middle of real traffic.
  await appendFile(logFile, `Nov 22 00:00:00 host haproxy[1]: not json\n${'z'.repeat(70_000)}\n`);
  await sleep(500);
  running = false;
  await Promise.all(clients);
  mark('await Promise.all(clients);');

  await caughtUp('every answered request indexed');
  mark("await caughtUp('every answered");
  await sleep(1000); // anything extra (a duplicate) would show up now
  const paths = rDocs();
  const unique = new Set(paths);
  assert.is(paths.length, unique.size, 'no duplicate documents');
  const missing = answered.filter((p) => !unique.has(p));
  assert.equal(missing, [], 'no answered request missing');
  assert.is(unique.size, answered.length);
  assert.ok(answered.length > answeredWhileDown && answeredWhileDown > 0);

  const metrics = (await get(`http://${env.WEIR_HTTP_ADDR}/metrics`)).body;
  assert.match(metrics, /weir_log_lines_failed_total\{reason="oversized"\} 1\b/);
  // HAProxy's own notices ("Proxy web started.") reach the file too and count as no_payload as well.
  assert.ok(Number(/weir_log_lines_failed_total\{reason="no_payload"\} (\d+)/.exec(metrics)?.[1] ?? 0) >= 1);
  const status = JSON.parse((await get(`http://${env.WEIR_HTTP_ADDR}/status`)).body) as { haproxy: { adopted: boolean } };
  assert.is(status.haproxy.adopted, true, 'the restarted agent adopted the orphaned HAProxy');

  agent.child.kill('SIGTERM');
  const code = await agent.exited;
  assert.is(code, 0, agent.log().slice(-2000));
  mark('assert.is(await agent.exited, ');
  if (process.env.WEIR_TEST_VERBOSE) console.log(agent.log().slice(-4000));
  // The offsets file reflects acked lines only: a third start re-sends nothing new.
  const offsets = JSON.parse(await readFile(join(dir.path, 'state', 'telemetry-file-offsets.json'), 'utf8')) as { offset: number };
  assert.ok(offsets.offset > 0);
});

t.run();
