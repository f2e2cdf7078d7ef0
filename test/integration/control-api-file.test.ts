// The control API over the file store: the shared contract, the auth matrix, tenant
// isolation, garbage and oversized requests, OpenAPI, metrics, events and agent status.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { FileStore } from '../../store/file-store.js';
import type { Namespace } from '../../store/store.js';
import type { AgentStatusEvent, GatewayChangedEvent } from '../../events/contract.js';
import type { Store } from '../../control/gateway-service.js';
import type { AgentStatusSource, AgentStatusView, ChangePublisher } from '../../control/seams.js';
import { A, B, code, gatewayJson, gatewayYaml, message, nsPath, startControl, type ControlFixture } from '../harness/control.js';
import { defineControlContract, type ContractContext } from '../harness/control-contract.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

interface Ctx extends ContractContext {
  dir: { path: string; remove: () => Promise<void> };
  calls: string[];
}

/** Counts store calls, so tests can prove a request never reached the store. */
function counting(store: Store, calls: string[]): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const contract = suite<Ctx>('control API contract (file store)');
contract.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-control-');
  ctx.calls = [];
  ctx.fx = await startControl(counting(new FileStore(ctx.dir.path), ctx.calls));
});
contract.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.dir.remove();
});
defineControlContract(contract);
contract.run();

const t = suite<Ctx>('control API (file store)');
t.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-control-');
  ctx.calls = [];
  ctx.fx = await startControl(counting(new FileStore(ctx.dir.path), ctx.calls));
});
t.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.dir.remove();
});

type Who = 'none' | 'bogus' | 'admin' | 'deployerA' | 'viewerA' | 'deployerB' | 'viewerB';
type Family = 'read' | 'write';

const ENDPOINTS: Array<{ family: Family; method: string; path: (ns: Namespace) => string; body?: (ns: Namespace) => unknown }> = [
  { family: 'read', method: 'GET', path: (ns) => nsPath(ns, '/gateways') },
  { family: 'read', method: 'GET', path: (ns) => nsPath(ns, '/gateways/web') },
  { family: 'read', method: 'GET', path: (ns) => nsPath(ns, '/gateways/web/status') },
  { family: 'read', method: 'GET', path: (ns) => nsPath(ns, '/agents') },
  { family: 'write', method: 'PUT', path: (ns) => nsPath(ns, '/gateways/web'), body: () => gatewayJson(7000, { v1: 30, v2: 70 }) },
  { family: 'write', method: 'PATCH', path: (ns) => nsPath(ns, '/gateways/web/routes/v1'), body: () => ({ condition: 'has cookie beta' }) },
  { family: 'write', method: 'PUT', path: (ns) => nsPath(ns, '/gateways/web/routes/v1'), body: () => ({ weight: 50 }) },
  { family: 'write', method: 'PUT', path: (ns) => nsPath(ns, '/gateways/web/weights'), body: () => ({ v1: 10, v2: 90 }) },
  { family: 'write', method: 'DELETE', path: (ns) => nsPath(ns, '/gateways/web') },
];

/** Expected class: 401, 403 or 2 (any 2xx). */
function expected(who: Who, family: Family, ns: Namespace): 401 | 403 | 2 {
  if (who === 'none' || who === 'bogus') return 401;
  if (who === 'admin') return 2;
  const own = (who.endsWith('A') ? 'acme' : 'globex') === ns.org;
  if (!own) return 403;
  if (family === 'write' && who.startsWith('viewer')) return 403;
  return 2;
}

t('auth matrix: each role × endpoint family × own/other namespace', async ({ fx }) => {
  const whos: Who[] = ['none', 'bogus', 'admin', 'deployerA', 'viewerA', 'deployerB', 'viewerB'];
  const failures: string[] = [];
  let checked = 0;
  for (const who of whos) {
    const token = who === 'none' ? null : who === 'bogus' ? `weir_${'0'.repeat(16)}_${'x'.repeat(43)}` : fx.tok[who];
    for (const ns of [A, B]) {
      for (const ep of ENDPOINTS) {
        // A fresh gateway for every case, so writes and deletes always have something to act on.
        await fx.store.put(ns, 'web', gatewayYaml(7000), 'yaml');
        const r = await fx.api(ep.method, ep.path(ns), { token, ...(ep.body ? { body: ep.body(ns) } : {}) });
        const want = expected(who, ep.family, ns);
        const got = r.status >= 200 && r.status < 300 ? 2 : r.status;
        checked++;
        if (got !== want) failures.push(`${who} ${ep.method} ${ep.path(ns)}: want ${want}, got ${r.status} ${r.text.slice(0, 120)}`);
        if (r.status === 401 && r.headers.get('www-authenticate') !== 'Bearer realm="weir"') failures.push(`${who} ${ep.method}: 401 without WWW-Authenticate`);
      }
    }
    // Token administration: admin only.
    for (const [method, path, body] of [
      ['GET', '/api/v1/tokens', undefined],
      ['POST', '/api/v1/tokens', { name: `made-by-${who}`, role: 'viewer', namespaces: ['acme/prod'] }],
    ] as const) {
      const r = await fx.api(method, path, { token, ...(body ? { body } : {}) });
      const want = who === 'none' || who === 'bogus' ? 401 : who === 'admin' ? 2 : 403;
      const got = r.status >= 200 && r.status < 300 ? 2 : r.status;
      checked++;
      if (got !== want) failures.push(`${who} ${method} ${path}: want ${want}, got ${r.status}`);
    }
    const del = await fx.api('DELETE', `/api/v1/tokens/${fx.ids.viewerB}`, { token: who === 'admin' ? null : token });
    checked++;
    if (del.status !== (who === 'none' || who === 'bogus' || who === 'admin' ? 401 : 403)) failures.push(`${who} DELETE token: got ${del.status}`);
  }
  assert.equal(failures, []);
  assert.is(checked, 7 * (2 * ENDPOINTS.length + 3));
});

t('tenant isolation: org A cannot list/get/put/delete in org B, cannot tell what exists there, never sees B in its lists', async ({ fx, calls }) => {
  await fx.api('PUT', nsPath(A, '/gateways/a-web'), { body: gatewayYaml(8000) });
  await fx.api('PUT', nsPath(B, '/gateways/b-web'), { body: gatewayYaml(8000), token: fx.tok.deployerB });
  const listA = await fx.api('GET', nsPath(A, '/gateways'), { token: fx.tok.deployerA });
  assert.equal((listA.json as { gateways: Array<{ name: string }> }).gateways.map((g) => g.name), ['a-web']);
  // Same port in another namespace is fine: ports are per namespace.
  const listB = await fx.api('GET', nsPath(B, '/gateways'), { token: fx.tok.viewerB });
  assert.equal((listB.json as { gateways: Array<{ name: string }> }).gateways.map((g) => g.name), ['b-web']);

  calls.length = 0;
  const exists = await fx.api('GET', nsPath(B, '/gateways/b-web'), { token: fx.tok.deployerA });
  const absent = await fx.api('GET', nsPath(B, '/gateways/nothing'), { token: fx.tok.deployerA });
  assert.is(exists.status, 403);
  assert.is(absent.status, 403);
  assert.equal(exists.json, absent.json, 'identical answers for existing and missing gateways');
  assert.is((await fx.api('GET', nsPath(B, '/gateways'), { token: fx.tok.deployerA })).status, 403);
  assert.is((await fx.api('PUT', nsPath(B, '/gateways/b-web'), { token: fx.tok.deployerA, body: gatewayYaml(9000) })).status, 403);
  assert.is((await fx.api('DELETE', nsPath(B, '/gateways/b-web'), { token: fx.tok.deployerA })).status, 403);
  assert.is((await fx.api('GET', '/api/v1/namespaces/globex/staging/gateways', { token: fx.tok.viewerB })).status, 403, 'globex/prod grant does not cover globex/staging');
  assert.equal(calls, [], 'refused before touching the store');
  assert.is((await fx.api('GET', nsPath(B, '/gateways/b-web'), { token: fx.tok.viewerB })).status, 200);
});

t('tokens: issue shows the secret once, list never does, revocation is immediate', async ({ fx }) => {
  const made = await fx.api('POST', '/api/v1/tokens', { body: { name: 'ci', role: 'deployer', namespaces: ['acme/prod'] } });
  assert.is(made.status, 201, made.text);
  const { token, id } = made.json as { token: string; id: string };
  assert.match(token, /^weir_[a-z0-9]+_[A-Za-z0-9_-]+$/);
  assert.is((await fx.api('GET', nsPath(A, '/gateways'), { token })).status, 200);
  const list = await fx.api('GET', '/api/v1/tokens');
  // The secret is everything after `weir_<id>_`; it is base64url, so it may itself hold `_` (splitting on the
  // last `_` left a fragment of a few characters that appeared in the listing by chance once).
  const secret = token.slice(token.indexOf('_', 'weir_'.length) + 1);
  assert.ok(secret.length >= 20, `secret part of ${token}`);
  assert.ok(!list.text.includes(secret), 'no secrets in the listing');
  assert.ok(!/hash|salt/.test(list.text));
  assert.ok((list.json as { tokens: Array<{ id: string }> }).tokens.some((x) => x.id === id));
  assert.is((await fx.api('DELETE', `/api/v1/tokens/${id}`)).status, 204);
  const after = await fx.api('GET', nsPath(A, '/gateways'), { token });
  assert.is(after.status, 401, 'revoked at once, despite the verification cache');
  assert.is((await fx.api('DELETE', `/api/v1/tokens/${id}`)).status, 404);
  const bad = await fx.api('POST', '/api/v1/tokens', { body: { name: 'x', role: 'deployer', namespaces: ['Acme/*'] } });
  assert.is(bad.status, 400);
  const noGrant = await fx.api('POST', '/api/v1/tokens', { body: { name: 'x', role: 'viewer' } });
  assert.is(noGrant.status, 400);
  const lastAdmin = await fx.api('DELETE', `/api/v1/tokens/${fx.ids.admin}`);
  assert.is(lastAdmin.status, 409);
  assert.is(code(lastAdmin), 'last_admin');
  assert.equal(fx.audit.lines.filter((l) => l.namespace === null).map((l) => [l.action, l.target]), [
    ['token.create', `token/${id}`],
    ['token.revoke', `token/${id}`],
  ]);
});

t('validation errors carry the model\'s messages with the gateway name as source', async ({ fx }) => {
  const r = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: 'port: 0\nroutes:\n  v1:\n    weight: 150\n    lookup_name: x\n  v2:\n    selector: label(v)(1)\n' });
  assert.is(r.status, 400);
  assert.is(code(r), 'invalid_gateway');
  const details = (r.json as { error: { details: Array<{ text: string }> } }).error.details.map((d) => d.text);
  // Port 0 is Vamp's "unassigned": the API would assign one, so the other errors are what is reported, with line and column.
  assert.ok(details.includes('web:4:13: routes.v1.weight: weight must be between 0% and 100%'), details.join('\n'));
  const vampOnly = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: 'port: 0\nroutes:\n  v1:\n    lookup_name: x\n' });
  const vampDetails = (vampOnly.json as { error: { details: Array<{ text: string }> } }).error.details.map((d) => d.text);
  assert.ok(vampDetails.some((d) => d.startsWith('web:4:18: routes.v1.lookup_name: Vamp\'s "lookup_name" is not supported when set ("x"): a read-only Vamp output field')), vampDetails.join('\n'));
  const first = (r.json as { error: { details: Array<{ line?: number; column?: number }> } }).error.details[0];
  assert.equal([first?.line, first?.column], [4, 13]);
  const yamlErr = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: 'port: 80\nport: 81\nroutes: {}\n' });
  assert.is(yamlErr.status, 400);
  assert.is(code(yamlErr), 'invalid_yaml');
  assert.match(message(yamlErr), /line 2, column 1/);
  const jsonErr = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: '{"port": 80,\n  "routes": [}', contentType: 'application/json' });
  assert.is(code(jsonErr), 'invalid_json');
  assert.match(message(jsonErr), /line 2, column/);
  const badName = await fx.api('PUT', nsPath(A, '/gateways/Web'), { body: gatewayYaml(80) });
  assert.is(badName.status, 400);
  assert.is(code(badName), 'invalid_name');
  // Broken text written around the API: readable as text, a clear error as JSON.
  await fx.store.put(A, 'broken', 'port: [\n', 'yaml');
  const broken = await fx.api('GET', nsPath(A, '/gateways/broken'));
  assert.is(broken.status, 409);
  assert.is(code(broken), 'stored_gateway_invalid');
  assert.is((await fx.api('GET', nsPath(A, '/gateways/broken'), { headers: { accept: 'application/yaml' } })).text, 'port: [\n');
  const listed = (await fx.api('GET', nsPath(A, '/gateways'))).json as { gateways: Array<{ name: string; valid: boolean; errors?: string[] }> };
  assert.equal(listed.gateways.map((g) => [g.name, g.valid]), [['broken', false]]);
  assert.match(listed.gateways[0]?.errors?.[0] ?? '', /^broken: invalid YAML at line/);
  const badNs = await fx.api('GET', '/api/v1/namespaces/acme/Prod/gateways');
  assert.is(badNs.status, 400);
  assert.is(code(badNs), 'invalid_namespace');
});

t('garbage: wrong content type 415, oversized 413, unknown path 404, wrong method 405, request ids', async ({ fx }) => {
  const path = nsPath(A, '/gateways/web');
  const ct = await fx.api('PUT', path, { body: 'port: 80', contentType: 'text/plain' });
  assert.is(ct.status, 415);
  assert.is(code(ct), 'unsupported_media_type');
  const big = await fx.api('PUT', path, { body: `# ${'x'.repeat(600 * 1024)}\n` });
  assert.is(big.status, 413);
  assert.is(code(big), 'payload_too_large');
  const none = await fx.api('GET', '/api/v1/nothing');
  assert.is(none.status, 404);
  assert.is(code(none), 'not_found');
  const post = await fx.api('POST', path, { body: {} });
  assert.is(post.status, 405);
  assert.is(code(post), 'method_not_allowed');
  assert.match(post.headers.get('allow') ?? '', /GET.*PUT.*DELETE/);
  const noBody = await fx.api('PUT', path);
  assert.is(code(noBody), 'missing_body');
  const rid = await fx.api('GET', '/api/v1/nothing', { headers: { 'x-request-id': 'abc-123' } });
  assert.is(rid.headers.get('x-request-id'), 'abc-123');
  assert.match(none.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const weirdRid = await fx.api('GET', '/healthz', { headers: { 'x-request-id': 'no spaces allowed' } });
  assert.match(weirdRid.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const badUrl = await fx.api('GET', '/api/v1/namespaces/%zz/prod/gateways');
  assert.is(badUrl.status, 400);
  const emptyWeights = await fx.api('PUT', `${path}/weights`, { body: [] });
  assert.is(emptyWeights.status, 400);
  const extra = await fx.api('PATCH', `${path}/routes/v1`, { body: { targets: [] } });
  assert.is(extra.status, 400);
  assert.match(message(extra), /unknown field "targets"/);
});

function rawHttp(port: number, payload: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.setTimeout(3000, () => sock.destroy());
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('close', () => resolve(out));
    sock.on('error', () => resolve(out));
    sock.end(payload);
  });
}

t('fuzz: random bytes, huge headers, deep JSON and random bodies never crash the server', async ({ fx }) => {
  const port = fx.server.port;
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 30; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
    await rawHttp(port, bytes);
  }
  const huge = await rawHttp(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
  assert.match(huge, /^HTTP\/1\.1 431/);
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  for (const body of [deep, `{"port": 80, "routes": {"v1": {"weight": ${deep}}}}`]) {
    const r = await fx.api('PUT', nsPath(A, '/gateways/web'), { body, contentType: 'application/json' });
    assert.is(r.status, 400, r.text.slice(0, 200));
  }
  const deepYaml = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: `port: 80\nroutes: ${'['.repeat(20_000)}` });
  assert.is(deepYaml.status, 400);
  const aliases = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n' });
  assert.is(aliases.status, 400);
  for (let i = 0; i < 40; i++) {
    const text = Buffer.from(Array.from({ length: Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256))).toString('latin1');
    const target = ['/gateways/web', '/gateways/web/weights', '/gateways/web/routes/v1'][i % 3] as string;
    const r = await fx.api(i % 2 ? 'PUT' : 'PATCH', nsPath(A, target), { body: text, contentType: i % 4 < 2 ? 'application/json' : 'application/yaml' });
    assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.text.slice(0, 200)}`);
  }
  // A slow request with a wrong Content-Length does not take the server down either.
  await new Promise<void>((resolve) => {
    const req = httpRequest({ port, method: 'PUT', path: nsPath(A, '/gateways/web'), headers: { 'content-type': 'application/json', 'content-length': '10', authorization: `Bearer ${fx.tok.admin}` } });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.end('{"a":');
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 500);
  });
  assert.is((await fx.api('GET', '/healthz')).status, 200, 'still serving');
});

t('OpenAPI 3.1 document embeds the model\'s gateway schema and lists every route', async ({ fx }) => {
  const r = await fx.api('GET', '/api/v1/openapi.json', { token: null });
  assert.is(r.status, 200);
  const doc = JSON.parse(r.text) as { openapi: string; paths: Record<string, Record<string, { operationId: string }>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
  assert.is(doc.openapi, '3.1.0');
  const gw = doc.components.schemas.Gateway;
  assert.ok(gw?.properties?.routes && gw.properties.port && gw.properties.virtual_hosts, 'gateway schema from zod');
  assert.ok(doc.paths['/api/v1/namespaces/{org}/{env}/gateways/{name}']?.put?.operationId === 'putGateway');
  assert.ok(doc.paths['/api/v1/namespaces/{org}/{env}/gateways/{name}/weights']?.put);
  assert.ok(doc.paths['/api/v1/tokens/{id}']?.delete);
  const refs = [...r.text.matchAll(/"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/g)].map((m) => m[1] as string);
  assert.ok(refs.length > 10);
  for (const ref of refs) assert.ok(doc.components.schemas[ref], `dangling $ref ${ref}`);
});

t('metrics: requests by method, route template and status class; store and publish errors', async ({ fx }) => {
  await fx.api('GET', nsPath(A, '/gateways'));
  await fx.api('GET', '/nope');
  fx.server.metrics.publishError('nats_down');
  const m = await fx.api('GET', '/metrics', { token: null });
  assert.match(m.text, /weir_control_http_requests_total\{method="GET",route="\/api\/v1\/namespaces\/:org\/:env\/gateways",status_class="2xx"\} 1/);
  assert.match(m.text, /weir_control_http_requests_total\{method="GET",route="unmatched",status_class="4xx"\} 1/);
  assert.match(m.text, /weir_control_http_request_duration_seconds_bucket\{le="0.005",method="GET"/);
  assert.match(m.text, /weir_control_publish_errors_total\{kind="nats_down"\} 1/);
  assert.ok(!/acme/.test(m.text), 'no namespace or gateway names in labels');
  assert.equal((await fx.api('GET', '/healthz', { token: null })).json, { status: 'ok', store: 'file' });
});

t.run();

// ---- seams: events and agent status --------------------------------------------------------

interface SeamCtx {
  dir: { path: string; remove: () => Promise<void> };
  fx: ControlFixture;
  published: Array<{ ns: Namespace; ev: GatewayChangedEvent }>;
  failPublish: boolean;
  agents: AgentStatusView[];
}

const seams = suite<SeamCtx>('control API seams');
seams.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-control-');
  ctx.published = [];
  ctx.failPublish = false;
  ctx.agents = [];
  const events: ChangePublisher = {
    publishGatewayChanged: async (ns, ev) => {
      if (ctx.failPublish) throw new Error('nats: connection closed');
      ctx.published.push({ ns, ev });
    },
  };
  const agentStatus: AgentStatusSource = { agents: (ns) => ctx.agents.filter((a) => a.namespace === `${ns.org}/${ns.env}`) };
  ctx.fx = await startControl(new FileStore(ctx.dir.path), { events, agentStatus });
});
seams.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.dir.remove();
});

seams('every write publishes a change; a failing publisher never fails the write', async (ctx) => {
  const { fx } = ctx;
  const put = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: gatewayYaml(8080), token: fx.tok.deployerA });
  await fx.api('PUT', nsPath(A, '/gateways/web/weights'), { body: { v1: 10, v2: 90 } });
  await fx.api('DELETE', nsPath(A, '/gateways/web'));
  assert.equal(
    ctx.published.map((p) => [p.ns.org, p.ev.gateway, p.ev.action, p.ev.version === null, p.ev.by]),
    [
      ['acme', 'web', 'put', false, 'deployerA'],
      ['acme', 'web', 'put', false, 'admin'],
      ['acme', 'web', 'delete', true, 'admin'],
    ],
  );
  assert.is(ctx.published[0]?.ev.version, (put.json as { version: string }).version);
  ctx.failPublish = true;
  const r = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: gatewayYaml(8080) });
  assert.is(r.status, 201);
  const m = await fx.api('GET', '/metrics', { token: null });
  assert.match(m.text, /weir_control_publish_errors_total\{kind="gateway_changed"\} 1/);
});

const agent = (id: string, over: Partial<AgentStatusView>): AgentStatusView => {
  const base: AgentStatusEvent = {
    agentId: id,
    namespace: 'acme/prod',
    at: new Date().toISOString(),
    intervalMs: 5000,
    ready: true,
    haproxyRunning: true,
    servingFromCache: false,
    storeOk: true,
    applied: [],
    problems: [],
    lastApplyAt: null,
    lastError: null,
  };
  return { ...base, quiet: false, lastSeenAt: base.at, ...over };
};

seams('status: per agent applied version and problems; converged when every live agent applied the current version', async (ctx) => {
  const { fx } = ctx;
  const put = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: gatewayYaml(8080) });
  const version = (put.json as { version: string }).version;
  ctx.agents = [
    agent('n1', { applied: [{ name: 'web', version }] }),
    agent('n2', { applied: [{ name: 'web', version: 'old' }], problems: [{ name: 'web', version, errors: ['web: port: in use'] }, { name: 'other', version: '1', errors: ['x'] }] }),
    agent('n3', { quiet: true }),
    agent('b1', { namespace: 'globex/prod' }),
  ];
  const s1 = (await fx.api('GET', nsPath(A, '/gateways/web/status'), { token: fx.tok.viewerA })).json as { converged: boolean; version: string; agents: Array<{ agentId: string; appliedVersion: string | null; problems: unknown[]; quiet: boolean }> };
  assert.is(s1.version, version);
  assert.is(s1.converged, false);
  assert.equal(s1.agents.map((a) => [a.agentId, a.appliedVersion === version, a.problems.length, a.quiet]), [
    ['n1', true, 0, false],
    ['n2', false, 1, false],
    ['n3', false, 0, true],
  ]);
  ctx.agents[1] = agent('n2', { applied: [{ name: 'web', version }] });
  const s2 = (await fx.api('GET', nsPath(A, '/gateways/web/status'))).json as { converged: boolean };
  assert.is(s2.converged, true, 'the quiet agent does not hold convergence back');
  const agents = (await fx.api('GET', nsPath(A, '/agents'))).json as { agents: Array<{ agentId: string; health: string }> };
  assert.equal(agents.agents.map((a) => [a.agentId, a.health]), [['n1', 'ok'], ['n2', 'ok'], ['n3', 'quiet']]);
  ctx.agents = [];
  const s3 = (await fx.api('GET', nsPath(A, '/gateways/web/status'))).json as { converged: boolean; statusSource: string };
  assert.equal([s3.converged, s3.statusSource], [false, 'nats'], 'no live agent: not converged');
});

seams('a port an agent reserves for its own listeners is a 409 port_reserved naming the agents; quiet agents and other namespaces do not count', async (ctx) => {
  const { fx } = ctx;
  const vhost = { port: 8080, holder: 'the virtual-host frontend (WEIR_VHOST_PORT)' };
  ctx.agents = [
    agent('n1', { reservedPorts: [vhost, { port: 1988, holder: "HAProxy's monitor frontend (WEIR_MONITOR_PORT)" }] }),
    agent('n2', { reservedPorts: [vhost] }),
    agent('n3', { reservedPorts: [{ port: 9000, holder: 'x' }], quiet: true }),
    agent('b1', { namespace: 'globex/prod', reservedPorts: [{ port: 9001, holder: 'y' }] }),
    agent('old', {}), // an agent from before the field: reserves nothing it tells us about
  ];
  const r = await fx.api('PUT', nsPath(A, '/gateways/web'), { body: gatewayYaml(8080) });
  assert.is(r.status, 409);
  assert.is(code(r), 'port_reserved');
  assert.is(message(r), 'request: port: port 8080 is reserved for the virtual-host frontend (WEIR_VHOST_PORT) on agents n1, n2');
  assert.is((await fx.api('GET', nsPath(A, '/gateways/web'))).status, 404, 'nothing was written');
  assert.equal(ctx.published, []);
  for (const port of [9000, 9001]) assert.is((await fx.api('PUT', nsPath(A, `/gateways/p${port}`), { body: gatewayYaml(port).replace('name: web', `name: p${port}`) })).status, 201, String(port));
});

seams.run();

const noSource = suite<{ dir: { path: string; remove: () => Promise<void> }; fx: ControlFixture }>('control API without agent status');
noSource.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-control-');
  ctx.fx = await startControl(new FileStore(ctx.dir.path));
});
noSource.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.dir.remove();
});
noSource('status says the source is unavailable and why', async ({ fx }) => {
  await fx.api('PUT', nsPath(A, '/gateways/web'), { body: gatewayYaml(8080) });
  const s = await fx.api('GET', nsPath(A, '/gateways/web/status'));
  assert.is(s.status, 200);
  const body = s.json as { agents: unknown[]; statusSource: string; reason: string; converged: null };
  assert.equal([body.agents, body.statusSource, body.converged], [[], 'unavailable', null]);
  assert.match(body.reason, /NATS/);
  const missing = await fx.api('GET', nsPath(A, '/gateways/nope/status'));
  assert.is(missing.status, 404);
  assert.is(message(missing), 'gateway "nope" does not exist in acme/prod');
});
noSource.run();
