// Pieces for end-to-end release tests and benchmarks: upstreams with a behaviour (status,
// delay, a share of 5xx), a paced load generator that records which upstream answered each
// request and when, and small API helpers for policies and runs.
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'undici';
import { freePort } from './ports.js';
import type { E2EControl, Reply } from './e2e.js';
import { waitFor } from './tmp.js';

export interface Behaviour {
  status?: number;
  /** Extra delay per response, ms. */
  delayMs?: number;
  /** Plus a uniform random delay up to this many ms. */
  jitterMs?: number;
  /** Share of requests answered 500 (0..1). */
  errorShare?: number;
}

export interface BehaviourUpstream {
  name: string;
  port: number;
  behaviour: Behaviour;
  requests: number;
  close(): Promise<void>;
}

/** An HTTP upstream that answers with its name in `x-upstream`, as `behaviour` says (changeable at run time). */
export async function behaviourUpstream(name: string, behaviour: Behaviour = {}): Promise<BehaviourUpstream> {
  const port = await freePort();
  const u: BehaviourUpstream = { name, port, behaviour, requests: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    u.requests++;
    req.resume();
    const b = u.behaviour;
    const status = b.errorShare !== undefined && Math.random() < b.errorShare ? 500 : (b.status ?? 200);
    const send = (): void => {
      res.statusCode = status;
      res.setHeader('x-upstream', name);
      res.end(name);
    };
    const delay = (b.delayMs ?? 0) + (b.jitterMs ? Math.random() * b.jitterMs : 0);
    if (delay > 0) setTimeout(send, delay);
    else send();
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  u.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return u;
}

export interface Hit {
  at: number;
  upstream: string;
  status: number;
}

export interface Load {
  hits: Hit[];
  /** Requests per second; may be changed while running. */
  rate: number;
  errors: number;
  stop(): Promise<void>;
  /** Share of hits answered by `upstream` since `since` (ms epoch). */
  share(upstream: string, since: number): number;
}

/** Sends `rate` requests per second to `url` until stopped (at most `maxInFlight` outstanding), through keep-alive connections. */
export function startLoad(url: string, rate: number, opts: { maxInFlight?: number; keepHits?: boolean } = {}): Load {
  const dispatcher = new Agent({ connections: 16, keepAliveTimeout: 2000, pipelining: 0 });
  const maxInFlight = opts.maxInFlight ?? 64;
  let inFlight = 0;
  let stopped = false;
  const pending = new Set<Promise<void>>();
  const load: Load = {
    hits: [],
    rate,
    errors: 0,
    stop: async () => {
      stopped = true;
      await Promise.allSettled([...pending]);
      await dispatcher.close();
    },
    share: (upstream, since) => {
      const hs = load.hits.filter((h) => h.at >= since);
      return hs.length === 0 ? 0 : hs.filter((h) => h.upstream === upstream).length / hs.length;
    },
  };
  let next = performance.now();
  const tick = (): void => {
    if (stopped) return;
    const now = performance.now();
    while (next <= now && !stopped) {
      next += 1000 / Math.max(0.1, load.rate);
      if (inFlight >= maxInFlight) continue;
      inFlight++;
      const p = request(url, { dispatcher, headersTimeout: 5000, bodyTimeout: 5000 })
        .then(async (res) => {
          await res.body.text();
          const upstream = String(res.headers['x-upstream'] ?? '');
          if (opts.keepHits !== false) load.hits.push({ at: Date.now(), upstream, status: res.statusCode });
        })
        .catch(() => {
          load.errors++;
          if (opts.keepHits !== false) load.hits.push({ at: Date.now(), upstream: '', status: 0 });
        })
        .finally(() => {
          inFlight--;
          pending.delete(p);
        });
      pending.add(p);
    }
    setTimeout(tick, Math.max(1, Math.min(20, next - performance.now())));
  };
  tick();
  return load;
}

export const relPath = (org: string, env: string, gateway: string, rest = ''): string => `/api/v1/namespaces/${org}/${env}/gateways/${gateway}/releases${rest}`;
export const policyPath = (org: string, env: string, name: string): string => `/api/v1/namespaces/${org}/${env}/release-policies/${name}`;

export interface RunJson {
  id: string;
  phase: string;
  source: string;
  target: string;
  trigger: string;
  attempt: number;
  step: { index: number; name: string; stage: string; startedAt: string | null };
  pauseReasons: Array<{ reason: string; detail: string }>;
  outcome: { result: string; code: string; reason: string } | null;
  finish: { state: string };
  history: boolean;
  measurements: Array<{ step: number; source: { requests: number } | null; target: { requests: number } | null; conditions: Array<{ name: string; verdict: string; reason: string }>; error: string | null; agents: { contributed: number; live: number | null } }>;
  transitions: Array<{ kind: string; at: string; step: number; actor: string; reason: string }>;
  status: { step: { timeLeftSeconds: number | null }; samples: { source: { requests: number }; target: { requests: number } } };
}

export async function current(c: E2EControl, org: string, env: string, gateway: string): Promise<RunJson> {
  const r: Reply = await c.api('GET', relPath(org, env, gateway, '/current'));
  if (r.status !== 200) throw new Error(`GET current release of ${gateway}: ${r.status} ${r.text}`);
  return r.json as RunJson;
}

let runDiagnostics: (() => Promise<string>) | undefined;
/** What a failed waitRun adds to its message (say, what the agents applied and their last error). */
export function setRunDiagnostics(fn: (() => Promise<string>) | undefined): void {
  runDiagnostics = fn;
}

/** Polls the gateway's current run until `pred` holds; the error names the last state seen. */
export async function waitRun(c: E2EControl, org: string, env: string, gateway: string, pred: (r: RunJson) => boolean, what: string, timeoutMs = 120_000): Promise<RunJson> {
  let last: RunJson | undefined;
  try {
    return (await waitFor(
      async () => {
        last = await current(c, org, env, gateway).catch(() => undefined);
        return last && pred(last) ? last : null;
      },
      { what: `${gateway}: ${what}`, timeoutMs, intervalMs: 200 },
    )) as RunJson;
  } catch (err) {
    const s = last ? `${last.phase} step ${last.step.index} ${last.step.stage} ${JSON.stringify(last.pauseReasons)} last: ${JSON.stringify(last.measurements.at(-1)?.conditions ?? [])} ${last.outcome?.reason ?? ''}` : 'no run';
    const extra = runDiagnostics ? await runDiagnostics().catch((e: unknown) => `diagnostics failed: ${(e as Error).message}`) : '';
    throw new Error(`${(err as Error).message}; last state: ${s}${extra ? `; ${extra}` : ''}`);
  }
}
