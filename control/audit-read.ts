// Reading the audit log back, newest first, a page at a time. The file is scanned backwards
// from the cursor in fixed-size chunks, so a page costs what it reads, not the file's size, and
// one request never scans more than `maxScanBytes` (a namespace with few records in a long log
// gets short pages with a cursor to continue from).
import { open } from 'node:fs/promises';
import { namespaceKey, type Namespace } from '../store/store.js';
import type { AuditLine } from './audit-file.js';

export interface AuditPageQuery {
  limit: number;
  /** Cursor from the previous page's `next`: only records older than it. */
  before?: string;
}

export interface AuditPage {
  records: AuditLine[];
  /** Cursor for the next (older) page; null when the log has nothing older. */
  next: string | null;
}

/** Reads pages of the audit log of one namespace. */
export interface AuditLog {
  /** Throws `AuditCursorError` for a cursor this log never handed out. */
  page(ns: Namespace, q: AuditPageQuery): Promise<AuditPage>;
}

export class AuditCursorError extends Error {
  override readonly name = 'AuditCursorError';
}

const CHUNK = 64 * 1024;

/**
 * One page of the JSON-lines file at `path`. The cursor is a byte offset: the start of the
 * oldest line returned (or scanned). Lines that do not parse are skipped, not fatal: the log is
 * append-only and a torn last line after a crash must not hide everything before it.
 */
export async function readAuditFilePage(path: string, ns: Namespace, q: AuditPageQuery, maxScanBytes = 8 * 1024 * 1024): Promise<AuditPage> {
  const want = namespaceKey(ns);
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (q.before !== undefined && q.before !== '0') throw new AuditCursorError(`cursor ${q.before} is past the end of the audit log`);
      return { records: [], next: null };
    }
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const before = q.before === undefined ? size : Number(q.before);
    if (!Number.isSafeInteger(before) || before < 0 || before > size) throw new AuditCursorError(`cursor ${JSON.stringify(q.before)} is not a position in the audit log (it has ${size} bytes)`);
    const records: AuditLine[] = [];
    // Invariant: everything from `lineStart` on has been looked at; `pending` holds the bytes of
    // the line that ends just before `lineStart` and starts before `chunkStart` (read, not yet whole).
    let lineStart = before;
    let chunkStart = before;
    let pending = Buffer.alloc(0);
    let scanned = 0;
    const take = (line: Buffer): void => {
      const rec = parseLine(line.toString('utf8').trim());
      if (rec && rec.namespace === want) records.push(rec);
    };
    while (chunkStart > 0 && records.length < q.limit && scanned < maxScanBytes) {
      const start = Math.max(0, chunkStart - CHUNK);
      const buf = Buffer.alloc(chunkStart - start);
      await fh.read(buf, 0, buf.length, start);
      scanned += buf.length;
      chunkStart = start;
      const data = pending.length > 0 ? Buffer.concat([buf, pending]) : buf;
      let lineEnd = data.length;
      for (let i = data.length - 1; i >= 0 && records.length < q.limit; i--) {
        if (data[i] !== 0x0a) continue;
        if (i + 1 < lineEnd) take(data.subarray(i + 1, lineEnd));
        lineEnd = i;
        lineStart = start + i + 1;
      }
      pending = data.subarray(0, lineEnd);
      if (start === 0 && records.length < q.limit) {
        // The file's first line has no newline before it.
        if (pending.length > 0) take(pending);
        pending = Buffer.alloc(0);
        lineStart = 0;
      }
    }
    return { records, next: lineStart > 0 ? String(lineStart) : null };
  } finally {
    await fh.close();
  }
}

function parseLine(line: string): AuditLine | null {
  try {
    const v = JSON.parse(line) as Partial<AuditLine>;
    return typeof v === 'object' && v !== null && typeof v.id === 'string' && typeof v.at === 'string' && typeof v.action === 'string' ? (v as AuditLine) : null;
  } catch {
    return null;
  }
}
