// Tokens: format, scrypt hashing, the verification cache, revocation, the file store, bootstrap, grants.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { allowed, grants, type Principal } from '../../control/auth.js';
import {
  checkGrant,
  ensureAdminToken,
  FileTokenStore,
  hashSecret,
  issueToken,
  MemoryTokenStore,
  parseToken,
  SCRYPT_PARAMS,
  TokenFormatError,
  TokenVerifier,
  verifySecret,
} from '../../control/tokens.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('control tokens');

t('token format: weir_<id>_<secret>, the secret may contain "_"', () => {
  assert.equal(parseToken('weir_0123456789abcdef_abc_def-ghiJKL0123456789012345678901234'), { id: '0123456789abcdef', secret: 'abc_def-ghiJKL0123456789012345678901234' });
  for (const bad of ['', 'weir_', 'weir_ABCDEFGH_' + 'x'.repeat(40), 'weir_abcdefgh_short', 'Bearer x', 'weir_abcdefgh_' + 'x'.repeat(40) + '!']) assert.is(parseToken(bad), null, bad);
});

t('secrets are stored as salted scrypt hashes with N >= 2^15 and compared in constant time', async () => {
  assert.ok(SCRYPT_PARAMS.N >= 2 ** 15);
  const a = await hashSecret('s3cret-s3cret-s3cret-s3cret-s3cret');
  const b = await hashSecret('s3cret-s3cret-s3cret-s3cret-s3cret');
  assert.is.not(a.salt, b.salt, 'per-token salt');
  assert.is.not(a.key, b.key);
  assert.ok(await verifySecret('s3cret-s3cret-s3cret-s3cret-s3cret', a));
  assert.not.ok(await verifySecret('s3cret-s3cret-s3cret-s3cret-s3creT', a));
  assert.not.ok(JSON.stringify(a).includes('s3cret'));
});

t('verification is cached by token digest; revocation still takes effect on the next request', async () => {
  const store = new MemoryTokenStore();
  const { token, record } = await issueToken(store, { name: 'ci', role: 'deployer', namespaces: ['acme/*'], createdBy: 'test' });
  const v = new TokenVerifier(store, { cacheTtlMs: 60_000 });
  assert.is((await v.verify(token))?.id, record.id);
  assert.is((await v.verify(token))?.id, record.id);
  assert.is(v.slowChecks, 1, 'second request served from the cache');
  const wrong = token.slice(0, -1) + (token.endsWith('a') ? 'b' : 'a');
  assert.is(await v.verify(wrong), null, 'a different secret for the same id is not a cache hit');
  await store.remove(record.id);
  assert.is(await v.verify(token), null, 'revoked: no grace period from the cache');
  const short = new TokenVerifier(store, { cacheTtlMs: 0 });
  const again = await issueToken(store, { name: 'ci2', role: 'viewer', namespaces: ['*'], createdBy: 'test' });
  await short.verify(again.token);
  await short.verify(again.token);
  assert.is(short.slowChecks, 2, 'expired cache entries are re-verified');
});

t('file token store: atomic JSON file with mode 0600, sees changes made by another process', async () => {
  const dir = await tempDir('weir-tokens-');
  try {
    const path = join(dir.path, 'state', 'tokens.json');
    const one = new FileTokenStore(path);
    const { token, record } = await issueToken(one, { name: 'ci', role: 'viewer', namespaces: ['acme/prod'], createdBy: 'test' });
    assert.is((await stat(path)).mode & 0o777, 0o600);
    const text = await readFile(path, 'utf8');
    assert.not.ok(text.includes(parseToken(token)?.secret as string), 'no plain secret on disk');
    const other = new FileTokenStore(path);
    assert.is((await other.get(record.id))?.name, 'ci');
    await other.remove(record.id);
    assert.is(await one.get(record.id), null, 'a revocation by another process is seen');
    await writeFile(path, '{"nope": true}');
    await one.list().then(
      () => assert.unreachable('corrupt file accepted'),
      (err: Error) => assert.match(err.message, /not a Weir token file/),
    );
  } finally {
    await dir.remove();
  }
});

t('bootstrap: WEIR_ADMIN_TOKEN at first start, else a generated token shown once; nothing once tokens exist', async () => {
  const preset = `weir_${'a1'.repeat(8)}_${'Z'.repeat(40)}`;
  const s1 = new MemoryTokenStore();
  const r1 = await ensureAdminToken(s1, { fromEnv: preset });
  assert.equal([r1.created, r1.fromEnv, r1.token], [true, true, undefined]);
  const v = new TokenVerifier(s1);
  assert.is((await v.verify(preset))?.role, 'admin');
  assert.equal(await ensureAdminToken(s1, { fromEnv: `weir_${'b2'.repeat(8)}_${'Y'.repeat(40)}` }), { created: false, fromEnv: false });
  assert.is((await s1.list()).length, 1);

  const s2 = new MemoryTokenStore();
  const r2 = await ensureAdminToken(s2);
  assert.ok(r2.created && r2.token && parseToken(r2.token));
  assert.is((await new TokenVerifier(s2).verify(r2.token as string))?.namespaces.join(), '*');

  for (const bad of ['admin', 'weir_short_x', `weir_${'a'.repeat(8)}_${'x'.repeat(10)}`]) {
    await ensureAdminToken(new MemoryTokenStore(), { fromEnv: bad }).then(
      () => assert.unreachable(bad),
      (err: unknown) => assert.instance(err, TokenFormatError),
    );
  }
});

t('grants and roles', () => {
  const p = (role: Principal['role'], namespaces: string[]): Principal => ({ id: 'x', name: 'x', role, namespaces });
  const acmeProd = { org: 'acme', env: 'prod' };
  const acmeDev = { org: 'acme', env: 'dev' };
  const globex = { org: 'globex', env: 'prod' };
  assert.ok(grants(p('viewer', ['acme/prod']), acmeProd));
  assert.not.ok(grants(p('viewer', ['acme/prod']), acmeDev));
  assert.ok(grants(p('viewer', ['acme/*']), acmeDev));
  assert.not.ok(grants(p('viewer', ['acme/*']), globex));
  assert.ok(grants(p('viewer', ['*']), globex));
  assert.not.ok(grants(p('viewer', ['acmex/*']), { org: 'acme', env: 'x' }));
  assert.ok(allowed(p('deployer', ['acme/*']), 'write', acmeProd));
  assert.not.ok(allowed(p('viewer', ['acme/*']), 'write', acmeProd));
  assert.not.ok(allowed(p('deployer', ['*']), 'admin', null));
  assert.ok(allowed(p('admin', []), 'write', globex));
  for (const g of ['acme/prod', 'acme/*', '*']) assert.is(checkGrant(g), null);
  for (const g of ['acme', 'Acme/prod', 'acme/prod/x', '*/prod', 'acme/', '']) assert.type(checkGrant(g), 'string', g);
});

t.run();
