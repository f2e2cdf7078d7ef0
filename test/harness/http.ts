import { request } from 'node:http';
import { connect } from 'node:net';

export interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP/1.1 request on a fresh connection (no keep-alive), so every request is routed anew. */
export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: { connection: 'close', ...headers }, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends `n` requests, `concurrency` at a time, and counts bodies (upstream names) and failures. */
export async function tally(
  url: string,
  n: number,
  opts: { concurrency?: number; headers?: Record<string, string> } = {},
): Promise<{ counts: Record<string, number>; failures: string[] }> {
  const counts: Record<string, number> = {};
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next += 1;
      try {
        const r = await get(url, opts.headers);
        if (r.status >= 500) failures.push(`HTTP ${r.status}: ${r.body.slice(0, 80)}`);
        else counts[r.body] = (counts[r.body] ?? 0) + 1;
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  return { counts, failures };
}

/** Connects to a TCP port and returns what the server wrote before closing. */
export function tcpRead(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, host);
    let data = '';
    sock.setEncoding('utf8');
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error('tcp read timeout')));
    sock.on('data', (d: string) => (data += d));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}
