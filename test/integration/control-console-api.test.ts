// What the control API gained for the console, over real HTTP on the file store: whoami, the
// paged audit log, the SSE event stream, ETags on reads, and the static console with its
// headers (and without a build).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FileAuditSink } from '../../control/audit-file.js';
import { readAuditFilePage } from '../../control/audit-read.js';
import { CONSOLE_CSP } from '../../control/console-assets.js';
import { issueToken } from '../../control/tokens.js';
import { FileStore } from '../../store/file-store.js';
import { A, B, code, gatewayYaml, message, nsPath, startControl, type ControlFixture } from '../harness/control.js';
import { readEvents } from '../harness/sse.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

interface Ctx {
  dir: { path: string; remove: () => Promise<void> };
  fx: ControlFixture;
  auditFile: FileAuditSink;
  ui: string;
}

const t = suite<Ctx>('control API for the console');
t.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-console-api-');
  ctx.ui = join(ctx.dir.path, 'ui');
  await mkdir(join(ctx.ui, 'assets'), { recursive: true });
  await writeFile(join(ctx.ui, 'index.html'), '<!doctype html><html><head><base href="./"><script type="module" src="assets/app-ABCDEFGH.js"></script></head><body></body></html>');
  await writeFile(join(ctx.ui, 'assets', 'app-ABCDEFGH.js'), `console.log(${JSON.stringify('x'.repeat(4000))});\n`);
  ctx.auditFile = new FileAuditSink(join(ctx.dir.path, 'audit.jsonl'));
  await mkdir(join(ctx.dir.path, 'store', 'acme', 'prod', 'gateways'), { recursive: true });
  await mkdir(join(ctx.dir.path, 'store', 'acme', 'test', 'gateways'), { recursive: true });
  await mkdir(join(ctx.dir.path, 'store', 'globex', 'prod', 'gateways'), { recursive: true });
  ctx.fx = await startControl(new FileStore(join(ctx.dir.path, 'store')), { auditLog: ctx.auditFile, consoleDir: ctx.ui, eventHeartbeatMs: 200 });
});
t.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.auditFile.close();
  await ctx.dir.remove();
});

t('whoami: role, grants and the namespaces each token may read, write and audit', async ({ fx }) => {
  const admin = await fx.api('GET', '/api/v1/whoami');
  assert.is(admin.status, 200, admin.text);
  const a = admin.json as { role: string; namespaces: Array<{ namespace: string; write: boolean; audit: boolean }> };
  assert.is(a.role, 'admin');
  assert.equal(a.namespaces.map((n) => n.namespace), ['acme/prod', 'acme/test', 'globex/prod'], 'wildcards expanded over the store');
  const dep = (await fx.api('GET', '/api/v1/whoami', { token: fx.tok.deployerA })).json as typeof a;
  assert.equal(dep.namespaces.map((n) => [n.namespace, n.write, n.audit]), [['acme/prod', true, true], ['acme/test', true, true]]);
  const viewer = (await fx.api('GET', '/api/v1/whoami', { token: fx.tok.viewerA })).json as typeof a;
  assert.equal(viewer.namespaces.map((n) => [n.namespace, n.write, n.audit]), [['acme/prod', false, false]]);
  const none = await fx.api('GET', '/api/v1/whoami', { token: null });
  assert.is(none.status, 401);
});

t('audit: newest first, paged with a cursor, for admins and the namespace deployers only', async ({ fx }) => {
  const path = nsPath(A, '/gateways/web');
  for (let i = 0; i < 5; i++) assert.is((await fx.api('PUT', path, { body: gatewayYaml(8080, { v1: 100 - i, v2: i }), token: fx.tok.deployerA })).status, i === 0 ? 201 : 200);
  await fx.api('PUT', nsPath(B, '/gateways/other'), { body: gatewayYaml(8081), token: fx.tok.deployerB });
  const p1 = await fx.api('GET', nsPath(A, '/audit?limit=3'), { token: fx.tok.deployerA });
  assert.is(p1.status, 200, p1.text);
  const page1 = p1.json as { records: Array<{ action: string; target: string; afterVersion: string }>; next: string | null };
  assert.equal(page1.records.map((r) => r.action), ['gateway.replace', 'gateway.replace', 'gateway.replace']);
  assert.ok(page1.records.every((r) => r.target === 'gateway/acme/prod/web'), 'only this namespace');
  assert.ok(page1.next);
  const p2 = (await fx.api('GET', nsPath(A, `/audit?limit=3&before=${page1.next}`))).json as typeof page1;
  assert.equal(p2.records.map((r) => r.action), ['gateway.replace', 'gateway.create']);
  assert.is(p2.next, null);
  const viewer = await fx.api('GET', nsPath(A, '/audit'), { token: fx.tok.viewerA });
  assert.is(viewer.status, 403);
  assert.match(message(viewer), /audit/);
  assert.is((await fx.api('GET', nsPath(A, '/audit'), { token: fx.tok.deployerB })).status, 403, 'another tenant');
  const bad = await fx.api('GET', nsPath(A, '/audit?before=999999999'));
  assert.is(bad.status, 400);
  assert.is(code(bad), 'invalid_cursor');
  assert.is(code(await fx.api('GET', nsPath(A, '/audit?limit=0'))), 'invalid_limit');
});

t('audit file pages: every record exactly once across chunk boundaries, torn lines skipped', async ({ dir }) => {
  const path = join(dir.path, 'big.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 900; i++) {
    const ns = i % 3 === 0 ? 'acme/prod' : 'globex/prod';
    lines.push(JSON.stringify({ namespace: ns, id: `r${i}`, at: new Date(i * 1000).toISOString(), by: 'x', role: 'admin', action: 'gateway.replace', target: 'gateway/' + 'y'.repeat(200), beforeVersion: null, afterVersion: null, requestId: 'q' }));
  }
  await writeFile(path, lines.join('\n') + '\n{"torn":');
  const seen: string[] = [];
  let before: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const p = await readAuditFilePage(path, A, { limit: 17, ...(before ? { before } : {}) }, 70_000);
    seen.push(...p.records.map((r) => r.id));
    if (!p.next) break;
    before = p.next;
  }
  const want = lines.map((l) => JSON.parse(l) as { id: string; namespace: string }).filter((r) => r.namespace === 'acme/prod').map((r) => r.id).reverse();
  assert.equal(seen, want);
});

t('events: hello, then a gateway change from the store watch; a revoked token ends the stream', async ({ fx }) => {
  const url = fx.base + nsPath(A, '/events');
  const events = await readEvents(url, fx.tok.viewerA, (evs) => evs.some((e) => e.event === 'gateway'), async () => {
    assert.is((await fx.api('PUT', nsPath(A, '/gateways/web'), { body: gatewayYaml(8080) })).status, 201);
  });
  assert.is(events[0]?.event, 'hello');
  assert.equal((events[0]?.data as { namespace: string }).namespace, 'acme/prod');
  const ev = events.find((e) => e.event === 'gateway')?.data as { via: string } | undefined;
  assert.is(ev?.via, 'store');

  const { token, record } = await issueToken(fx.tokens, { name: 'short-lived', role: 'viewer', namespaces: ['acme/prod'], createdBy: 'test' });
  const ended = await readEvents(url, token, (evs) => evs.some((e) => e.event === 'bye'), async () => {
    assert.is((await fx.api('DELETE', `/api/v1/tokens/${record.id}`)).status, 204);
  });
  assert.equal(ended.at(-1), { event: 'bye', data: { reason: 'token_revoked' } });
  assert.is((await fetch(url, { headers: { authorization: `Bearer ${fx.tok.viewerB}` } })).status, 403, 'another tenant');
});

t('reads answer If-None-Match with 304', async ({ fx }) => {
  await fx.api('PUT', nsPath(A, '/gateways/web'), { body: gatewayYaml(8080) });
  const first = await fx.api('GET', nsPath(A, '/gateways'));
  const tag = first.headers.get('etag');
  assert.ok(tag);
  assert.is((await fx.api('GET', nsPath(A, '/gateways'), { headers: { 'if-none-match': tag as string } })).status, 304);
  await fx.api('PUT', nsPath(A, '/gateways/web/weights'), { body: { v1: 80, v2: 20 } });
  assert.is((await fx.api('GET', nsPath(A, '/gateways'), { headers: { 'if-none-match': tag as string } })).status, 200);
});

t('the console: index for every page path with a relative base, hashed assets immutable and gzipped, strict CSP', async ({ fx }) => {
  const redirect = await fetch(fx.base + '/ui', { redirect: 'manual' });
  assert.is(redirect.status, 301);
  assert.is(redirect.headers.get('location'), 'ui/');
  const index = await fetch(fx.base + '/ui/');
  assert.is(index.status, 200);
  assert.is(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.is(index.headers.get('cache-control'), 'no-cache');
  assert.is(index.headers.get('content-security-policy'), CONSOLE_CSP);
  assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
  assert.not.match(CONSOLE_CSP, /unsafe-inline|unsafe-eval|https?:/);
  assert.match(await index.text(), /<base href="\.\/">/);
  const deep = await fetch(fx.base + '/ui/acme/prod/gateways/web');
  assert.match(await deep.text(), /<base href="\.\.\/\.\.\/\.\.\/">/);
  const js = await fetch(fx.base + '/ui/assets/app-ABCDEFGH.js', { headers: { 'accept-encoding': 'gzip' } });
  assert.is(js.status, 200);
  assert.is(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.is(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.is(js.headers.get('x-content-type-options'), 'nosniff');
  const etag = js.headers.get('etag') as string;
  assert.is((await fetch(fx.base + '/ui/assets/app-ABCDEFGH.js', { headers: { 'if-none-match': etag } })).status, 304);
  // fetch decodes gzip itself; check the encoding over a raw request
  const raw = await import('node:http').then(
    (http) =>
      new Promise<{ enc: string | undefined; body: Buffer }>((resolve, reject) => {
        http.get(fx.base + '/ui/assets/app-ABCDEFGH.js', { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ enc: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        }).on('error', reject);
      }),
  );
  assert.is(raw.enc, 'gzip');
  assert.match(gunzipSync(raw.body).toString(), /^console\.log/);
  assert.is((await fetch(fx.base + '/ui/assets/nope.js')).status, 404);
});

t('without a build, /ui/ says how to build it and the API still works; a build appears without a restart', async ({ dir }) => {
  const ui = join(dir.path, 'not-built');
  const fx = await startControl(new FileStore(join(dir.path, 'store')), { consoleDir: ui });
  try {
    const r = await fetch(fx.base + '/ui/');
    assert.is(r.status, 404);
    assert.match(await r.text(), /npm run build/);
    assert.is((await fx.api('GET', '/api/v1/whoami')).status, 200);
    await mkdir(ui, { recursive: true });
    await writeFile(join(ui, 'index.html'), '<!doctype html><base href="./"><title>built</title>');
    await waitFor(async () => (await fetch(fx.base + '/ui/')).status === 200, { what: 'the console to appear', timeoutMs: 8000, intervalMs: 200 });
  } finally {
    await fx.close();
  }
});

t('OpenAPI documents whoami, audit and events', async ({ fx }) => {
  const doc = (await fx.api('GET', '/api/v1/openapi.json')).json as { paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>> };
  assert.is(doc.paths['/api/v1/whoami']?.get?.operationId, 'whoami');
  assert.is(doc.paths['/api/v1/namespaces/{org}/{env}/audit']?.get?.operationId, 'listAudit');
  const ev = doc.paths['/api/v1/namespaces/{org}/{env}/events']?.get;
  assert.is(ev?.operationId, 'streamEvents');
  assert.ok(JSON.stringify(ev?.responses['200']).includes('text/event-stream'));
});

t.run();
