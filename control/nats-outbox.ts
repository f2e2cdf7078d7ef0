// A durable FIFO of messages not yet acknowledged by JetStream. Append-only JSONL with fsync:
//   {"op":"add","seq":1,"msg":{...}}   a message to publish
//   {"op":"done","seq":1}              JetStream acknowledged it
// On open, adds without a matching done are pending again, in seq order. A torn last line
// (crash mid-append) is skipped. The file is rewritten with only the pending entries when it
// has grown and is truncated once everything is done. One process per directory.
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export interface OutboxMessage {
  /** Nats-Msg-Id: JetStream drops a re-publish of the same id inside the duplicate window. */
  id: string;
  kind: 'change' | 'audit' | 'release';
  subject: string;
  stream: string;
  /** The JSON payload, kept as text so it is published byte for byte as first written. */
  payload: string;
}

export interface OutboxEntry {
  seq: number;
  msg: OutboxMessage;
}

type Line = { op: 'add'; seq: number; msg: OutboxMessage } | { op: 'done'; seq: number };

export class OutboxError extends Error {
  override readonly name = 'OutboxError';
}

const FILE = 'outbox.jsonl';
const COMPACT_AFTER_LINES = 1000;

export class Outbox {
  private fh: FileHandle | undefined;
  private readonly pending: OutboxEntry[] = [];
  private nextSeq = 1;
  private lines = 0;
  /** Serialises file writes: appends, acks and compaction never interleave. */
  private chain: Promise<void> = Promise.resolve();

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<Outbox> {
    const box = new Outbox(dir);
    await mkdir(dir, { recursive: true });
    await box.load();
    return box;
  }

  get path(): string {
    return join(this.dir, FILE);
  }

  depth(): number {
    return this.pending.length;
  }

  head(): OutboxEntry | undefined {
    return this.pending[0];
  }

  entries(): readonly OutboxEntry[] {
    return this.pending;
  }

  /** Appends durably (fsync) and returns once the message would survive a crash. */
  append(msg: OutboxMessage): Promise<OutboxEntry> {
    const entry = { seq: this.nextSeq++, msg };
    this.pending.push(entry);
    return this.serial(async () => {
      await this.write({ op: 'add', seq: entry.seq, msg }, true);
      return entry;
    });
  }

  /** Marks the head entry done. Not fsynced per ack: a lost ack only re-publishes, and msgID dedups. */
  ack(seq: number): Promise<void> {
    const i = this.pending.findIndex((e) => e.seq === seq);
    if (i >= 0) this.pending.splice(i, 1);
    return this.serial(async () => {
      await this.write({ op: 'done', seq }, false);
      if (this.pending.length === 0) await this.rewrite(true);
      else if (this.lines > COMPACT_AFTER_LINES) await this.rewrite(false);
    });
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.fh?.sync().catch(() => undefined);
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async load(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OutboxError(`cannot read outbox ${this.path}: ${(err as Error).message}`);
    }
    const adds = new Map<number, OutboxMessage>();
    let maxSeq = 0;
    for (const raw of text.split('\n')) {
      if (!raw.trim()) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // torn write at the end of the file
      }
      if (typeof line.seq !== 'number') continue;
      maxSeq = Math.max(maxSeq, line.seq);
      if (line.op === 'add' && isMessage(line.msg)) adds.set(line.seq, line.msg);
      else if (line.op === 'done') adds.delete(line.seq);
    }
    for (const [seq, msg] of [...adds].sort((a, b) => a[0] - b[0])) this.pending.push({ seq, msg });
    this.nextSeq = maxSeq + 1;
    // Start from a clean file holding exactly the pending entries (drops torn lines too).
    await this.rewrite(this.pending.length === 0);
  }

  private async handle(): Promise<FileHandle> {
    if (!this.fh) this.fh = await open(this.path, 'a');
    return this.fh;
  }

  private async write(line: Line, sync: boolean): Promise<void> {
    const fh = await this.handle();
    await fh.appendFile(`${JSON.stringify(line)}\n`);
    this.lines += 1;
    if (sync) await fh.sync();
  }

  /** Replaces the file with the pending entries only (atomic rename, then fsync of the dir). */
  private async rewrite(empty: boolean): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    const tmp = `${this.path}.tmp`;
    const out = await open(tmp, 'w');
    try {
      if (!empty) for (const e of this.pending) await out.appendFile(`${JSON.stringify({ op: 'add', seq: e.seq, msg: e.msg } satisfies Line)}\n`);
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, this.path);
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } catch {
      /* some filesystems refuse fsync on directories; the rename is still atomic */
    } finally {
      await d.close();
    }
    this.lines = empty ? 0 : this.pending.length;
  }
}

function isMessage(m: unknown): m is OutboxMessage {
  const o = m as Partial<OutboxMessage> | null;
  return !!o && typeof o.id === 'string' && (o.kind === 'change' || o.kind === 'audit' || o.kind === 'release') && typeof o.subject === 'string' && typeof o.stream === 'string' && typeof o.payload === 'string';
}
