// Log sources compared in one run: HAProxy 2.6 → UDP syslog vs HAProxy 2.6 → ring → TCP (octet-count), into
// the agent's real receivers and parser. Two drills per source:
//   burst: wrk at high concurrency for a few seconds; lines received vs requests HAProxy counted (req_tot);
//   receiver down: stop the receiver, send requests, bring it back on the same port; lines that arrive late.
// Run: npx tsx bench/log-sources.ts [--seconds 4] [--connections 64] [--down-requests 2000]
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { request } from 'node:http';
import { parseLogLine } from '../agent/telemetry/log-record.js';
import { startSyslogUdp } from '../agent/telemetry/syslog-udp.js';
import { startSyslogTcp } from '../agent/telemetry/syslog-tcp.js';
import { RuntimeClient } from '../agent/haproxy/runtime-client.js';
import { tempDir, sleep, waitFor } from '../test/harness/tmp.js';
import { freePorts } from '../test/harness/ports.js';
import { haproxyBin } from '../test/harness/haproxy-bin.js';

const run = promisify(execFile);
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, connections: { type: 'string', default: '64' }, 'down-requests': { type: 'string', default: '2000' }, 'ring-size': { type: 'string', default: String(4 * 1024 * 1024) } } });
const SECONDS = Number(values.seconds);
const CONNS = Number(values.connections);
const DOWN_REQ = Number(values['down-requests']);
const RING_SIZE = Number(values['ring-size']);

const FORMAT = `'{"t":%Ts.%ms,"id":"%ID","ci":"%ci","cp":%cp,"ft":"%ft","b":"%b","s":"%s","Tq":%Tq,"Tw":%Tw,"Tc":%Tc,"Tr":%Tr,"Ta":%Ta,"Tt":%Tt,"ST":%ST,"B":%B,"U":%U,"tsc":"%tsc","ac":%ac,"fc":%fc,"bc":%bc,"sc":%sc,"rc":%rc,"sq":%sq,"bq":%bq,"HM":"%HM","r":%{+Q}r}'`;

interface Receiver {
  lines: number;
  parsed: number;
  close: () => Promise<void>;
}

async function receiver(kind: 'udp' | 'ring', port: number): Promise<Receiver> {
  const r: Receiver = { lines: 0, parsed: 0, close: async () => undefined };
  const sink = (line: string): boolean => {
    r.lines += 1;
    if (parseLogLine(line).ok) r.parsed += 1;
    return true;
  };
  if (kind === 'udp') {
    const u = await startSyslogUdp({ port, sink });
    r.close = () => u.close();
  } else {
    const t = await startSyslogTcp({ port, sink });
    r.close = () => t.close();
  }
  return r;
}

async function startHaproxy(dir: string, kind: 'udp' | 'ring', logPort: number, httpPort: number): Promise<{ proc: ChildProcess; rt: RuntimeClient }> {
  const sock = join(dir, `${kind}.sock`);
  const log =
    kind === 'udp'
      ? `  log 127.0.0.1:${logPort} len 8192 format rfc5424 local0 info\n`
      : `  log ring@weir_logs len 8192 format rfc5424 local0 info\nring weir_logs\n  format rfc5424\n  maxlen 8192\n  size ${RING_SIZE}\n  timeout connect 2s\n  timeout server 10s\n  server weir-agent 127.0.0.1:${logPort} log-proto octet-count\n`;
  const cfg = `global\n  stats socket ${sock} level admin\n${log}defaults\n  mode http\n  log global\n  option dontlognull\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  unique-id-format '%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid'\n  log-format ${FORMAT}\nfrontend web\n  bind 127.0.0.1:${httpPort}\n  default_backend web:a\nbackend web:a\n  http-request return status 200 content-type text/plain string ok\n`;
  const file = join(dir, `${kind}.cfg`);
  await writeFile(file, cfg);
  const proc = spawn(haproxyBin(), ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const rt = new RuntimeClient({ socket: sock });
  await waitFor(() => rt.showInfo().then(() => true), { what: 'haproxy up' });
  return { proc, rt };
}

async function reqTot(rt: RuntimeClient): Promise<number> {
  const rows = await rt.showStat();
  return Number(rows.find((r) => r.pxname === 'web' && r.svname === 'FRONTEND')?.req_tot ?? 0);
}

function getOnce(port: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', () => resolve());
    req.end();
  });
}

async function settle(r: Receiver, want: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() < deadline && r.lines < want) {
    if (r.lines !== last) {
      last = r.lines;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 1500) break;
    await sleep(100);
  }
}

async function bench(kind: 'udp' | 'ring', dir: string): Promise<Record<string, string | number>> {
  const [logPort = 0, httpPort = 0] = await freePorts(2);
  let rx = await receiver(kind, logPort);
  const { proc, rt } = await startHaproxy(dir, kind, logPort, httpPort);
  try {
    await sleep(kind === 'ring' ? 500 : 100); // the ring connects to its server lazily
    // Burst.
    const base = rx.lines;
    const out = await run('wrk', ['-t2', `-c${CONNS}`, `-d${SECONDS}s`, `http://127.0.0.1:${httpPort}/`]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)?.[1] ?? 0);
    const burstReq = await reqTot(rt);
    await settle(rx, base + burstReq, 15_000);
    const burstLines = rx.lines - base;
    // Receiver down: requests while nothing listens, then the receiver comes back on the same port.
    await rx.close();
    const before = await reqTot(rt);
    for (let i = 0; i < DOWN_REQ; i += 50) await Promise.all(Array.from({ length: Math.min(50, DOWN_REQ - i) }, () => getOnce(httpPort)));
    const downReq = (await reqTot(rt)) - before;
    await sleep(1000);
    rx = await receiver(kind, logPort);
    const t0 = Date.now();
    await settle(rx, downReq, 20_000);
    const recovered = rx.lines;
    const recoveredAfterMs = recovered > 0 ? Date.now() - t0 : 0;
    // After recovery: does new traffic flow again?
    const after = rx.lines;
    for (let i = 0; i < 100; i += 50) await Promise.all(Array.from({ length: 50 }, () => getOnce(httpPort)));
    await settle(rx, after + 100, 5000);
    return {
      source: kind,
      burst_rps: Math.round(rps),
      burst_requests: burstReq,
      burst_lines: burstLines,
      burst_loss_pct: Number((((burstReq - burstLines) / burstReq) * 100).toFixed(2)),
      down_requests: downReq,
      down_lines_delivered_after_restart: recovered,
      down_recovery_ms: recoveredAfterMs,
      after_restart_100_requests_lines: rx.lines - after,
    };
  } finally {
    rt.close();
    proc.kill('SIGKILL');
    await rx.close();
  }
}

const dir = await tempDir('weir-logbench-');
try {
  const rows = [await bench('udp', dir.path), await bench('ring', dir.path)];
  const { stdout: v } = await run(haproxyBin(), ['-v']);
  console.log(`# ${v.split('\n')[0]}; node ${process.version}; wrk -c${CONNS} -d${SECONDS}s; ring size ${RING_SIZE} B; ${DOWN_REQ} requests while the receiver is down`);
  console.log(JSON.stringify(rows, null, 2));
} finally {
  await dir.remove();
}
