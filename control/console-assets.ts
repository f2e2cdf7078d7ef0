// Serves the console's build (`npm run build` → dist/ui) under /ui/. The files are read once into
// memory with their gzip form and a strong ETag: a few hundred KiB at most, and no disk read per
// request. Hashed assets are immutable for a year; index.html is `no-cache` and served for every
// page path (/ui/<org>/<env>/…), with its <base href> made relative to the request's depth, so the
// console works under any path prefix a proxy adds. Every response carries a strict CSP: scripts,
// styles and connections only from this origin, nothing inline, no frames.
// Without a build, /ui/ answers 404 with how to build it (and looks again every few seconds).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlApp } from './server.js';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** `name-0123abcd.ext`: esbuild's content hash in the name, so the file never changes. */
const HASHED = /-[A-Z0-9]{8}\.[a-z0-9]+$/i;
const BASE_MARK = '<base href="./">';

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  cache: string;
}

type Loaded = { built: true; files: Map<string, Asset>; index: string } | { built: false; reason: string };

function asset(body: Buffer, type: string, cache: string): Asset {
  const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 512;
  return { body, gzip: compressible ? gzipSync(body, { level: 9 }) : null, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, cache };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await walk(p)));
    else if (d.isFile()) out.push(p);
  }
  return out;
}

/** Reads a console build; `built: false` with the reason when there is none (or it is broken). */
export async function loadConsole(dir: string): Promise<Loaded> {
  let index: string;
  try {
    index = await readFile(join(dir, 'index.html'), 'utf8');
  } catch {
    return { built: false, reason: `no console build in ${dir}` };
  }
  if (!index.includes(BASE_MARK)) return { built: false, reason: `${join(dir, 'index.html')} is not a Weir console build (no ${BASE_MARK})` };
  const files = new Map<string, Asset>();
  try {
    for (const p of await walk(dir)) {
      const rel = relative(dir, p).split(sep).join('/');
      if (rel === 'index.html') continue;
      const type = TYPES[extname(p).toLowerCase()];
      if (!type) continue; // not something the console links to
      files.set(rel, asset(await readFile(p), type, HASHED.test(rel) ? 'public, max-age=31536000, immutable' : 'no-cache'));
    }
  } catch (err) {
    // A build replaced or removed while it is read: not served, looked for again on the next request.
    return { built: false, reason: `the console build in ${dir} could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  return { built: true, files, index };
}

const notBuiltPage = (reason: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Weir console not built</title></head>
<body><main><h1>The Weir console is not built</h1>
<p>${escapeHtml(reason)}. The control API works without it (<a href="../api/v1/openapi.json">OpenAPI document</a>).</p>
<p>To build it, run <code>npm run build</code> (or <code>make build</code>) in the Weir checkout; this page then becomes the console within a few seconds, without a restart.</p>
</main></body></html>
`;

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface ConsoleRoutesOptions {
  /** The build directory (dist/ui). */
  dir: string;
  /** How often to look for a build while there is none. */
  recheckMs?: number;
}

/** Registers GET /ui, /ui/ and /ui/* on `app`; these routes need no token (the API calls do). */
export function registerConsole(app: ControlApp, opts: ConsoleRoutesOptions): void {
  // Read at start (a request waits for it); while there is no build, looked for again at most every recheckMs.
  let loading = loadConsole(opts.dir);
  let lastLook = Date.now();
  const recheckMs = opts.recheckMs ?? 3000;
  const indexes = new Map<string, Asset>(); // by base href

  const current = async (): Promise<Loaded> => {
    const loaded = await loading;
    if (loaded.built || Date.now() - lastLook < recheckMs) return loaded;
    lastLook = Date.now();
    indexes.clear();
    loading = loadConsole(opts.dir);
    return loading;
  };

  const send = (req: FastifyRequest, reply: FastifyReply, a: Asset, status = 200): FastifyReply => {
    reply.headers(SECURITY_HEADERS).header('content-type', a.type).header('cache-control', a.cache).header('etag', a.etag).header('vary', 'Accept-Encoding');
    if (status === 200 && req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    const gz = a.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gz) reply.header('content-encoding', 'gzip');
    return reply.code(status).send(gz ? a.gzip : a.body);
  };

  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = (req.url.split('?')[0] ?? '').replace(/^\/ui\/?/, '');
    const c = await current();
    if (!c.built) {
      return reply.code(404).headers(SECURITY_HEADERS).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(notBuiltPage(c.reason));
    }
    const file = c.files.get(path);
    if (file) return send(req, reply, file);
    // A path with an extension is a file that is not there; anything else is a page of the app.
    if (/\.[a-z0-9]+$/i.test(path) || path.includes('..')) {
      return reply.code(404).headers(SECURITY_HEADERS).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(`no such console file: ${path.slice(0, 200)}\n`);
    }
    const base = '../'.repeat(path.split('/').length - 1) || './';
    let index = indexes.get(base);
    if (!index) {
      index = asset(Buffer.from(c.index.replace(BASE_MARK, `<base href="${base}">`)), TYPES['.html'] as string, 'no-cache');
      indexes.set(base, index);
    }
    return send(req, reply, index);
  };

  // `/ui` → `/ui/` (relative Location, so a proxy's path prefix survives). The router ignores
  // trailing slashes, so this one route gets both.
  app.get('/ui', async (req, reply) => ((req.url.split('?')[0] ?? '') === '/ui' ? reply.code(301).header('location', 'ui/').send() : handler(req, reply)));
  app.get('/ui/*', handler);
}
