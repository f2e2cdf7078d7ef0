// Calls a policy's hooks: a JSON POST through one pooled undici dispatcher, signed with
// HMAC-SHA256 over the exact body bytes, with an Idempotency-Key that stays the same across the
// retries of one call (and after a controller restart), bounded timeouts and retries. Replies:
// 2xx passes, 409/423 asks to wait, a JSON body `{"verdict":"fail"}` fails, anything else or no
// answer in time is an Error. Never throws.
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request, type Dispatcher } from 'undici';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import type { PolicyHook } from './policy.js';

export const SIGNATURE_HEADER = 'x-weir-signature-256';
const MAX_REPLY_BYTES = 64 * 1024;

export type HookVerdict = 'Passed' | 'Failed' | 'Waiting' | 'Error';

export interface HookOutcome {
  verdict: HookVerdict;
  status: number | null;
  detail: string;
  attempts: number;
}

/** Computes the signature header value a receiver checks: `sha256=<hex HMAC of the body>`. */
export function signBody(secret: string | Buffer, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface HookCallerOptions {
  logger?: Logger;
  /** Where `env:` secret references are looked up (the controller's environment). */
  env?: NodeJS.ProcessEnv;
  /** Connections per origin in the shared pool. */
  connections?: number;
  /** Pause before a retry (doubled each time). */
  retryDelayMs?: number;
  dispatcher?: Dispatcher;
  /** Called after each call, for metrics. */
  onResult?: (hook: PolicyHook, outcome: HookOutcome, seconds: number) => void;
}

export class HookCaller {
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly retryDelayMs: number;

  constructor(private readonly opts: HookCallerOptions = {}) {
    this.log = opts.logger ?? silentLogger();
    this.env = opts.env ?? process.env;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
    this.ownsDispatcher = !opts.dispatcher;
    // One pool for every hook of every release: keep-alive per origin, bounded connections.
    this.dispatcher = opts.dispatcher ?? new Agent({ connections: opts.connections ?? 8, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connect: { timeout: 5_000 } });
  }

  /** Resolves `env:NAME` / `file:/path`; throws with a message naming the reference. */
  async secret(ref: string): Promise<string> {
    if (ref.startsWith('env:')) {
      const name = ref.slice(4);
      const v = this.env[name];
      if (v === undefined || v === '') throw new Error(`hook secret ${ref}: ${name} is not set in the release controller's environment`);
      return v;
    }
    if (ref.startsWith('file:')) {
      const path = ref.slice(5);
      try {
        const v = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
        if (v === '') throw new Error('the file is empty');
        return v;
      } catch (err) {
        throw new Error(`hook secret ${ref}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    throw new Error(`hook secret ${JSON.stringify(ref)} is not env:NAME or file:/path`);
  }

  async call(hook: PolicyHook, secretRef: string | null, payload: unknown, idempotencyKey: string): Promise<HookOutcome> {
    const started = performance.now();
    const out = await this.callOnce(hook, secretRef, payload, idempotencyKey);
    this.opts.onResult?.(hook, out, (performance.now() - started) / 1000);
    if (out.verdict === 'Error') this.log.warn({ hook: hook.name, type: hook.type, url: redact(hook.url), detail: out.detail, attempts: out.attempts }, 'hook call failed');
    return out;
  }

  private async callOnce(hook: PolicyHook, secretRef: string | null, payload: unknown, idempotencyKey: string): Promise<HookOutcome> {
    let secret: string | null = null;
    if (secretRef !== null) {
      try {
        secret = await this.secret(secretRef);
      } catch (err) {
        return { verdict: 'Error', status: null, detail: (err as Error).message, attempts: 0 };
      }
    }
    const body = Buffer.from(JSON.stringify(payload));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'weir-release-controller',
      'idempotency-key': idempotencyKey,
      'x-weir-hook': hook.name,
      'x-weir-hook-type': hook.type,
    };
    if (secret !== null) headers[SIGNATURE_HEADER] = signBody(secret, body);
    let last: HookOutcome = { verdict: 'Error', status: null, detail: 'not called', attempts: 0 };
    for (let attempt = 1; attempt <= hook.retries + 1; attempt++) {
      last = { ...(await this.attempt(hook, headers, body)), attempts: attempt };
      // Retry what may be transient: no answer, or a gateway in front of the receiver failing.
      const transient = last.status === null || last.status === 502 || last.status === 503 || last.status === 504;
      if (!transient || attempt > hook.retries) break;
      await new Promise((r) => setTimeout(r, this.retryDelayMs * 2 ** (attempt - 1)));
    }
    return last;
  }

  private async attempt(hook: PolicyHook, headers: Record<string, string>, body: Buffer): Promise<Omit<HookOutcome, 'attempts'>> {
    const signal = AbortSignal.timeout(hook.timeoutMs);
    try {
      const res = await request(hook.url, { method: 'POST', headers, body, dispatcher: this.dispatcher, signal, headersTimeout: hook.timeoutMs, bodyTimeout: hook.timeoutMs });
      const text = await readCapped(res.body, MAX_REPLY_BYTES);
      const status = res.statusCode;
      if (replyVerdict(text) === 'fail') return { verdict: 'Failed', status, detail: `answered ${status} {"verdict":"fail"}${reasonOf(text)}` };
      if (status >= 200 && status < 300) return { verdict: 'Passed', status, detail: `answered ${status}` };
      if (status === 409 || status === 423) return { verdict: 'Waiting', status, detail: `answered ${status}: wait${reasonOf(text)}` };
      return { verdict: 'Error', status, detail: `answered ${status}${text ? `: ${text.slice(0, 200).replace(/\s+/g, ' ')}` : ''}` };
    } catch (err) {
      const e = err as Error & { code?: string };
      const timedOut = signal.aborted || e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT';
      return { verdict: 'Error', status: null, detail: timedOut ? `no answer within ${hook.timeoutMs} ms` : `${e.code ?? e.name}: ${e.message}` };
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close().catch(() => undefined);
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (size < max) chunks.push(b.subarray(0, max - size));
    size += b.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function replyVerdict(text: string): string | null {
  if (!text.trimStart().startsWith('{')) return null;
  try {
    const v = JSON.parse(text) as { verdict?: unknown };
    return typeof v.verdict === 'string' ? v.verdict.toLowerCase() : null;
  } catch {
    return null;
  }
}

function reasonOf(text: string): string {
  try {
    const v = JSON.parse(text) as { reason?: unknown };
    return typeof v.reason === 'string' ? `: ${v.reason.slice(0, 200)}` : '';
  } catch {
    return '';
  }
}

function redact(u: string): string {
  try {
    const url = new URL(u);
    url.search = '';
    return url.toString();
  } catch {
    return '?';
  }
}
