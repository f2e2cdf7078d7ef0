/**
 * Defers apache-arrow until something uses it. @elastic/elasticsearch 8.x loads it at start for its ES|QL
 * helpers (`toArrowTable`, `toArrowReader`), which Weir never calls: 146 modules and ~25 MiB of RSS in every
 * agent that ships logs, against a memory budget of 150 MiB. The module the helpers require is placed in
 * `require.cache` (documented as writable) as a proxy that loads the real one on first property access, so the
 * helpers keep working if anything ever calls them.
 *
 * Import this before `@elastic/elasticsearch` (ES modules evaluate their imports in order).
 */
import { createRequire, Module } from 'node:module';

const here = createRequire(import.meta.url);

/** What was deferred (null: this client version does not load apache-arrow), and whether it has been loaded since. */
export const deferredArrow: { path: string | null; loaded: boolean } = { path: null, loaded: false };

function defer(): void {
  // Resolved from the client's own location, as its `require` resolves it.
  const fromClient = createRequire(here.resolve('@elastic/elasticsearch'));
  let path: string;
  try {
    path = fromClient.resolve('apache-arrow/Arrow.node');
  } catch {
    return;
  }
  if (here.cache[path]) return; // already loaded by someone: nothing to save
  deferredArrow.path = path;
  let real: object | null = null;
  const load = (): object => {
    if (!real) {
      delete here.cache[path];
      real = fromClient(path) as object;
      deferredArrow.loaded = true;
    }
    return real;
  };
  const m = new Module(path);
  m.filename = path;
  m.loaded = true;
  m.exports = new Proxy(
    {},
    {
      get: (_t, key) => Reflect.get(load(), key),
      has: (_t, key) => Reflect.has(load(), key),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_t, key) => {
        const d = Reflect.getOwnPropertyDescriptor(load(), key);
        return d ? { ...d, configurable: true } : undefined;
      },
    },
  );
  here.cache[path] = m;
}

defer();
