// A load generator on its own thread for tests and drills: `concurrency` loops send GET
// continuously and count every outcome. A failure is anything but a 2xx/3xx/4xx answer: a
// connection refused or reset, a TLS handshake error, a timeout, a 5xx. The thread keeps going
// while the main thread is busy (an in-process agent), so a stall shows up as a failure, not as
// a pause. `newConnection` opens a connection (and, over TLS, a full handshake: no session
// resumption) per request.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const https = require('node:https');
const { url, concurrency, newConnection, servername, ca, headers, timeoutMs } = workerData;
const u = new URL(url);
const mod = u.protocol === 'https:' ? https : http;
// A new connection is a full TLS handshake too: no session resumption.
const agent = new mod.Agent({ keepAlive: !newConnection, maxSockets: concurrency, ...(ca ? { ca } : {}), ...(newConnection ? { maxCachedSessions: 0 } : {}) });
const stats = { sent: 0, ok: 0, failed: 0, statuses: {}, bodies: {}, reasons: {}, tls: {} };
let stopped = false;
function fail(reason) {
  stats.failed++;
  stats.reasons[reason] = (stats.reasons[reason] || 0) + 1;
}
function one() {
  return new Promise((resolve) => {
    stats.sent++;
    let done = false;
    const finish = () => { if (!done) { done = true; resolve(); } };
    const req = mod.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, agent, headers: { ...(headers || {}), ...(newConnection ? { connection: 'close' } : {}) },
      ...(u.protocol === 'https:' ? { servername: servername || undefined, ca: ca || undefined } : {}),
    }, (res) => {
      const sock = res.socket;
      if (sock && typeof sock.getPeerCertificate === 'function') {
        const c = sock.getPeerCertificate();
        const key = (sock.alpnProtocol || 'none') + ' ' + (c && c.subject ? c.subject.CN : '?') + ' ' + (c ? c.fingerprint256 : '');
        stats.tls[key] = (stats.tls[key] || 0) + 1;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { if (body.length < 200) body += d; });
      res.on('end', () => {
        const s = res.statusCode || 0;
        stats.statuses[s] = (stats.statuses[s] || 0) + 1;
        if (s >= 500 || s === 0) fail('HTTP ' + s + ' ' + body.slice(0, 60).trim());
        else { stats.ok++; const b = body.slice(0, 40); stats.bodies[b] = (stats.bodies[b] || 0) + 1; }
        finish();
      });
      res.on('error', (e) => { fail(String(e.code || e.message)); finish(); });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => { fail(String(e.code || e.message)); setTimeout(finish, 5); });
    req.end();
  });
}
async function loop() { while (!stopped) await one(); }
parentPort.on('message', (m) => {
  if (m === 'stats') parentPort.postMessage(JSON.parse(JSON.stringify(stats)));
  else if (m === 'stop') { stopped = true; }
});
Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
  agent.destroy();
  parentPort.postMessage({ final: JSON.parse(JSON.stringify(stats)) });
});
`;

export interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  /** First 40 characters of each answer body (upstreams answer with their name). */
  bodies: Record<string, number>;
  /** Why requests failed (error code, or `HTTP 503 …`). */
  reasons: Record<string, number>;
  /** TLS only: `<alpn> <subject CN> <sha256 fingerprint>` of the certificate each answer came over. */
  tls: Record<string, number>;
}

export interface LoadOptions {
  concurrency?: number;
  newConnection?: boolean;
  /** TLS: the SNI name to send (default: none for IP URLs). */
  servername?: string;
  /** TLS: PEM CA(s) to verify the server with. */
  ca?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export class LoadGenerator {
  private readonly worker: Worker;
  private readonly finished: Promise<LoadStats>;

  constructor(url: string, opts: LoadOptions = {}) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { url, concurrency: opts.concurrency ?? 4, newConnection: opts.newConnection ?? false, servername: opts.servername ?? null, ca: opts.ca ?? null, headers: opts.headers ?? {}, timeoutMs: opts.timeoutMs ?? 5000 },
    });
    this.finished = new Promise((resolve, reject) => {
      this.worker.on('message', (m: { final?: LoadStats }) => {
        if (m.final) resolve(m.final);
      });
      this.worker.once('error', reject);
    });
  }

  /** The counts so far. */
  stats(): Promise<LoadStats> {
    return new Promise((resolve) => {
      const on = (m: LoadStats & { final?: LoadStats }): void => {
        if (m.final) return;
        this.worker.off('message', on);
        resolve(m);
      };
      this.worker.on('message', on);
      this.worker.postMessage('stats');
    });
  }

  /** Lets the requests in flight finish, then returns the final counts. */
  async stop(): Promise<LoadStats> {
    this.worker.postMessage('stop');
    const s = await this.finished;
    await this.worker.terminate();
    return s;
  }
}
