// Drill: Elasticsearch down with an agent restart in the middle. One `weir agent` process ships
// every request's log line to the Elasticsearch double (test/doubles/elasticsearch.ts; a real
// Elasticsearch cannot be installed here) over the ring source on a fixed TCP port (the setting
// docs/TELEMETRY.md gives for restarts). Elasticsearch stops; load runs; the agent is restarted
// (SIGTERM: what cannot be sent goes to the disk spool; the new process takes the spool over);
// load runs again; Elasticsearch returns. Counts: requests HAProxy answered, documents in
// weir-logs-*, lost (answered − documents), duplicates (documents − distinct request ids).
// DRILL_HAPROXY_ON_EXIT: keep (default: HAProxy keeps serving through the restart) or stop.
import { join } from 'node:path';
import { startElasticsearchDouble } from '../../test/doubles/elasticsearch.js';
import { LoadGenerator, type LoadStats } from '../../test/harness/load.js';
import { httpUpstream } from '../../test/harness/upstream.js';
import { sleep, waitFor } from '../../test/harness/tmp.js';
import { freePorts, HAPROXY_BIN, tempDir } from '../lib.js';
import { envInt, finish, killPidFile, reasons, say, startAgentProcess, type AgentProc, type DrillReport } from './lib.js';
import { mkdir, writeFile } from 'node:fs/promises';

export async function esDownDrill(opts: { seconds?: number; onExit?: 'keep' | 'stop' } = {}): Promise<DrillReport> {
  const phaseS = opts.seconds ?? envInt('DRILL_LOAD_S', 5);
  const onExit = opts.onExit ?? (process.env.DRILL_HAPROXY_ON_EXIT === 'stop' ? 'stop' : 'keep');
  const dir = await tempDir('weir-drill-es-');
  const gwDir = join(dir.path, 'store', 'default', 'default', 'gateways');
  await mkdir(gwDir, { recursive: true });
  const es = await startElasticsearchDouble();
  const up = await httpUpstream('up');
  const [port = 0, httpPort = 0, tcpPort = 0] = await freePorts(3);
  await writeFile(join(gwDir, 'shop.yaml'), `name: shop\nport: ${port}\nroutes:\n  v1:\n    targets: ["127.0.0.1:${up.port}"]\n`);
  const stateDir = join(dir.path, 'state');
  const env = {
    WEIR_STORE: `file://${join(dir.path, 'store')}`,
    WEIR_STATE_DIR: stateDir,
    WEIR_BIND_ADDRESS: '127.0.0.1',
    WEIR_HAPROXY_BIN: HAPROXY_BIN,
    WEIR_HAPROXY_ON_EXIT: onExit,
    WEIR_VHOST_PORT: '0',
    WEIR_MONITOR_PORT: '0',
    WEIR_LOG_SOURCE: 'ring',
    WEIR_LOG_TCP_ADDR: `127.0.0.1:${tcpPort}`,
    WEIR_ELASTICSEARCH_URL: es.url,
    WEIR_TELEMETRY_FLUSH_TIMEOUT_MS: '1000',
    WEIR_LOG_LEVEL: 'warn',
  };
  let agent: AgentProc | null = null;
  const stats: LoadStats[] = [];
  try {
    agent = await startAgentProcess(env, httpPort);
    // One load through every phase: the restart happens while requests flow.
    const load = new LoadGenerator(`http://127.0.0.1:${port}/`, { concurrency: 2, newConnection: true });
    await sleep(phaseS * 1000);
    await es.stop();
    say('Elasticsearch down');
    await sleep(phaseS * 1000);
    await agent.stop();
    agent = await startAgentProcess(env, httpPort);
    say('agent restarted');
    await sleep(phaseS * 1000);
    stats.push(await load.stop());
    await es.start();
    say('Elasticsearch up again');
    const answered = stats.reduce((a, s) => a + Object.entries(s.statuses).reduce((n, [, v]) => n + v, 0), 0);
    const docs = (): Array<{ source: Record<string, unknown> }> => es.docs('weir-logs-*');
    let last = -1;
    await waitFor(async () => {
      const n = docs().length;
      const done = n >= answered || (n === last && n > 0);
      last = n;
      await sleep(done ? 0 : 1000);
      return n >= answered;
    }, { what: `${answered} documents`, timeoutMs: 120_000, intervalMs: 500 }).catch(() => undefined);
    const all = docs();
    const ids = new Set(all.map((d) => String((d.source.haproxy as { request_id?: string } | undefined)?.request_id ?? '')));
    const lost = Math.max(0, answered - all.length);
    const duplicates = all.length - ids.size;
    const failed = stats.reduce((a, s) => a + s.failed, 0);
    const failures: string[] = [];
    if (lost > 0) failures.push(`${lost} lines lost`);
    if (duplicates > 0) failures.push(`${duplicates} duplicate documents`);
    if (all.length > answered) failures.push(`${all.length - answered} more documents than answered requests`);
    return finish('es-down', [
        `one agent shipping over the ring source (fixed WEIR_LOG_TCP_ADDR) to the Elasticsearch double, WEIR_HAPROXY_ON_EXIT=${onExit}`,
        `one load generator (a new connection per request) through: ${phaseS} s with Elasticsearch up; Elasticsearch stopped; ${phaseS} s; the agent restarted (SIGTERM, new process) while requests flowed; ${phaseS} s; load stopped; Elasticsearch started again`,
      ], {
        'requests HAProxy answered': answered,
        'documents in weir-logs-*': all.length,
        'lines lost': lost,
        duplicates,
        'failed requests': failed,
        'failure reasons': stats.map(reasons).filter((r) => r !== 'none').join('; ') || 'none',
      }, failures);
  } finally {
    await agent?.stop().catch(() => undefined);
    if (onExit === 'keep') killPidFile(join(stateDir, 'haproxy.pid'));
    await es.stop().catch(() => undefined);
    await up.close();
    await dir.remove();
  }
}
