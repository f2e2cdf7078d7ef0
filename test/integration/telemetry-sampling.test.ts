// Log sampling inside real HAProxy: `WEIR_LOG_SAMPLE=1/N` lets about one request in N write a log line
// while the request counters stay exact, and `auto` lowers a busy route's keep ratio at runtime (no
// reload) so the agent gets about WEIR_LOG_SAMPLE_TARGET lines per second per route. Each route backend's
// threshold is an ACL pattern file of its own (agent/telemetry/sample-acl.ts): created before the check of
// the config that adds the route, loaded by every reload, removed after the reload that drops the route.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { seriesValue as sample } from '../harness/prom-text.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { sleep, waitFor } from '../harness/tmp.js';
import { RuntimeClient } from '../../agent/haproxy/runtime-client.js';
import { parseSampleAcl, sampleAclPath } from '../../agent/telemetry/sample-acl.js';
import type { SampleFiles } from '../../agent/telemetry/sample-files.js';

const t = suite('log sampling in real HAProxy (UDP source, no Elasticsearch)');
let fx: AgentFixture;
let ups: Upstream[] = [];
let gwPort = 0;
const ROUTES = ['blue', 'green', 'red'];

const aclFile = (route: string): string => sampleAclPath(join(fx.stateDir, 'log-sample'), `shop:${route}`);
/** The threshold in a route's file on disk (null: no file). */
const fileThreshold = (route: string): number | null => (existsSync(aclFile(route)) ? parseSampleAcl(readFileSync(aclFile(route), 'utf8')) : null);

/** The patterns HAProxy's current worker matches for a route's file (`show acl <file>`: "0x… 100000:"); null when it has no such ACL. */
async function workerPatterns(route: string): Promise<string[] | null> {
  const rt = new RuntimeClient({ socket: join(fx.stateDir, 'admin.sock'), timeoutMs: 3000 });
  try {
    const [r] = await rt.batch([`show acl ${aclFile(route)}`]);
    if (!r || !r.ok) return null;
    return r.reply.split('\n').map((l) => l.trim().split(/\s+/)[1]).filter((x): x is string => x !== undefined);
  } finally {
    rt.close();
  }
}

const shopYaml = (routes: Record<string, number>): string =>
  gatewayYaml('shop', gwPort, Object.fromEntries(Object.entries(routes).map(([r, w]) => [r, { weight: w, targets: [ups[ROUTES.indexOf(r) % ups.length]!.port] }])));

interface Figures {
  requests: number;
  lines: number;
  timed: number;
  keepBlue: number;
}

async function figures(): Promise<Figures> {
  await fx.agent.telemetry!.counters.refresh();
  const m = await fx.agent.metrics.registry.metrics();
  const requests = ROUTES.reduce((n, route) => n + sample(m, 'weir_http_requests_total', { gateway: 'shop', route, code_class: '2xx' }), 0);
  const timed = ROUTES.reduce((n, route) => n + sample(m, 'weir_http_response_time_seconds_count', { gateway: 'shop', route, phase: 'total' }), 0);
  return { requests, lines: sample(m, 'weir_log_lines_parsed_total'), timed, keepBlue: sample(m, 'weir_log_sample_keep_ratio', { gateway: 'shop', route: 'blue' }) };
}

/** The lines of requests already answered arrive over UDP a moment later: wait until the count stops moving. */
async function settledFigures(): Promise<Figures> {
  let last = await figures();
  for (let i = 0; i < 40; i++) {
    await sleep(150);
    const now = await figures();
    if (now.lines === last.lines && now.requests === last.requests) return now;
    last = now;
  }
  return last;
}

/** `n` GETs over `workers` (8) keep-alive connections, or for `ms` at about `perSecond` when given. */
async function load(opts: { n?: number; ms?: number; perSecond?: number; workers?: number }): Promise<number> {
  const url = `http://127.0.0.1:${gwPort}/`;
  let sent = 0;
  const until = opts.ms !== undefined ? Date.now() + opts.ms : Infinity;
  const workers = opts.workers ?? 8;
  const gap = opts.perSecond ? (1000 * workers) / opts.perSecond : 0;
  const worker = async (): Promise<void> => {
    while ((opts.n === undefined || sent < opts.n) && Date.now() < until) {
      sent++;
      const r = await fetch(url);
      await r.arrayBuffer();
      assert.is(r.status, 200);
      if (gap) await sleep(gap);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return sent;
}

t.before(async () => {
  ups = [await httpUpstream('blue'), await httpUpstream('green')];
  const [gw = 0, udp = 0] = await freePorts(2);
  gwPort = gw;
  fx = await startAgent({
    // A fixed log port: a restarted agent renders the same config, so it adopts HAProxy without a reload.
    env: { WEIR_LOG_SAMPLE: '1/10', WEIR_LOG_UDP_ADDR: `127.0.0.1:${udp}` },
    files: { 'shop.yaml': gatewayYaml('shop', gwPort, { blue: { weight: 50, targets: [ups[0]!.port] }, green: { weight: 50, targets: [ups[1]!.port] } }) },
  });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload, 'shop applied');
  await waitFor(async () => ((await figures()).keepBlue === 0.1 ? true : null), { what: 'keep ratio 1/10 on the route' });
  // The gauge is the agent's view; HAProxy gets the threshold over its runtime API just after.
  await waitFor(
    async () => {
      const b = await settledFigures();
      const n = await load({ n: 200 });
      return (await settledFigures()).lines - b.lines <= n * 0.4 ? true : null;
    },
    { what: 'HAProxy sampling 1 in 10', timeoutMs: 20_000 },
  );
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of ups) await u.close();
});

t('1/10: every request counted, about one in ten logged and timed', async () => {
  const before = await settledFigures();
  const n = await load({ n: 3000 });
  const after = await settledFigures();
  const requests = after.requests - before.requests;
  const lines = after.lines - before.lines;
  assert.is(requests, n, 'the counters come from HAProxy: exact');
  // Binomial(3000, 0.1): mean 300, sd 16; the bounds are 6 sd away.
  assert.ok(lines >= 200 && lines <= 400, `${lines} lines for ${n} requests`);
  assert.is(after.timed - before.timed, lines, 'each kept line is one latency sample');
});

t('1/10: a route added gets its file before the check; the reload loads it; a removed route\'s file goes after the reload that drops it', async () => {
  const reloads = await fx.reloads();
  assert.is(fileThreshold('red'), null);
  await fx.write('shop', shopYaml({ blue: 40, green: 40, red: 20 }));
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload && s.lastApply?.kind === 'reload' && s.lastError === null, 'route red applied by a reload');
  assert.is(await fx.reloads(), reloads + 1);
  // Written before `haproxy -c` (which refuses a config naming a missing file), with the fixed threshold.
  assert.is(fileThreshold('red'), 100_000);
  assert.equal(await workerPatterns('red'), ['100000:'], 'the new worker loaded the file');
  assert.equal(await workerPatterns('blue'), ['100000:'], 'and kept the other routes\' thresholds');
  const before = await settledFigures();
  const n = await load({ n: 3000 });
  const after = await settledFigures();
  const lines = after.lines - before.lines;
  assert.is(after.requests - before.requests, n);
  assert.ok(lines >= 200 && lines <= 400, `${lines} lines for ${n} requests over three routes`);

  // Removing red: its file must stay until the reload that drops it has happened (a failed reload restores
  // the config that names it), then go.
  const files = fx.agent.telemetry!.sampleFiles;
  const prune = files.prune.bind(files);
  const atPrune: Array<{ reloads: number; redFile: boolean; names: boolean }> = [];
  (files as { prune: SampleFiles['prune'] }).prune = async (config) => {
    atPrune.push({ reloads: await fx.reloads(), redFile: existsSync(aclFile('red')), names: config.includes(aclFile('red')) });
    return prune(config);
  };
  await fx.write('shop', shopYaml({ blue: 50, green: 50 }));
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload && fileThreshold('red') === null, 'red removed and its file gone');
  (files as { prune: SampleFiles['prune'] }).prune = prune;
  const dropping = atPrune.find((p) => !p.names);
  assert.ok(dropping, `a prune with the config without red: ${JSON.stringify(atPrune)}`);
  assert.is(dropping.reloads, reloads + 2, 'pruned after the reload that dropped red');
  assert.ok(dropping.redFile, 'and the file was still there until then');
  assert.is(await workerPatterns('red'), null, 'the worker has no ACL for red');
  assert.equal(await workerPatterns('blue'), ['100000:']);
});

t('auto after 1/10, on the same HAProxy: a quiet route logs every request again; a busy one is sampled at runtime, without a reload', async () => {
  // An agent that keeps HAProxy on exit (the fixture's restart stops the current one with its own settings)…
  await fx.restart({ WEIR_HAPROXY_ON_EXIT: 'keep' });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload, 'shop applied by the keeping agent');
  // …so the next one adopts the running HAProxy, which holds the 1/10 thresholds.
  await fx.restart({ WEIR_LOG_SAMPLE: 'auto', WEIR_LOG_SAMPLE_TARGET: '20', WEIR_HAPROXY_ON_EXIT: 'stop' });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload, 'shop applied after the restart');
  assert.ok(fx.status().haproxy.adopted, 'the running HAProxy was adopted');
  assert.is(await fx.reloads(), 0, 'and kept its worker (no reload)');
  const reloads = await fx.reloads();
  await waitFor(async () => ((await figures()).keepBlue === 1 ? true : null), { what: 'quiet route back to keeping every line' });
  // Quiet: ~5 requests/s, one at a time, well under the target of 20 lines/s per route: every request
  // logged once the agent has pushed its thresholds (without that, HAProxy would keep sampling 1 in 10).
  let seen = '';
  await waitFor(
    async () => {
      const b = await settledFigures();
      const q = await load({ ms: 1500, perSecond: 5, workers: 1 });
      const got = (await settledFigures()).lines - b.lines;
      seen = `${got} lines for ${q} quiet requests`;
      return got >= q * 0.9 ? true : null;
    },
    { what: 'every quiet request logged', timeoutMs: 20_000 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: last ${seen}`);
  });
  // Pushed back only because the new agent read 1/10 from the files (the adopted worker had it loaded).
  assert.equal(await workerPatterns('blue'), ['1000000:']);
  assert.is(fileThreshold('blue'), 1_000_000);
  let before: Figures;
  let n: number;
  let after: Figures;
  // Busy: ~400 requests/s (~200 per route) for 4 s, then measure the next 3 s.
  await load({ ms: 4000, perSecond: 400 });
  before = await figures();
  assert.ok(before.keepBlue > 0 && before.keepBlue < 0.5, `keep ratio of blue under load: ${before.keepBlue}`);
  n = await load({ ms: 3000, perSecond: 400 });
  after = await settledFigures();
  const lines = after.lines - before.lines;
  assert.ok(lines < n * 0.5, `${lines} lines for ${n} requests with a target of 20 lines/s per route`);
  assert.ok(lines > 0, 'still some latency samples');
  assert.is(await fx.reloads(), reloads, 'thresholds change at runtime: no reload');
  // The worker matches what the agent set, and the file says the same (it is written first).
  const keep = (await figures()).keepBlue;
  const k = fileThreshold('blue');
  assert.ok(k !== null && Math.abs(k / 1e6 - keep) < 1e-6, `file ${k}, gauge ${keep}`);
  assert.equal(await workerPatterns('blue'), [`${k}:`]);
});

t('auto: a reload keeps the thresholds set at runtime (the new worker loads them from the files)', async () => {
  const files = fx.agent.telemetry!.sampleFiles;
  const write = files.write.bind(files);
  let writes = 0;
  (files as { write: SampleFiles['write'] }).write = (changes) => {
    writes += 1;
    return write(changes);
  };
  // Steady traffic, so the thresholds stay put (hysteresis) while a route is added (a reload).
  let busy = true;
  const traffic = (async () => {
    while (busy) await load({ ms: 500, perSecond: 400 });
  })();
  try {
    await sleep(2000);
    let seen = '';
    let routes: Record<string, number> = { blue: 40, green: 40, red: 20 };
    await waitFor(
      async () => {
        const reloads = await fx.reloads();
        const w0 = writes;
        const k = fileThreshold('blue');
        await fx.write('shop', shopYaml(routes));
        routes = routes.red ? { blue: 50, green: 50 } : { blue: 40, green: 40, red: 20 };
        await fx.waitStatus((s) => !s.pendingReload && s.lastApply?.kind === 'reload' && s.lastError === null, 'reloaded');
        await waitFor(async () => ((await fx.reloads()) > reloads ? true : null), { what: 'a reload' });
        const patterns = await workerPatterns('blue');
        seen = `file ${k}, new worker ${JSON.stringify(patterns)}, threshold writes during the reload ${writes - w0}`;
        // Only conclusive if the agent wrote no new threshold meanwhile (it would push it too).
        return writes === w0 && k !== null && k < 1_000_000 && patterns?.[0] === `${k}:` ? true : null;
      },
      { what: 'the new worker matching the runtime threshold', timeoutMs: 40_000 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: last ${seen}`);
    });
  } finally {
    busy = false;
    await traffic;
    (files as { write: SampleFiles['write'] }).write = write;
  }
});

t.run();
