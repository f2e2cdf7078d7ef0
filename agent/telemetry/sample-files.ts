/**
 * The directory of per-route log sampling pattern files (sample-acl.ts) and its one invariant: every file
 * the config on disk names exists. HAProxy refuses a config naming a missing `-f` file, at the check and at
 * every reload or restart of its master, so:
 * - `ensure(config)` runs before a config is checked or written (a new route's file appears with
 *   `newFileThreshold`: keep-all, or the fixed `1/N` threshold);
 * - `prune(config)` runs only once `config` is installed and HAProxy runs it: files no config on disk
 *   names any more go (a failed reload puts the previous config back, which still names them).
 * All file operations run one at a time, in call order.
 */
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { backendOfSampleAclFile, KEEP_ALL, parseSampleAcl, referencedSampleBackends, sampleAclPath, sampleAclText } from './sample-acl.js';

export class SampleFileError extends Error {
  override readonly name = 'SampleFileError';
  constructor(path: string, what: string, cause: unknown) {
    super(`log sampling: cannot ${what} ${path}: ${cause instanceof Error ? cause.message : String(cause)} (HAProxy's config names this file; check that WEIR_STATE_DIR is writable)`, { cause });
  }
}

export interface SampleFilesOptions {
  dir: string;
  /** Threshold a route's first file gets (KEEP_ALL, or the fixed mode's). */
  newFileThreshold: number;
  /** The single map file of earlier agent versions: deleted once the config on disk no longer names it. */
  legacyMapPath?: string;
}

export class SampleFiles {
  /** Backend → threshold in its file on disk. */
  private readonly onDisk = new Map<string, number>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SampleFilesOptions) {}

  get dir(): string {
    return this.opts.dir;
  }

  /** Reads the files a previous agent left: what a running HAProxy this agent adopts has loaded. */
  start(): Promise<ReadonlyMap<string, number>> {
    return this.serial(async () => {
      const dir = this.opts.dir;
      await mkdir(dir, { recursive: true }).catch((err: unknown) => {
        throw new SampleFileError(dir, 'create the directory', err);
      });
      for (const name of await readdir(dir)) {
        // Temp files of a write interrupted by a crash (writeFileAtomic names them `.<name>.<pid>.<ms>.tmp`).
        if (name.startsWith('.') && name.endsWith('.tmp')) {
          await unlink(join(dir, name)).catch(() => undefined);
          continue;
        }
        const backend = backendOfSampleAclFile(name);
        if (backend === null) continue;
        const text = await readFile(join(dir, name), 'utf8').catch(() => '');
        // No valid range: HAProxy matched nothing, i.e. logged every request.
        this.onDisk.set(backend, parseSampleAcl(text) ?? KEEP_ALL);
      }
      return new Map(this.onDisk);
    });
  }

  /** Thresholds in the files now. */
  thresholds(): ReadonlyMap<string, number> {
    return this.onDisk;
  }

  has(backend: string): boolean {
    return this.onDisk.has(backend);
  }

  /**
   * Before `config` is checked or written: each file it names exists (new ones get `newFileThreshold`).
   * Returns the files new to this directory's view, with their thresholds.
   */
  ensure(config: string): Promise<Map<string, number>> {
    const wanted = referencedSampleBackends(config, this.opts.dir);
    return this.serial(async () => {
      const added = new Map<string, number>();
      for (const backend of wanted) {
        if (this.onDisk.has(backend)) continue;
        const path = sampleAclPath(this.opts.dir, backend);
        // Left by an agent that did not read the directory (or written by hand): keep what HAProxy may have.
        const existing = await readFile(path, 'utf8').catch(() => null);
        if (existing !== null) this.onDisk.set(backend, parseSampleAcl(existing) ?? KEEP_ALL);
        else await this.writeOne(backend, this.opts.newFileThreshold);
        added.set(backend, this.onDisk.get(backend) ?? KEEP_ALL);
      }
      return added;
    });
  }

  /** After `config` is installed and running: files it does not name go. Returns the backends removed. */
  prune(config: string): Promise<string[]> {
    const wanted = referencedSampleBackends(config, this.opts.dir);
    return this.serial(async () => {
      const removed: string[] = [];
      for (const backend of [...this.onDisk.keys()]) {
        if (wanted.has(backend)) continue;
        await unlink(sampleAclPath(this.opts.dir, backend)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw new SampleFileError(sampleAclPath(this.opts.dir, backend), 'remove', err);
        });
        this.onDisk.delete(backend);
        removed.push(backend);
      }
      const legacy = this.opts.legacyMapPath;
      if (legacy && !config.includes(legacy)) await unlink(legacy).catch(() => undefined);
      return removed;
    });
  }

  /**
   * New thresholds into the files (a reload in between loads them); backends without a file (their route
   * is gone) are skipped. Returns the changes written, for the runtime push.
   */
  write(changes: ReadonlyArray<readonly [string, number]>): Promise<Array<[string, number]>> {
    return this.serial(async () => {
      const written: Array<[string, number]> = [];
      for (const [backend, threshold] of changes) {
        if (!this.onDisk.has(backend)) continue;
        await this.writeOne(backend, threshold);
        written.push([backend, threshold]);
      }
      return written;
    });
  }

  path(backend: string): string {
    return sampleAclPath(this.opts.dir, backend);
  }

  private async writeOne(backend: string, threshold: number): Promise<void> {
    const path = sampleAclPath(this.opts.dir, backend);
    try {
      // Renamed into place: a reload never reads a half-written file. Not fsynced: after a power cut the
      // agent writes any missing file again before the config is used, and an empty one means keep-all.
      await writeFileAtomic(path, sampleAclText(threshold), 0o644, { durable: false });
    } catch (err) {
      throw new SampleFileError(path, 'write', err);
    }
    this.onDisk.set(backend, threshold);
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
