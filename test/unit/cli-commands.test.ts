// The control-API commands against a fake API server: each test checks the exact requests
// the CLI sends (method, path, headers, body) and what it prints for canned replies, plus the
// exit codes (0 ok, 1 API error, 2 usage). One test runs the real `weir` entry point.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../cli/api-client.js';
import { parseWeights, runGatewayCommand } from '../../cli/gateway-commands.js';
import { runAgentsCommand, runStatusCommand } from '../../cli/status-commands.js';
import { runTokenCommand } from '../../cli/token-commands.js';
import { freePort } from '../harness/ports.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

const t = suite('cli: control API commands');
let server: Server;
let base = '';
let seen: Seen[] = [];
let replies: Reply[] = [];

t.before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const r = replies.shift() ?? { status: 500, body: { error: { code: 'unexpected', message: `test did not expect ${req.method} ${req.url}` } } };
      const text = r.text ?? (r.body === undefined ? '' : JSON.stringify(r.body));
      res.writeHead(r.status, { 'content-type': r.text !== undefined ? 'application/yaml' : 'application/json', ...r.headers });
      res.end(r.status === 204 ? undefined : text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${addr && typeof addr === 'object' ? addr.port : 0}`;
});
t.after(
  () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
);
t.before.each(() => {
  seen = [];
  replies = [];
});

function io(env: Record<string, string> = {}, stdin = ''): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    env: { WEIR_URL: base, WEIR_TOKEN: 'weir_abc_secret', ...env },
    out: (s) => (out += s),
    err: (s) => (err += s),
    readStdin: async () => stdin,
    stdout: () => out,
    stderr: () => err,
  };
}

const SHOP = '# canary\nname: shop\nport: 8080/http\nroutes:\n  v1:\n    weight: 90%\n    targets: [127.0.0.1:9901]\n  v2:\n    weight: 10%\n    targets: [127.0.0.1:9902]\n';

t('gateway apply -f: PUT of the text as YAML, named by the definition, bearer token, namespace from -n', async () => {
  const dir = await tempDir('weir-cli-');
  try {
    const file = join(dir.path, 'whatever.yaml');
    await writeFile(file, SHOP);
    replies.push({ status: 201, body: { name: 'shop', version: '7' } });
    const x = io();
    assert.is(await runGatewayCommand(['apply', '-f', file, '-n', 'acme/prod'], x), 0);
    assert.is(seen.length, 1);
    assert.is(seen[0]?.method, 'PUT');
    assert.is(seen[0]?.url, '/api/v1/namespaces/acme/prod/gateways/shop');
    assert.is(seen[0]?.headers['content-type'], 'application/yaml');
    assert.is(seen[0]?.headers.authorization, 'Bearer weir_abc_secret');
    assert.is(seen[0]?.body, SHOP, 'sent byte for byte, comments included');
    assert.is(x.stdout(), 'gateway/shop created (version 7)\n');

    const json = join(dir.path, 'api.json');
    await writeFile(json, '{"name":"api","port":9000,"routes":{}}');
    replies.push({ status: 200, body: { name: 'api', version: '3' } });
    const y = io({ WEIR_NAMESPACE: 'acme/dev' });
    assert.is(await runGatewayCommand(['apply', '-f', json, '-o', 'json'], y), 0);
    assert.is(seen[1]?.url, '/api/v1/namespaces/acme/dev/gateways/api');
    assert.is(seen[1]?.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(y.stdout()), { name: 'api', version: '3', created: false });
  } finally {
    await dir.remove();
  }
});

t('gateway apply -f - reads stdin; default namespace default/default; no token → no header', async () => {
  replies.push({ status: 200, body: { name: 'shop', version: '8' } });
  const x = io({ WEIR_TOKEN: '' }, SHOP);
  assert.is(await runGatewayCommand(['apply', '-f', '-'], x), 0);
  assert.is(seen[0]?.url, '/api/v1/namespaces/default/default/gateways/shop');
  assert.is(seen[0]?.headers.authorization, undefined);
  assert.is(x.stdout(), 'gateway/shop configured (version 8)\n');
});

t('API errors print error.message (and details) and exit 1', async () => {
  replies.push({ status: 400, body: { error: { code: 'invalid_gateway', message: 'gateway shop is invalid', details: ['routes.v1.weight: weights add up to 110%'] } } });
  const x = io({}, SHOP);
  assert.is(await runGatewayCommand(['apply', '-f', '-'], x), 1);
  assert.is(x.stderr(), 'weir: gateway shop is invalid\n  - routes.v1.weight: weights add up to 110%\n');
  replies.push({ status: 404, body: { error: { code: 'gateway_not_found', message: 'no gateway web in acme/prod' } } });
  const y = io();
  assert.is(await runGatewayCommand(['get', 'web', '-n', 'acme/prod'], y), 1);
  assert.is(y.stderr(), 'weir: no gateway web in acme/prod\n');
  replies.push({ status: 502, text: 'bad gateway' });
  const z = io();
  assert.is(await runGatewayCommand(['list'], z), 1);
  assert.is(z.stderr(), 'weir: HTTP 502: bad gateway\n');
});

t('unreachable API exits 1 naming WEIR_URL; usage errors exit 2', async () => {
  const closed = await freePort();
  const x = io({ WEIR_URL: `http://127.0.0.1:${closed}` });
  assert.is(await runGatewayCommand(['list'], x), 1);
  assert.is(x.stderr(), `weir: cannot reach the control API at http://127.0.0.1:${closed}: ECONNREFUSED (set WEIR_URL)\n`);
  for (const argv of [[], ['frobnicate'], ['apply'], ['get'], ['weights', 'shop'], ['weights', 'shop', 'v1=101'], ['weights', 'shop', 'v1'], ['list', '-n', 'Bad/NS'], ['list', '-o', 'xml'], ['list', '--bogus']]) {
    const y = io();
    assert.is(await runGatewayCommand(argv, y), 2, argv.join(' '));
    assert.match(y.stderr(), /^weir: /);
    assert.match(y.stderr(), /Usage:/);
  }
  assert.is(seen.length, 0, 'nothing was sent');
});

t('gateway list: table for people, raw JSON/YAML for scripts', async () => {
  const reply = {
    namespace: 'default/default',
    gateways: [
      { name: 'shop', version: '7', format: 'yaml', valid: true, port: 8080, mode: 'http', routes: [{ name: 'v1', weight: 90 }, { name: 'v2', weight: 10 }] },
      { name: 'db', version: '12', format: 'json', valid: true, port: 5432, mode: 'tcp', routes: [{ name: 'main', weight: 100 }] },
    ],
    problems: [],
  };
  replies.push({ status: 200, body: reply });
  const x = io();
  assert.is(await runGatewayCommand(['list'], x), 0);
  assert.is(seen[0]?.method, 'GET');
  assert.is(seen[0]?.url, '/api/v1/namespaces/default/default/gateways');
  assert.is(x.stdout(), ['NAME   VERSION   PORT   MODE   ROUTES', 'shop   7         8080   http   v1=90% v2=10%', 'db     12        5432   tcp    main=100%', ''].join('\n'));
  replies.push({ status: 200, body: { items: reply.gateways } }); // the older { items } shape works too
  const y = io();
  assert.is(await runGatewayCommand(['ls', '-o', 'yaml'], y), 0);
  assert.match(y.stdout(), /^items:\n {2}- name: shop\n/);
  replies.push({ status: 200, body: { gateways: [] } });
  const z = io();
  await runGatewayCommand(['list', '-n', 'acme/prod'], z);
  assert.is(z.stdout(), 'no gateways in acme/prod\n');
});

t('gateway get: original text via Accept: application/yaml; -o json asks for JSON', async () => {
  replies.push({ status: 200, text: SHOP, headers: { etag: '"7"' } });
  const x = io();
  assert.is(await runGatewayCommand(['get', 'shop'], x), 0);
  assert.is(seen[0]?.headers.accept, 'application/yaml');
  assert.is(x.stdout(), SHOP);
  replies.push({ status: 200, body: { name: 'shop', port: 8080 } });
  const y = io();
  assert.is(await runGatewayCommand(['get', 'shop', '-o', 'json'], y), 0);
  assert.is(seen[1]?.headers.accept, 'application/json');
  assert.equal(JSON.parse(y.stdout()), { name: 'shop', port: 8080 });
});

t('gateway delete and weights', async () => {
  replies.push({ status: 204 });
  const x = io();
  assert.is(await runGatewayCommand(['delete', 'shop', '-n', 'acme/prod'], x), 0);
  assert.equal([seen[0]?.method, seen[0]?.url], ['DELETE', '/api/v1/namespaces/acme/prod/gateways/shop']);
  assert.is(x.stdout(), 'gateway/shop deleted\n');
  replies.push({ status: 200, body: { name: 'shop', version: '9' } });
  const y = io();
  assert.is(await runGatewayCommand(['weights', 'shop', 'v1=80', 'v2=20%'], y), 0);
  assert.equal([seen[1]?.method, seen[1]?.url, seen[1]?.headers['content-type']], ['PUT', '/api/v1/namespaces/default/default/gateways/shop/weights', 'application/json']);
  assert.equal(JSON.parse(seen[1]?.body ?? ''), { v1: 80, v2: 20 });
  assert.is(y.stdout(), 'gateway/shop weights v1=80% v2=20% (version 9)\n');
  assert.throws(() => parseWeights(['v1=50', 'v1=50']), /given twice/);
});

t('status <gateway>: table of agents; --wait polls until converged, exit 1 on timeout', async () => {
  const now = new Date().toISOString();
  const behind = { gateway: 'shop', version: '9', converged: false, statusSource: 'nats', agents: [{ agentId: 'node-1', appliedVersion: '8', problems: [{ version: '9', errors: ['port 80 in use'] }], lastSeenAt: now, quiet: false }, { agentId: 'node-2', appliedVersion: '9', problems: [], lastSeenAt: now, quiet: false }] };
  replies.push({ status: 200, body: behind });
  const x = io();
  assert.is(await runStatusCommand(['shop', '-n', 'acme/prod'], x), 0);
  assert.is(seen[0]?.url, '/api/v1/namespaces/acme/prod/gateways/shop/status');
  assert.match(x.stdout(), /^gateway shop {2}version 9 {2}not converged \(1 of 2 live agents on it\)\n/);
  assert.match(x.stdout(), /node-1 +8 +behind +0s ago +v9: port 80 in use\n/);
  assert.match(x.stdout(), /node-2 +9 +current +0s ago +-\n/);

  replies.push({ status: 200, body: behind }, { status: 200, body: { ...behind, converged: true } });
  const y = io();
  assert.is(await runStatusCommand(['shop', '--wait', '--timeout', '5', '-o', 'json'], y), 0);
  assert.is(seen.length, 3);
  assert.is(JSON.parse(y.stdout()).converged, true);

  replies.push({ status: 200, body: behind }, { status: 200, body: behind }, { status: 200, body: behind });
  const z = io();
  assert.is(await runStatusCommand(['shop', '--wait', '--timeout', '1'], z), 1);
  replies.length = 0;
  assert.is(await runStatusCommand([], io()), 2);
});

t('agents: table from GET agents', async () => {
  replies.push({ status: 200, body: { namespace: 'default/default', statusSource: 'nats', agents: [{ agentId: 'node-1', ready: true, haproxyRunning: true, storeOk: true, servingFromCache: false, applied: [{ name: 'shop', version: '9' }], problems: [], lastSeenAt: new Date().toISOString(), quiet: false, health: 'ok' }] } });
  const x = io();
  assert.is(await runAgentsCommand([], x), 0);
  assert.is(seen[0]?.url, '/api/v1/namespaces/default/default/agents');
  assert.match(x.stdout(), /^AGENT +STATE +READY +HAPROXY +STORE +GATEWAYS +PROBLEMS +LAST SEEN\nnode-1 +ok +yes +running +ok +1 +0 +0s ago\n$/);
});

t('token create / list / revoke', async () => {
  replies.push({ status: 201, body: { id: 'k3x9', name: 'ci', role: 'deployer', namespaces: ['acme/prod', 'acme/dev'], token: 'weir_k3x9_s3cret' } });
  const x = io();
  assert.is(await runTokenCommand(['create', '--name', 'ci', '--role', 'deployer', '--namespace', 'acme/prod', '-n', 'acme/dev'], x), 0);
  assert.equal([seen[0]?.method, seen[0]?.url, seen[0]?.headers['content-type']], ['POST', '/api/v1/tokens', 'application/json']);
  assert.equal(JSON.parse(seen[0]?.body ?? ''), { name: 'ci', role: 'deployer', namespaces: ['acme/prod', 'acme/dev'] });
  assert.is(x.stdout(), 'weir_k3x9_s3cret\n', 'only the secret on stdout');
  assert.match(x.stderr(), /token k3x9 created/);

  replies.push({ status: 200, body: { tokens: [{ id: 'k3x9', name: 'ci', role: 'deployer', namespaces: ['acme/*'], createdAt: new Date().toISOString() }] } });
  const y = io();
  assert.is(await runTokenCommand(['list'], y), 0);
  assert.is(y.stdout(), 'ID     NAME   ROLE       NAMESPACES   CREATED\nk3x9   ci     deployer   acme/*       0s ago\n');

  replies.push({ status: 204 });
  const z = io();
  assert.is(await runTokenCommand(['revoke', 'k3x9'], z), 0);
  assert.equal([seen[2]?.method, seen[2]?.url], ['DELETE', '/api/v1/tokens/k3x9']);
  assert.is(z.stdout(), 'token/k3x9 revoked\n');

  replies.push({ status: 403, body: { error: { code: 'forbidden', message: 'token ci (deployer) may not manage tokens' } } });
  const w = io();
  assert.is(await runTokenCommand(['list'], w), 1);
  assert.is(w.stderr(), 'weir: token ci (deployer) may not manage tokens\n');
  for (const argv of [['create', '--name', 'x'], ['create', '--name', 'x', '--role', 'god'], ['create', '--name', 'x', '--role', 'viewer', '--namespace', 'ACME'], ['revoke'], ['nope']]) {
    assert.is(await runTokenCommand(argv, io()), 2, argv.join(' '));
  }
  assert.is(seen.length, 4);
});

t('the weir entry point dispatches and sets the exit code', async () => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const compiled = join(here, '../../cli/main.js');
  const args = existsSync(compiled) ? [compiled] : ['--import', 'tsx', join(here, '../../cli/main.ts')];
  const run = (argv: string[]): Promise<{ code: number | null; out: string; err: string }> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [...args, ...argv], { env: { ...process.env, WEIR_URL: base, WEIR_TOKEN: 't' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) => resolve({ code, out, err }));
    });
  replies.push({ status: 409, body: { error: { code: 'version_conflict', message: 'shop changed meanwhile' } } });
  const r = await run(['gateway', 'weights', 'shop', 'v1=1', 'v2=99']);
  assert.is(r.code, 1, r.err);
  assert.is(r.err, 'weir: shop changed meanwhile\n');
  const u = await run(['gateway', 'weights', 'shop', 'v1=x']);
  assert.is(u.code, 2);
  assert.match(u.err, /weir gateway apply/, 'usage on stderr');
});

t.run();
