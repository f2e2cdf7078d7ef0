import { open, rename, mkdir, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * Writes a file so that readers see either the old or the new content, never a torn one,
 * even across a crash: temp file in the same directory, fsync, rename, fsync the directory.
 * `durable: false` keeps the rename (no torn file for a reader or after a process crash) but
 * skips both fsyncs: for files re-created at start, where surviving a power cut is not needed.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644, opts: { syncDir?: boolean; durable?: boolean } = {}): Promise<void> {
  const durable = opts.durable !== false;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (durable && opts.syncDir !== false) await syncDirectory(dir);
}

/** Makes renames in `dir` durable; batch writers call it once after many `syncDir: false` writes. */
export async function syncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
