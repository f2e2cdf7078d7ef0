// A traffic probe on its own thread: `concurrency` keep-alive loops send GET / continuously
// and keep a short history of (receive time, body). The main thread asks for the first response
// from a route received at or after a given time. Timestamps are process.hrtime (CLOCK_MONOTONIC,
// the same clock on every thread), so an agent busy on the main thread does not delay them.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { port, concurrency, historySize } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const history = []; // [recvNs(bigint), body]
let sent = 0, ok = 0, errors = 0, non200 = 0, stopped = false;
const lastErrors = [];
let waits = []; // {id, route, since}
function settleFromHistory(w) {
  const hit = history.find(([t, b]) => t >= w.since && b === w.route);
  if (!hit) return false;
  parentPort.postMessage({ type: 'hit', id: w.id, at: hit[0].toString() });
  return true;
}
function settleNew(t, body) {
  if (waits.length === 0) return;
  waits = waits.filter((w) => {
    if (t < w.since || body !== w.route) return true;
    parentPort.postMessage({ type: 'hit', id: w.id, at: t.toString() });
    return false;
  });
}
function one() {
  return new Promise((resolve) => {
    sent++;
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const t = process.hrtime.bigint();
        if (res.statusCode === 200) ok++; else { non200++; body = 'HTTP ' + res.statusCode; }
        history.push([t, body]);
        if (history.length > historySize) history.splice(0, history.length - historySize);
        settleNew(t, body);
        resolve();
      });
      res.on('error', () => { errors++; resolve(); });
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => { errors++; lastErrors.push(String(e.code || e.message)); if (lastErrors.length > 20) lastErrors.shift(); setTimeout(resolve, 1); });
    req.end();
  });
}
async function loop() { while (!stopped) await one(); }
parentPort.on('message', (m) => {
  if (m.type === 'wait') { const w = { id: m.id, route: m.route, since: BigInt(m.since) }; if (!settleFromHistory(w)) waits.push(w); }
  else if (m.type === 'stats') parentPort.postMessage({ type: 'stats', id: m.id, sent, ok, errors, non200, lastErrors: [...lastErrors] });
  else if (m.type === 'stop') { stopped = true; agent.destroy(); setTimeout(() => process.exit(0), 50); }
});
for (let i = 0; i < concurrency; i++) loop();
`;

export interface ProbeStats {
  sent: number;
  ok: number;
  errors: number;
  non200: number;
  lastErrors: string[];
}

export class Probe {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (v: unknown) => void>();

  constructor(port: number, opts: { concurrency?: number; historySize?: number } = {}) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port, concurrency: opts.concurrency ?? 4, historySize: opts.historySize ?? 20_000 } });
    this.worker.on('message', (m: { type: string; id: number; at?: string }) => {
      const r = this.pending.get(m.id);
      if (!r) return;
      this.pending.delete(m.id);
      r(m.type === 'hit' ? BigInt(m.at ?? '0') : m);
    });
  }

  /** hrtime (ns) of the first response with body `route` received at or after `since`; null after `timeoutMs`. */
  firstFrom(route: string, since: bigint, timeoutMs = 15_000): Promise<bigint | null> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.pending.set(id, (v) => {
        clearTimeout(timer);
        resolve(v as bigint);
      });
      this.worker.postMessage({ type: 'wait', id, route, since: since.toString() });
    });
  }

  stats(): Promise<ProbeStats> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, (v) => resolve(v as ProbeStats));
      this.worker.postMessage({ type: 'stats', id });
    });
  }

  async stop(): Promise<void> {
    const gone = new Promise<void>((r) => this.worker.once('exit', () => r()));
    this.worker.postMessage({ type: 'stop' });
    const t = setTimeout(() => void this.worker.terminate(), 2000);
    await gone;
    clearTimeout(t);
  }
}
