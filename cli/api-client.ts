// What the control-API commands share: the HTTP client (Node's fetch), the settings every
// command reads (WEIR_URL, WEIR_TOKEN, namespace), output formats and the two error kinds
// that decide the exit code (1: the API or the network said no; 2: the command line is wrong).
import { stringify as toYaml } from 'yaml';
import { parseNamespace, SettingsError } from '../runtime/settings-parse.js';
import type { Namespace } from '../store/store.js';

export const DEFAULT_URL = 'http://127.0.0.1:9100';

/** Where a command writes and what it reads; tests pass their own. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  readStdin: () => Promise<string>;
}

export function processIo(): CliIo {
  return {
    env: process.env,
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** The command line is wrong: exit 2 with usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The API answered with an error, or could not be reached: exit 1. */
export class ApiCallError extends Error {
  override readonly name = 'ApiCallError';
  constructor(
    message: string,
    readonly status: number | null,
    readonly code: string | null,
    readonly details: unknown[] = [],
  ) {
    super(message);
  }
}

export type OutputFormat = 'table' | 'json' | 'yaml';

export function parseOutput(raw: string | undefined): OutputFormat {
  if (raw === undefined || raw === 'table' || raw === 'wide') return 'table';
  if (raw === 'json' || raw === 'yaml') return raw;
  throw new UsageError(`-o ${raw}: use table, json or yaml`);
}

export function resolveNamespace(flag: string | undefined, env: NodeJS.ProcessEnv): Namespace {
  const raw = flag ?? env.WEIR_NAMESPACE ?? 'default/default';
  try {
    return parseNamespace(flag !== undefined ? '-n' : 'WEIR_NAMESPACE', raw);
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
}

export interface RequestOptions {
  body?: string;
  contentType?: string;
  accept?: string;
  headers?: Record<string, string>;
}

export class ApiClient {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 30_000,
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new UsageError(`WEIR_URL=${JSON.stringify(baseUrl)} is not a URL (e.g. ${DEFAULT_URL})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`WEIR_URL=${JSON.stringify(baseUrl)} must be http:// or https://`);
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  static fromEnv(env: NodeJS.ProcessEnv): ApiClient {
    return new ApiClient(env.WEIR_URL || DEFAULT_URL, env.WEIR_TOKEN || undefined);
  }

  /** Sends one request; non-2xx answers become ApiCallError carrying the API's error.message. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json', 'user-agent': 'weir-cli', ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiCallError(`cannot reach the control API at ${this.baseUrl}: ${why} (set WEIR_URL)`, null, null);
    }
    const text = await res.text();
    if (res.ok) return { status: res.status, headers: res.headers, text };
    throw errorFrom(res.status, text);
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    if (res.status === 204 || res.text === '') return undefined as T;
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new ApiCallError(`the control API answered ${method} ${path} with something other than JSON`, res.status, null);
    }
  }
}

function errorFrom(status: number, text: string): ApiCallError {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    if (body.error && typeof body.error.message === 'string') {
      return new ApiCallError(body.error.message, status, typeof body.error.code === 'string' ? body.error.code : null, Array.isArray(body.error.details) ? body.error.details : []);
    }
  } catch {
    /* not the API's error shape: fall through */
  }
  return new ApiCallError(`HTTP ${status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`, status, null);
}

export function nsPath(ns: Namespace): string {
  return `/api/v1/namespaces/${encodeURIComponent(ns.org)}/${encodeURIComponent(ns.env)}`;
}

/** `-o json|yaml` for scripts; null means "print a table". */
export function printData(io: CliIo, format: OutputFormat, data: unknown): boolean {
  if (format === 'json') io.out(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') io.out(toYaml(data));
  else return false;
  return true;
}

/** A plain aligned table, header in capitals. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** Runs a command body and maps errors to exit codes; `usage` is printed for usage errors. */
export async function runCli(io: CliIo, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`weir: ${err.message}\n\n${usage}`);
      return 2;
    }
    if (err instanceof ApiCallError) {
      io.err(`weir: ${err.message}\n`);
      for (const d of err.details) io.err(`  - ${typeof d === 'string' ? d : JSON.stringify(d)}\n`);
      return 1;
    }
    // node:util parseArgs reports unknown or malformed flags with these codes.
    const code = (err as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`weir: ${(err as Error).message}\n\n${usage}`);
      return 2;
    }
    throw err;
  }
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
