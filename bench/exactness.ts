// Exactness (issue 9 §4): a wrk burst at the machine's maximum rate with one reload in the middle, against a real
// `weir agent` with its default settings (UDP log source, auto sampling) and, for the lines, the same agent with
// every request logged (WEIR_LOG_SAMPLE=all). Per route: the requests the agent's /metrics counts (from HAProxy's
// own counters, carried across the reload) against the upstream HAProxy's own request counters for that route
// (a separate process that never reloads) and wrk's completed count; beside it, the log lines the agent received
// and those the kernel dropped on its UDP socket.
import { createConnection } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgentProcess, metricSum, type AgentProc } from './agent-proc.js';
import { kernelUdpDrops } from './log-pipeline.js';
import { envInt, fmt, freePorts, machine, progress, runHaproxy, sleep, table, tempDir, upstreamConfig, wrk, writeResult } from './lib.js';

/** `show stat` of an HAProxy admin socket → req_tot per frontend. */
async function frontendRequests(sock: string): Promise<Record<string, number>> {
  const csv = await new Promise<string>((resolve, reject) => {
    const c = createConnection(sock);
    let out = '';
    c.on('data', (d: Buffer) => (out += d.toString()));
    c.on('end', () => resolve(out));
    c.on('error', reject);
    c.write('show stat\n');
  });
  const rows = csv.trim().split('\n');
  const head = (rows[0] ?? '').replace(/^# /, '').split(',');
  const req = head.indexOf('req_tot');
  const out: Record<string, number> = {};
  for (const r of rows.slice(1)) {
    const f = r.split(',');
    if (f[1] === 'FRONTEND') out[f[0] ?? ''] = Number(f[req]);
  }
  return out;
}

const gatewayYaml = (port: number, up: Record<string, number>, balance: string): string =>
  `name: shop\nport: ${port}\nroutes:\n  a:\n    weight: 50%\n    balance: ${balance}\n    targets: ["127.0.0.1:${up.a}"]\n  b:\n    weight: 50%\n    targets: ["127.0.0.1:${up.b}"]\n`;

interface Row {
  variant: string;
  wrkRequests: number;
  rps: number;
  errors: number;
  reloads: number;
  routes: Record<string, { metrics: number; upstream: number }>;
  lines: number;
  kernelDrops: number;
  keepRatio: number;
  load: string;
}

export async function exactness(): Promise<string> {
  const seconds = envInt('BENCH_SECONDS', 10);
  const threads = envInt('BENCH_WRK_THREADS', 1);
  const connections = envInt('BENCH_WRK_CONNECTIONS', 32);
  const info = machine();
  const tmp = await tempDir('weir-bench-exact-');
  const rows: Row[] = [];
  const variants: Array<{ name: string; env: Record<string, string> }> = [
    { name: 'defaults (UDP, auto sampling)', env: {} },
    { name: 'WEIR_LOG_SAMPLE=all', env: { WEIR_LOG_SAMPLE: 'all' } },
  ];
  let upstream: { stop: () => Promise<void> } | null = null;
  try {
    const [pa = 0, pb = 0] = await freePorts(2);
    const ups = { a: pa, b: pb };
    const sock = join(tmp.path, 'upstream.sock');
    const cfg = join(tmp.path, 'upstream.cfg');
    await writeFile(cfg, upstreamConfig([{ name: 'a', port: pa }, { name: 'b', port: pb }], null).replace(/^global\n/, `global\n  stats socket ${sock} level admin\n`));
    upstream = await runHaproxy(cfg, [pa, pb]);
    for (const [i, v] of variants.entries()) {
      const [gw = 0, udp = 0] = await freePorts(2);
      const dir = join(tmp.path, `agent-${i}`);
      const agent: AgentProc = await startAgentProcess(dir, { shop: gatewayYaml(gw, ups, 'roundrobin') }, { WEIR_LOG_UDP_ADDR: `127.0.0.1:${udp}`, ...v.env });
      try {
        const url = `http://127.0.0.1:${gw}/`;
        await wrk(url, { seconds: 1, threads, connections });
        await sleep(1500);
        const m0 = await agent.metrics();
        const u0 = await frontendRequests(sock);
        const d0 = kernelUdpDrops(udp);
        const load = machine().loadavgAtStart ?? '';
        // One reload in the middle of the burst: a structural change (the route's balance algorithm).
        const reload = sleep((seconds * 1000) / 2).then(() => writeFile(join(dir, 'store', 'default', 'default', 'gateways', 'shop.yaml'), gatewayYaml(gw, ups, 'leastconn')));
        const w = await wrk(url, { seconds, threads, connections });
        await reload;
        // Let the old worker finish and the last lines arrive.
        await sleep(2000);
        const m1 = await agent.metrics();
        const u1 = await frontendRequests(sock);
        const d = (name: string, labels: Record<string, string> = {}): number => metricSum(m1, name, labels) - metricSum(m0, name, labels);
        const row: Row = {
          variant: v.name,
          wrkRequests: w.requests,
          rps: w.rps,
          errors: w.errors + w.non2xx,
          reloads: d('weir_haproxy_reloads_total'),
          routes: Object.fromEntries(['a', 'b'].map((r) => [r, { metrics: d('weir_http_requests_total', { gateway: 'shop', route: r }), upstream: (u1[`up_${r}`] ?? 0) - (u0[`up_${r}`] ?? 0) }])),
          lines: d('weir_log_lines_received_total'),
          kernelDrops: kernelUdpDrops(udp) - d0,
          keepRatio: metricSum(m1, 'weir_log_sample_keep_ratio', { gateway: 'shop', route: 'a' }),
          load,
        };
        rows.push(row);
        progress(`${v.name}: ${JSON.stringify(row)}`);
      } finally {
        await agent.stop();
      }
    }
  } finally {
    await upstream?.stop();
    await tmp.remove();
  }
  const out: string[] = [];
  out.push(`wrk -t${threads} -c${connections} -d${seconds}s per agent, one reload at ${seconds / 2} s; load average at the start of each burst: ${rows.map((r) => r.load).join('; ')}.`, '');
  out.push(
    table(
      ['agent', 'req/s', 'reloads', 'route a: /metrics / upstream', 'route b: /metrics / upstream', '/metrics total − upstream total', 'wrk completed', 'log lines received', 'kernel UDP drops', 'keep ratio (route a)'],
      rows.map((r) => {
        const mt = r.routes.a!.metrics + r.routes.b!.metrics;
        const ut = r.routes.a!.upstream + r.routes.b!.upstream;
        return [r.variant, fmt(r.rps, 0), r.reloads, `${r.routes.a!.metrics} / ${r.routes.a!.upstream}`, `${r.routes.b!.metrics} / ${r.routes.b!.upstream}`, `**${mt - ut}**`, `${r.wrkRequests} (${r.wrkRequests - ut >= 0 ? '+' : ''}${r.wrkRequests - ut})`, r.lines, r.kernelDrops, r.keepRatio > 0 ? fmt(r.keepRatio, 4) : '1 (every request)'];
      }),
    ),
  );
  const md = out.join('\n');
  const base = await writeResult('exactness', { machine: info, seconds, threads, connections, rows }, md);
  return `${md}\n\nresults: ${base}.{json,md}`;
}
