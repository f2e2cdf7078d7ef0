// Audit sinks: JSON lines appended and fsynced under the control state dir, and an in-memory
// one for tests. A NATS-backed sink implements the same AuditSink seam.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { namespaceKey, type Namespace } from '../store/store.js';
import type { AuditRecord } from '../events/contract.js';
import type { AuditSink } from './seams.js';
import { AuditCursorError, readAuditFilePage, type AuditLog, type AuditPage, type AuditPageQuery } from './audit-read.js';

export interface AuditLine extends AuditRecord {
  /** `org/env`, or null for writes outside a namespace. */
  namespace: string | null;
}

export class FileAuditSink implements AuditSink, AuditLog {
  private fh: FileHandle | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  /** Appends one line and fsyncs before resolving; appends are serialised so lines never interleave. */
  record(ns: Namespace | null, rec: AuditRecord): Promise<void> {
    const line: AuditLine = { namespace: ns ? namespaceKey(ns) : null, ...rec };
    const run = this.chain.then(async () => {
      if (!this.fh) {
        await mkdir(dirname(this.path), { recursive: true });
        this.fh = await open(this.path, 'a', 0o600);
      }
      await this.fh.appendFile(JSON.stringify(line) + '\n');
      await this.fh.sync();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Newest first; waits for appends in flight, so a write's record is on the next page read. */
  async page(ns: Namespace, q: AuditPageQuery): Promise<AuditPage> {
    await this.chain;
    return readAuditFilePage(this.path, ns, q);
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh?.close();
    this.fh = undefined;
  }
}

export class MemoryAuditSink implements AuditSink, AuditLog {
  readonly lines: AuditLine[] = [];
  async record(ns: Namespace | null, rec: AuditRecord): Promise<void> {
    this.lines.push({ namespace: ns ? namespaceKey(ns) : null, ...rec });
  }
  /** The cursor is the index in `lines` below which to look. */
  async page(ns: Namespace, q: AuditPageQuery): Promise<AuditPage> {
    const before = q.before === undefined ? this.lines.length : Number(q.before);
    if (!Number.isSafeInteger(before) || before < 0 || before > this.lines.length) throw new AuditCursorError(`cursor ${JSON.stringify(q.before)} is not a position in the audit log`);
    const records: AuditLine[] = [];
    let i = before - 1;
    for (; i >= 0 && records.length < q.limit; i--) {
      const l = this.lines[i] as AuditLine;
      if (l.namespace === namespaceKey(ns)) records.push(l);
    }
    return { records, next: i + 1 > 0 ? String(i + 1) : null };
  }
}
