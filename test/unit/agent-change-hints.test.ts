import { changeHint } from '../../agent/nats-link.js';
import type { StoreEntry, StoreSnapshot } from '../../store/store.js';
import { patchSnapshot } from '../../agent/sync/snapshot-patch.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('change hints and snapshot patches');
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const entry = (name: string, version: string): StoreEntry => ({ name, version, source: `vault:secret/weir/o/e/gateways/${name}`, format: 'yaml', body: `name: ${name}\n` });

t('changeHint reads gateway and version from a gateways.changed event', () => {
  assert.equal(changeHint(enc({ gateway: 'shop', version: '7', action: 'put', by: 'ci', at: 'x' })), { name: 'shop', version: '7' });
  assert.equal(changeHint(enc({ gateway: 'shop', version: null, action: 'delete', by: 'ci', at: 'x' })), { name: 'shop', version: null });
});

t('changeHint refuses what it cannot trust (the agent then lists everything)', () => {
  for (const bad of ['not json', 'null', '[]', '"shop"', { version: '1' }, { gateway: 'Shop!', version: '1' }, { gateway: 'shop' }, { gateway: 'shop', version: 7 }, { gateway: 'a'.repeat(64), version: '1' }]) {
    assert.is(changeHint(enc(bad)), null, JSON.stringify(bad));
  }
});

t('patchSnapshot replaces, adds and removes only the named gateways', () => {
  const base: StoreSnapshot = {
    entries: [entry('api', '1'), entry('shop', '3'), entry('web', '2')],
    problems: [
      { source: 'vault:secret/weir/o/e/gateways/Bad_Key', message: 'not a DNS label' },
      { source: 'vault:secret/weir/o/e/gateways/old', message: 'bad value', name: 'old' },
    ],
  };
  const out = patchSnapshot(base, new Set(['shop', 'web', 'new', 'old']), [
    { entries: [entry('shop', '4')], problems: [] },
    { entries: [], problems: [] }, // web deleted
    { entries: [entry('new', '1')], problems: [] },
    { entries: [], problems: [{ source: 'vault:secret/weir/o/e/gateways/old', message: 'still bad', name: 'old' }] },
  ]);
  assert.equal(out.entries.map((e) => `${e.name}@${e.version}`), ['api@1', 'new@1', 'shop@4']);
  assert.equal(out.problems.map((p) => p.message), ['not a DNS label', 'still bad']);
  // The base snapshot is left as it was.
  assert.equal(base.entries.map((e) => e.version), ['1', '3', '2']);
});

t.run();
