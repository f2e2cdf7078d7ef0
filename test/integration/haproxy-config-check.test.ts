import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkConfig, haproxyVersion } from '../../agent/haproxy/config-check.js';
import { HaproxyExecError } from '../../agent/haproxy/errors.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('haproxy config check');

const DEFAULTS = 'defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n';

async function check(text: string): Promise<Awaited<ReturnType<typeof checkConfig>> & { path: string }> {
  const dir = await tempDir('weir-check-');
  try {
    const path = join(dir.path, 'haproxy.cfg');
    await writeFile(path, text);
    return { ...(await checkConfig(haproxyBin(), path)), path };
  } finally {
    await dir.remove();
  }
}

t('a valid config passes with no diagnostics', async () => {
  const r = await check(`${DEFAULTS}frontend fe\n  bind 127.0.0.1:18999\n  default_backend be\nbackend be\n  server s1 127.0.0.1:1\n`);
  assert.ok(r.ok);
  assert.equal(r.diagnostics, []);
});

t('warnings only: passes, warnings reported with proxy', async () => {
  const r = await check(`${DEFAULTS}frontend fe\n  mode tcp\n  option forwardfor\n  bind 127.0.0.1:18999\n  default_backend be\nbackend be\n  server s1 127.0.0.1:1\n`);
  assert.ok(r.ok);
  assert.equal(r.diagnostics, [{ level: 'warning', proxy: 'fe', message: "'option forwardfor' ignored for frontend 'fe' as it requires HTTP mode." }]);
});

t('unknown keyword: alert with file and line', async () => {
  const r = await check(`${DEFAULTS}frontend fe\n  bind 127.0.0.1:18999\n  foo bar\n`);
  assert.not.ok(r.ok);
  assert.equal(r.diagnostics, [{ level: 'alert', file: r.path, line: 8, message: "unknown keyword 'foo' in 'frontend' section" }]);
});

t('missing backend: alert with proxy', async () => {
  const r = await check(`${DEFAULTS}frontend fe\n  bind 127.0.0.1:18999\n  default_backend nope\nbackend shop:v1\n  server s1 127.0.0.1:1\n  use-server zz if TRUE\n`);
  assert.not.ok(r.ok);
  assert.equal(r.diagnostics, [
    { level: 'alert', proxy: 'fe', message: "unable to find required default_backend: 'nope'." },
    { level: 'alert', proxy: 'shop:v1', message: "unable to find server 'zz' referenced in a 'use-server' rule." },
  ]);
});

t('missing file gives an alert; missing binary a HaproxyExecError', async () => {
  const r = await checkConfig(haproxyBin(), '/nonexistent/weir.cfg');
  assert.not.ok(r.ok);
  assert.match(r.diagnostics[0]?.message ?? '', /Cannot open configuration file/);
  await checkConfig('/nonexistent/haproxy', '/x.cfg').then(
    () => assert.unreachable('should throw'),
    (err: unknown) => assert.instance(err, HaproxyExecError),
  );
});

t('haproxyVersion', async () => {
  const v = await haproxyVersion(haproxyBin());
  assert.is(v.major, 2);
  assert.is(v.minor, 6);
  assert.match(v.full, /^2\.6\.\d+/);
});

t.run();
