// runControl: settings from the environment, first-start admin token, tokens and audit under
// the state dir, restart keeps tokens; the standalone process stops cleanly on SIGTERM.
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../runtime/log.js';
import { runControl } from '../../control/main.js';
import { gatewayYaml } from '../harness/control.js';
import { freePort } from '../harness/ports.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite<{ dir: { path: string; remove: () => Promise<void> } }>('control main');
t.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-control-main-');
});
t.after.each(async (ctx) => {
  await ctx.dir.remove();
});

const req = (base: string, token: string, method = 'GET', path = '/api/v1/namespaces/acme/prod/gateways', body?: string) =>
  fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/yaml' } : {}) }, ...(body ? { body } : {}) });

t('first start creates an admin token once; tokens and audit live in the state dir; restart keeps them', async ({ dir }) => {
  const env = { WEIR_STORE: `file://${join(dir.path, 'store')}`, WEIR_CONTROL_ADDR: '127.0.0.1:0', WEIR_CONTROL_STATE_DIR: join(dir.path, 'control') };
  const first = await runControl(env, { logger: silentLogger(), handleSignals: false });
  const token = first.bootstrapToken as string;
  assert.match(token, /^weir_[a-z0-9]+_/);
  const base = `http://127.0.0.1:${first.server.port}`;
  assert.is((await req(base, token)).status, 200, 'an empty store root lists as no gateways');
  assert.is((await req(base, token, 'PUT', '/api/v1/namespaces/acme/prod/gateways/web', gatewayYaml(8080))).status, 201);
  await first.close();
  assert.is((await stat(join(dir.path, 'control', 'tokens.json'))).mode & 0o777, 0o600);
  const audit = (await readFile(join(dir.path, 'control', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { action: string; target: string; by: string });
  assert.equal(audit.map((a) => [a.action, a.target, a.by.startsWith('admin (')]), [['gateway.create', 'gateway/acme/prod/web', true]]);
  assert.ok((await readFile(join(dir.path, 'store', 'acme', 'prod', 'gateways', 'web.yaml'), 'utf8')).startsWith('# managed by the test'));

  const second = await runControl({ ...env, WEIR_ADMIN_TOKEN: `weir_${'ab'.repeat(8)}_${'Q'.repeat(40)}` }, { logger: silentLogger(), handleSignals: false });
  try {
    assert.is(second.bootstrapToken, undefined, 'no new token when tokens exist (WEIR_ADMIN_TOKEN ignored)');
    assert.is((await req(`http://127.0.0.1:${second.server.port}`, token)).status, 200);
  } finally {
    await second.close();
  }
});

t('WEIR_ADMIN_TOKEN becomes the admin token at first start; a malformed one stops the start', async ({ dir }) => {
  const admin = `weir_${'cd'.repeat(8)}_${'R'.repeat(40)}`;
  const env = { WEIR_STORE: join(dir.path, 'store'), WEIR_CONTROL_ADDR: '127.0.0.1:0', WEIR_CONTROL_STATE_DIR: join(dir.path, 'control') };
  const c = await runControl({ ...env, WEIR_ADMIN_TOKEN: admin }, { logger: silentLogger(), handleSignals: false });
  try {
    assert.is(c.bootstrapToken, undefined);
    assert.is((await req(`http://127.0.0.1:${c.server.port}`, admin, 'GET', '/api/v1/tokens')).status, 200);
  } finally {
    await c.close();
  }
  await runControl({ ...env, WEIR_CONTROL_STATE_DIR: join(dir.path, 'other'), WEIR_ADMIN_TOKEN: 'letmein' }, { logger: silentLogger(), handleSignals: false }).then(
    () => assert.unreachable('accepted a malformed admin token'),
    (err: Error) => assert.match(err.message, /WEIR_ADMIN_TOKEN must look like weir_<id>_<secret>/),
  );
});

t('standalone: shows the generated token once on stderr and exits 0 on SIGTERM', async ({ dir }) => {
  const port = await freePort();
  // The source under tsx, or the compiled file when the suite runs from dist/.
  const fromSource = import.meta.url.endsWith('.ts');
  const main = fileURLToPath(new URL(`../../control/main.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  const child = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), main], {
    env: { ...process.env, WEIR_STORE: join(dir.path, 'store'), WEIR_CONTROL_ADDR: `127.0.0.1:${port}`, WEIR_CONTROL_STATE_DIR: join(dir.path, 'control'), WEIR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const token = await waitFor(() => /(weir_[a-z0-9]+_[A-Za-z0-9_-]+)/.exec(stderr)?.[1], { timeoutMs: 20_000, what: 'the admin token on stderr' }) as string;
    assert.is((await req(`http://127.0.0.1:${port}`, token)).status, 200);
    child.kill('SIGTERM');
    assert.is(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

t.run();
