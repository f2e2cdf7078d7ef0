// A real HTTP receiver for release hooks: checks the HMAC-SHA256 signature of every body with
// the shared secret, records what arrived, and answers as the test says (status, JSON body,
// delay), per hook name.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { freePort } from './ports.js';

export interface Received {
  hook: string;
  type: string;
  idempotencyKey: string;
  signatureValid: boolean;
  body: Record<string, unknown>;
  at: number;
}

export interface Answer {
  status: number;
  body?: unknown;
  delayMs?: number;
}

export interface HookReceiver {
  url(path: string): string;
  received: Received[];
  /** Answer for a hook name (default 200). */
  answers: Map<string, Answer | ((n: number) => Answer)>;
  close(): Promise<void>;
}

export async function hookReceiver(secret: string): Promise<HookReceiver> {
  const port = await freePort();
  const received: Received[] = [];
  const answers = new Map<string, Answer | ((n: number) => Answer)>();
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const got = Buffer.from(String(req.headers['x-weir-signature-256'] ?? ''));
      const hook = String(req.headers['x-weir-hook'] ?? '');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        /* recorded as empty */
      }
      received.push({ hook, type: String(req.headers['x-weir-hook-type'] ?? ''), idempotencyKey: String(req.headers['idempotency-key'] ?? ''), signatureValid: got.length === want.length && timingSafeEqual(got, want), body, at: Date.now() });
      const n = (counts.get(hook) ?? 0) + 1;
      counts.set(hook, n);
      const a0 = answers.get(hook) ?? { status: 200 };
      const a = typeof a0 === 'function' ? a0(n) : a0;
      const send = (): void => {
        if (res.destroyed) return;
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body === undefined ? '{}' : JSON.stringify(a.body));
      };
      if (a.delayMs) setTimeout(send, a.delayMs).unref();
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    answers,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
