// The embedded default store: one file per document under
//   <root>/<org>/<env>/<collection>/<name>.<ext>
// (gateways and release policies .yaml | .yml | .json, runs and history .json, certificates .pem)
// and leases under <root>/.leases/<name>/<epoch>.json.
// Reads never fail because of one bad file (those become `problems`); only a missing or
// unreadable namespace directory makes the gateways "unavailable" so the agent keeps serving.
import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { watch as chokidarWatch } from 'chokidar';
import { forEachLimited } from '../runtime/bounded-concurrency.js';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import { COLLECTION_RULES, documentNoun, isDocumentName, type Collection, type DocumentFormat } from './collections.js';
import type { DocumentStore } from './document-store.js';
import { parseLeaseRecord, type LeaseBackend, type LeaseView } from './lease.js';
import {
  asGatewaySnapshot,
  StoreUnavailableError,
  type ChangeHint,
  type DocumentEntry,
  type DocumentSnapshot,
  type GatewayStore,
  type Namespace,
  type StopWatching,
  type StoreEntry,
  type StoreEntryProblem,
  type StoreSnapshot,
} from './store.js';
import {
  assertDocumentKey,
  isDnsLabel,
  VersionConflictError,
  type DeleteOptions,
  type GatewayStoreWriter,
  type PutOptions,
  type StoreFormat,
} from './store-writer.js';

/** Files larger than this are reported as problems rather than read (a gateway is a few KiB). */
export const MAX_GATEWAY_FILE_BYTES = COLLECTION_RULES.gateways.maxBytes;

/**
 * With a healthy watch, every file is still re-stat-ed at least this often, so a missed event
 * costs at most one poll interval (chokidar can stop reporting after the whole root is deleted
 * and re-created: seen about 1 run in 10 in test/unit/store-file.test.ts).
 */
const FULL_SCAN_MS = 5_000;
/** How long a file stays re-stat-ed on every list after the watcher last reported it. */
const HOT_MS = 30_000;

const FORMAT_EXTENSIONS: Readonly<Record<DocumentFormat, readonly string[]>> = { yaml: ['.yaml', '.yml'], json: ['.json'], pem: ['.pem'] };

/** The file extensions a collection's documents may have, with the format each means. */
function extensionsOf(collection: Collection): ReadonlyArray<readonly [string, DocumentFormat]> {
  return COLLECTION_RULES[collection].formats.flatMap((f) => FORMAT_EXTENSIONS[f].map((e) => [e, f] as const));
}

/** "a .yaml, .yml or .json extension" */
function extensionList(collection: Collection): string {
  const exts = extensionsOf(collection).map(([e]) => e);
  return exts.length === 1 ? `a ${exts[0]} extension` : `a ${exts.slice(0, -1).join(', ')} or ${exts[exts.length - 1]} extension`;
}

const LEASES_DIR = '.leases';

/** Dotfiles (including our own `.name.xxx.tmp` write temps) and editor leftovers. */
export const isIgnoredFileName = (f: string): boolean =>
  f.startsWith('.') || f.endsWith('.swp') || f.endsWith('~') || f.endsWith('.tmp');

export interface FileStoreOptions {
  logger?: Logger;
  /** Max files read concurrently during `list` (bounded to stay clear of EMFILE). */
  readConcurrency?: number;
}

interface CachedBody {
  mtimeMs: number;
  size: number;
  ino: number;
  body: string;
  version: string;
}

/** Counters so tests (and metrics) can tell cache hits from disk reads without timing. */
export interface FileStoreCacheStats {
  hits: number;
  reads: number;
  entries: number;
}

export class FileStore implements GatewayStore, GatewayStoreWriter, DocumentStore {
  readonly kind = 'file' as const;
  readonly location: string;
  readonly root: string;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly cache = new Map<string, CachedBody>();
  private hits = 0;
  private reads = 0;
  /**
   * Per watched gateways directory: files the watcher reported recently ("hot"). While the watch
   * is healthy, a list re-stats only those (5,000 stats cost ~100 ms); directory events, watcher
   * errors and a full pass every FULL_SCAN_MS fall back to stat-ing every file.
   */
  private readonly watched = new Map<string, { hot: Map<string, number>; all: boolean; lastFull: number }>();
  private readonly watchers = new Set<StopWatching>();
  /** Serialises writes per gateway so in-process CAS checks and renames do not interleave. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(root: string, opts: FileStoreOptions = {}) {
    if (!isAbsolute(root)) throw new Error(`file store root must be an absolute path, got ${JSON.stringify(root)}`);
    this.root = resolve(root);
    this.location = `file://${this.root}`;
    this.log = opts.logger ?? silentLogger();
    this.concurrency = Math.max(1, opts.readConcurrency ?? 32);
  }

  cacheStats(): FileStoreCacheStats {
    return { hits: this.hits, reads: this.reads, entries: this.cache.size };
  }

  gatewaysDir(ns: Namespace): string {
    return this.collectionDir(ns, 'gateways');
  }

  collectionDir(ns: Namespace, collection: Collection): string {
    assertDocumentKey(ns, collection);
    return join(this.root, ns.org, ns.env, collection);
  }

  async list(ns: Namespace): Promise<StoreSnapshot> {
    return asGatewaySnapshot(await this.listDocuments(ns, 'gateways'));
  }

  async listDocuments(ns: Namespace, collection: Collection): Promise<DocumentSnapshot> {
    const dir = this.collectionDir(ns, collection);
    const noun = documentNoun(collection);
    let names: string[];
    try {
      const dirents = await readdir(dir, { withFileTypes: true });
      names = dirents.filter((d) => !d.isDirectory()).map((d) => d.name);
    } catch (err) {
      // Only gateways make a missing directory an outage: the agent must not read it as "none".
      // Other collections are created by their first write.
      if (collection !== 'gateways' && (err as NodeJS.ErrnoException).code === 'ENOENT' && (await isDirectory(this.root))) return { entries: [], problems: [] };
      throw await this.unavailable(dir, err);
    }

    const problems: StoreEntryProblem[] = [];
    const exts = extensionsOf(collection);
    const byName = new Map<string, { path: string; format: DocumentFormat }[]>();
    for (const file of names) {
      if (isIgnoredFileName(file)) continue;
      const path = join(dir, file);
      const ext = exts.find(([e]) => file.endsWith(e));
      if (!ext) {
        problems.push({ source: path, message: `not a ${noun} file: expected ${extensionList(collection)}` });
        continue;
      }
      const name = file.slice(0, -ext[0].length);
      if (!isDocumentName(collection, name)) {
        problems.push({
          source: path,
          message: COLLECTION_RULES[collection].dottedNames
            ? `${noun} name ${JSON.stringify(name)} (from the file name) is not dot-separated DNS labels: use lowercase a-z, 0-9 and '-' between dots`
            : `${noun} name ${JSON.stringify(name)} (from the file name) is not a DNS label: use lowercase a-z, 0-9 and '-', 1-63 chars, no leading/trailing '-'`,
        });
        continue;
      }
      const group = byName.get(name) ?? [];
      group.push({ path, format: ext[1] });
      byName.set(name, group);
    }

    const todo: { name: string; path: string; format: DocumentFormat }[] = [];
    for (const [name, files] of byName) {
      if (files.length > 1) {
        const paths = files.map((f) => f.path).sort();
        for (const p of paths) {
          problems.push({ source: p, message: `${noun} ${name} is defined by more than one file (${paths.join(', ')}); keep exactly one` });
        }
        continue;
      }
      const [only] = files;
      if (only) todo.push({ name, ...only });
    }

    const w = this.watched.get(dir);
    const now = Date.now();
    const full = !w || w.all || now - w.lastFull >= FULL_SCAN_MS;
    if (w) {
      if (full) {
        w.all = false;
        w.lastFull = now;
      }
      for (const [path, at] of w.hot) if (now - at > HOT_MS) w.hot.delete(path);
    }
    // A file the watcher reported stays hot for HOT_MS: chokidar throttles repeated events on one
    // path, so a second write right after the first can come without an event of its own.
    const hot = w?.hot ?? new Map<string, number>();

    const entries: DocumentEntry[] = [];
    const seen = new Set<string>();
    await forEachLimited(todo, this.concurrency, async (f) => {
      seen.add(f.path);
      const cached = full || hot.has(f.path) ? undefined : this.cache.get(f.path);
      const got = cached ? (this.hits++, cached) : await this.readEntry(f.path, collection);
      if ('problem' in got) problems.push({ source: f.path, message: got.problem });
      else entries.push({ name: f.name, source: f.path, format: f.format, body: got.body, version: got.version });
    });
    // Forget bodies of files that are gone so the cache tracks the directory, not history.
    const prefix = dir + sep;
    for (const key of this.cache.keys()) {
      if (key.startsWith(prefix) && !seen.has(key)) this.cache.delete(key);
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    problems.sort((a, b) => a.source.localeCompare(b.source));
    return { entries, problems };
  }

  /** Reads one file through the (path, mtimeMs, size, ino) cache. Never throws. */
  private async readEntry(path: string, collection: Collection): Promise<{ body: string; version: string } | { problem: string }> {
    const max = COLLECTION_RULES[collection].maxBytes;
    const tooBig = (size: number): { problem: string } => ({
      problem: `file is ${size} bytes, over the ${max}-byte limit for a ${documentNoun(collection)}${collection === 'gateways' ? ' definition' : ''}`,
    });
    let st: Stats;
    try {
      st = await stat(path);
    } catch (err) {
      return { problem: `cannot stat: ${errText(err)}` };
    }
    if (!st.isFile()) return { problem: 'not a regular file' };
    if (st.size > max) return tooBig(st.size);
    const cached = this.cache.get(path);
    if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size && cached.ino === st.ino) {
      this.hits++;
      return cached;
    }
    try {
      // fstat on the open handle so the cache key describes exactly the bytes we read.
      const fh = await open(path, 'r');
      try {
        const fst = await fh.stat();
        if (fst.size > max) return tooBig(fst.size);
        const buf = await fh.readFile();
        this.reads++;
        const body = buf.toString('utf8');
        const hash = createHash('sha256').update(buf).digest('hex').slice(0, 16);
        const entry: CachedBody = {
          mtimeMs: fst.mtimeMs,
          size: fst.size,
          ino: fst.ino,
          body,
          version: `${fst.mtimeMs}:${fst.size}:${fst.ino}:${hash}`,
        };
        this.cache.set(path, entry);
        return entry;
      } finally {
        await fh.close();
      }
    } catch (err) {
      return { problem: `cannot read: ${errText(err)}` };
    }
  }

  /** Explains which level of the layout is missing, so operators fix the right thing. */
  private async unavailable(dir: string, err: unknown): Promise<StoreUnavailableError> {
    const code = (err as NodeJS.ErrnoException).code;
    let message = `cannot read ${dir}: ${errText(err)}`;
    if (code === 'ENOENT') {
      const rootExists = await stat(this.root).then(
        (s) => s.isDirectory(),
        () => false,
      );
      message = rootExists
        ? `namespace directory ${dir} does not exist (create it, even empty, to declare "no gateways")`
        : `store root ${this.root} does not exist or is not a directory`;
    }
    return new StoreUnavailableError(this.location, message, err);
  }

  async watch(ns: Namespace, onChange: (reason: string) => void): Promise<StopWatching> {
    return this.watchDocuments(ns, 'gateways', onChange);
  }

  async watchDocuments(ns: Namespace, collection: Collection, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching> {
    const dir = this.collectionDir(ns, collection);
    // Watch from the root's parent down the single chain of directories to `gateways/`, so
    // deleting and re-creating any level (even the whole root) is seen. Everything off the
    // chain is ignored, which keeps other namespaces out of the watcher.
    const base = dirname(this.root);
    const chain = new Set<string>();
    for (let p = dir; p !== base && p.length >= base.length; p = dirname(p)) chain.add(p);
    const ignored = (p: string): boolean => {
      const abs = resolve(p);
      if (abs === base || chain.has(abs)) return false;
      if (dirname(abs) === dir) return isIgnoredFileName(abs.slice(dir.length + 1));
      return true;
    };
    const watcher = chokidarWatch(base, { ignoreInitial: true, ignored, persistent: true });
    const state = { hot: new Map<string, number>(), all: true, lastFull: 0 };
    const fire = (event: string) => (path: string) => {
      this.log.debug({ event, path }, 'file store change');
      const abs = resolve(path);
      if ((event === 'add' || event === 'change' || event === 'unlink') && dirname(abs) === dir) state.hot.set(abs, Date.now());
      else state.all = true;
      onChange(`${event} ${relative(this.root, path) || '.'}`);
    };
    for (const ev of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) watcher.on(ev, fire(ev));
    watcher.on('error', (err) => {
      state.all = true;
      this.log.warn({ err, dir }, 'file store watcher error');
    });
    await new Promise<void>((res) => watcher.once('ready', () => res()));
    this.watched.set(dir, state);
    let stopped = false;
    const stop: StopWatching = async () => {
      if (stopped) return;
      stopped = true;
      this.watchers.delete(stop);
      if (this.watched.get(dir) === state) this.watched.delete(dir);
      await watcher.close();
    };
    this.watchers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    await Promise.all([...this.watchers].map((s) => s()));
    this.cache.clear();
  }

  // ---- writes ------------------------------------------------------------------------------

  /** The existing files for a document name (normally zero or one). */
  private async filesFor(ns: Namespace, collection: Collection, name: string): Promise<{ path: string; format: DocumentFormat }[]> {
    const dir = this.collectionDir(ns, collection);
    const out: { path: string; format: DocumentFormat }[] = [];
    for (const [ext, format] of extensionsOf(collection)) {
      const path = join(dir, name + ext);
      const exists = await stat(path).then(
        (s) => s.isFile(),
        () => false,
      );
      if (exists) out.push({ path, format });
    }
    return out;
  }

  async get(ns: Namespace, name: string): Promise<StoreEntry | null> {
    return (await this.getDocument(ns, 'gateways', name)) as StoreEntry | null;
  }

  put(ns: Namespace, name: string, body: string, format: StoreFormat, opts: PutOptions = {}): Promise<{ version: string }> {
    return this.putDocument(ns, 'gateways', name, body, format, opts);
  }

  delete(ns: Namespace, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    return this.deleteDocument(ns, 'gateways', name, opts);
  }

  async getDocument(ns: Namespace, collection: Collection, name: string): Promise<DocumentEntry | null> {
    assertDocumentKey(ns, collection, name);
    const noun = documentNoun(collection);
    const files = await this.filesFor(ns, collection, name);
    if (files.length === 0) return null;
    if (files.length > 1) {
      throw new Error(`${noun} ${name} in ${ns.org}/${ns.env} is defined by more than one file (${files.map((f) => f.path).join(', ')}); keep exactly one`);
    }
    const [f] = files as [{ path: string; format: DocumentFormat }];
    const got = await this.readEntry(f.path, collection);
    if ('problem' in got) {
      if (got.problem.startsWith('cannot stat')) return null; // deleted between stat and read
      throw new Error(`cannot read ${noun} ${f.path}: ${got.problem}`);
    }
    return { name, source: f.path, format: f.format, body: got.body, version: got.version };
  }

  async putDocument(ns: Namespace, collection: Collection, name: string, body: string, format: DocumentFormat, opts: PutOptions = {}): Promise<{ version: string }> {
    assertDocumentKey(ns, collection, name);
    const noun = documentNoun(collection);
    if (!COLLECTION_RULES[collection].formats.includes(format)) throw new Error(`a ${noun} cannot be stored as ${format}: use ${COLLECTION_RULES[collection].formats.join(' or ')}`);
    const dir = this.collectionDir(ns, collection);
    return this.locked(join(dir, name), async () => {
      const current = await this.getDocument(ns, collection, name);
      checkVersion(join(dir, name), opts.ifVersion, current?.version ?? null);
      // Keep `.yml` if that is what the user already has; otherwise the canonical extension.
      const ext = format === 'yaml' ? (current?.source.endsWith('.yml') ? '.yml' : '.yaml') : `.${format}`;
      const target = join(dir, name + ext);
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        const fh = await open(tmp, 'wx', collection === 'certificates' ? 0o600 : 0o644);
        try {
          await fh.writeFile(body, 'utf8');
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, target);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw new Error(`cannot write ${noun} ${target}: ${errText(err)}`, { cause: err });
      }
      await fsyncDir(dir);
      // A format change leaves the old file behind; remove it so the name maps to one file.
      for (const f of await this.filesFor(ns, collection, name)) if (f.path !== target) await unlink(f.path).catch(() => undefined);
      const got = await this.readEntry(target, collection);
      if ('problem' in got) throw new Error(`wrote ${noun} ${target} but cannot read it back: ${got.problem}`);
      return { version: got.version };
    });
  }

  async deleteDocument(ns: Namespace, collection: Collection, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    assertDocumentKey(ns, collection, name);
    const dir = this.collectionDir(ns, collection);
    return this.locked(join(dir, name), async () => {
      const files = await this.filesFor(ns, collection, name);
      if (opts.ifVersion !== undefined) {
        const current = files.length === 1 ? await this.getDocument(ns, collection, name) : null;
        checkVersion(join(dir, name), opts.ifVersion, current?.version ?? null);
      }
      let removed = false;
      for (const f of files) {
        try {
          await unlink(f.path);
          removed = true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot delete ${documentNoun(collection)} ${f.path}: ${errText(err)}`, { cause: err });
        }
        this.cache.delete(f.path);
      }
      if (removed) await fsyncDir(dir);
      return removed;
    });
  }

  leases(): LeaseBackend {
    return fileLeaseBackend(join(this.root, LEASES_DIR), this.location);
  }

  async listNamespaces(): Promise<Namespace[]> {
    const out: Namespace[] = [];
    const subdirs = async (p: string): Promise<string[]> =>
      (await readdir(p, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory() && isDnsLabel(d.name)).map((d) => d.name);
    for (const org of await subdirs(this.root)) {
      for (const env of await subdirs(join(this.root, org))) {
        const hasGateways = await stat(join(this.root, org, env, 'gateways')).then(
          (s) => s.isDirectory(),
          () => false,
        );
        if (hasGateways) out.push({ org, env });
      }
    }
    return out;
  }

  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}

const isDirectory = (p: string): Promise<boolean> =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * Leases as lock files: `<dir>/<name>/<epoch>.json`. An epoch is started by link(2)-ing a fully
 * written temp file to its name, which fails with EEXIST for every claimant but the first, so no
 * reader ever sees a half-written record and exactly one process starts each epoch. Only the
 * holder rewrites its epoch's file (rename over it), then checks that no higher epoch appeared.
 * Works across processes on one machine or a shared POSIX filesystem.
 */
export function fileLeaseBackend(dir: string, storeLocation: string): LeaseBackend {
  const leaseDir = (name: string): string => join(dir, name);
  const epochFile = (name: string, epoch: number): string => join(leaseDir(name), `${String(epoch).padStart(12, '0')}.json`);
  const epochs = async (name: string): Promise<number[]> => {
    const files = await readdir(leaseDir(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw new StoreUnavailableError(storeLocation, `cannot read lease directory ${leaseDir(name)}: ${errText(err)}`, err);
    });
    return files.filter((f) => /^\d{12}\.json$/.test(f)).map((f) => Number(f.slice(0, 12))).sort((a, b) => a - b);
  };
  const readEpoch = async (name: string, epoch: number): Promise<LeaseView | null> => {
    const path = epochFile(name, epoch);
    const body = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw new StoreUnavailableError(storeLocation, `cannot read lease ${path}: ${errText(err)}`, err);
    });
    if (body === null) return null;
    const record = parseLeaseRecord(body, path);
    return { record, version: `${record.epoch}:${record.renewedAt}:${record.expiresAt}` };
  };
  const writeTemp = async (name: string, record: { epoch: number }): Promise<string> => {
    await mkdir(leaseDir(name), { recursive: true });
    const tmp = join(leaseDir(name), `.${record.epoch}.${randomBytes(6).toString('hex')}.tmp`);
    await writeFile(tmp, JSON.stringify(record), { mode: 0o644 });
    return tmp;
  };
  return {
    location: `${storeLocation}/${LEASES_DIR}`,
    async read(name) {
      const all = await epochs(name);
      const last = all[all.length - 1];
      return last === undefined ? null : readEpoch(name, last);
    },
    async claim(name, record, prev) {
      if (record.epoch !== (prev?.record.epoch ?? 0) + 1) return null;
      const tmp = await writeTemp(name, record);
      try {
        await link(tmp, epochFile(name, record.epoch));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
        throw new StoreUnavailableError(storeLocation, `cannot create lease ${epochFile(name, record.epoch)}: ${errText(err)}`, err);
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
      // Older epochs are history nobody reads; keep the directory small.
      for (const e of await epochs(name)) if (e < record.epoch - 1) await unlink(epochFile(name, e)).catch(() => undefined);
      return { record, version: `${record.epoch}:${record.renewedAt}:${record.expiresAt}` };
    },
    async renew(name, record, current) {
      if (current.record.holder !== record.holder || current.record.epoch !== record.epoch) return null;
      const higher = async (): Promise<boolean> => (await epochs(name)).some((e) => e > record.epoch);
      if (await higher()) return null;
      const tmp = await writeTemp(name, record);
      try {
        await rename(tmp, epochFile(name, record.epoch));
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw new StoreUnavailableError(storeLocation, `cannot renew lease ${epochFile(name, record.epoch)}: ${errText(err)}`, err);
      }
      if (await higher()) return null;
      return { record, version: `${record.epoch}:${record.renewedAt}:${record.expiresAt}` };
    },
  };
}

function checkVersion(key: string, want: string | null | undefined, have: string | null): void {
  if (want === undefined) return;
  if (want !== have) throw new VersionConflictError(key, want, have);
}

/** Makes the rename durable; some filesystems refuse to fsync a directory, which is fine. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

const errText = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return e && typeof e === 'object' && 'message' in e ? (e.code ? `${e.code}: ${e.message}` : String(e.message)) : String(err);
};
