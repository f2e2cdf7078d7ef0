import { FileStore } from '../../store/file-store.js';
import { openStore, parseStoreSpec, StoreSpecError } from '../../store/open-store.js';
import { VaultConfigError, VaultStore } from '../../store/vault-store.js';
import { silentLogger } from '../../runtime/log.js';
import { assert, test } from '../harness/uvu.js';

test('parses every accepted WEIR_STORE form', () => {
  assert.equal(parseStoreSpec('file:///var/lib/weir'), { kind: 'file', root: '/var/lib/weir' });
  assert.equal(parseStoreSpec('file://./var/store', '/srv'), { kind: 'file', root: '/srv/var/store' });
  assert.equal(parseStoreSpec('/abs/x'), { kind: 'file', root: '/abs/x' });
  assert.equal(parseStoreSpec('./rel', '/srv'), { kind: 'file', root: '/srv/rel' });
  assert.equal(parseStoreSpec('vault:secret'), { kind: 'vault', mount: 'secret' });
  assert.equal(parseStoreSpec('vault:kv/platform/'), { kind: 'vault', mount: 'kv/platform' });
  assert.equal(parseStoreSpec('nats://a:4222,nats://b:4222'), { kind: 'nats', servers: ['nats://a:4222', 'nats://b:4222'] });
});

test('bad specs name the setting and list the accepted forms', () => {
  for (const bad of ['', 'vault:', 'consul://x', 'file://host/x', 'nats://', 'vault:se cret']) {
    const err = (() => {
      try {
        parseStoreSpec(bad);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.instance(err, StoreSpecError, bad);
    assert.match((err as Error).message, /^WEIR_STORE=.* accepted forms: file:\/\/\/abs\/path/);
  }
});

test('openStore builds file and vault stores; vault without a token is a config error', async () => {
  const file = await openStore('file:///tmp/weir-x', { logger: silentLogger() });
  assert.instance(file, FileStore);
  assert.is(file.location, 'file:///tmp/weir-x');
  const err = await openStore('vault:secret', { logger: silentLogger(), env: {} }).catch((e: unknown) => e);
  assert.instance(err, VaultConfigError);
  assert.match((err as Error).message, /VAULT_TOKEN or VAULT_TOKEN_FILE/);
  // Unreachable Vault: opening still succeeds (lookup is retried in the background).
  const vault = await openStore('vault:secret', { logger: silentLogger(), env: { VAULT_ADDR: 'http://127.0.0.1:1', VAULT_TOKEN: 't' } });
  assert.instance(vault, VaultStore);
  await vault.close();
  await file.close();
});

test.run();
