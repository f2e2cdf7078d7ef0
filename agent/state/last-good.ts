// The last-good cache: after every successful apply, everything needed to serve again
// without the store (rendered config, map files, the gateway definitions that produced
// them) goes into one JSON file with a checksum, written atomically. On start, when the
// store cannot be read, the agent boots HAProxy from it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import type { StoreEntry } from '../../store/store.js';

export const CACHE_FORMAT = 1;

export interface LastGood {
  format: number;
  namespace: string;
  writtenAt: string;
  /** The stored definitions of the gateways being served, as the store held them. */
  entries: StoreEntry[];
  config: string;
  maps: Record<string, string>;
  /** [edge] crt-lists and certificate PEMs (the cache file is 0600: they hold private keys). */
  tlsFiles?: Record<string, string>;
  configChecksum: string;
}

export class CacheError extends Error {
  override readonly name = 'CacheError';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`last-good cache ${path} ignored: ${reason}`);
  }
}

function digest(body: Omit<LastGood, never>): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

export async function writeLastGood(path: string, value: Omit<LastGood, 'format' | 'writtenAt'>): Promise<void> {
  const body: LastGood = { format: CACHE_FORMAT, writtenAt: new Date().toISOString(), ...value };
  const doc = { checksum: digest(body), body };
  await writeFileAtomic(path, JSON.stringify(doc), 0o600);
}

/** Returns null when there is no cache; throws CacheError when one exists but cannot be trusted. */
export async function readLastGood(path: string, namespace: string): Promise<LastGood | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CacheError(path, `unreadable: ${(err as Error).message}`);
  }
  let doc: { checksum?: unknown; body?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new CacheError(path, 'not valid JSON (truncated or corrupted)');
  }
  const body = doc.body as LastGood | undefined;
  if (!body || typeof doc.checksum !== 'string') throw new CacheError(path, 'missing checksum or body');
  if (digest(body) !== doc.checksum) throw new CacheError(path, 'checksum mismatch (corrupted or edited by hand)');
  if (body.format !== CACHE_FORMAT) throw new CacheError(path, `format ${String(body.format)} is not ${CACHE_FORMAT}`);
  if (body.namespace !== namespace) throw new CacheError(path, `it belongs to namespace ${body.namespace}, not ${namespace}`);
  return body;
}
