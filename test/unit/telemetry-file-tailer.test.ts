import { appendFile, copyFile, readFile, rename, truncate, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { createLogger } from '../../runtime/log.js';
import { FileTailer, type TailLine } from '../../agent/telemetry/file-tailer.js';

interface Ctx {
  dir: { path: string; remove: () => Promise<void> };
  tailers: FileTailer[];
}
const S = suite<Ctx>('telemetry: file tailer (offsets after ack, rotation, restart)');
S.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-tail-');
  ctx.tailers = [];
});
S.after.each(async (ctx) => {
  for (const t of ctx.tailers) await t.stop().catch(() => undefined);
  await ctx.dir.remove();
});

function tailer(ctx: Ctx, seen: TailLine[], extra: { maxLineBytes?: number; fingerprintBytes?: number } = {}): FileTailer {
  const t = new FileTailer({
    path: join(ctx.dir.path, 'haproxy.log'),
    statePath: join(ctx.dir.path, 'offsets.json'),
    pollIntervalMs: 10,
    persistIntervalMs: 0,
    fingerprintBytes: 64,
    onLines: async (lines) => void seen.push(...lines),
    ...(process.env.TAIL_DEBUG ? { logger: createLogger({ level: 'debug' }) } : {}),
    ...extra,
  });
  ctx.tailers.push(t);
  return t;
}

const lines = (from: number, n: number): string => Array.from({ length: n }, (_, i) => `line-${from + i} ${'x'.repeat(20)}\n`).join('');
const texts = (seen: TailLine[]): string[] => seen.map((l) => l.line.split(' ')[0]!);
const range = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `line-${from + i}`);

S('offsets advance only over acked lines (out-of-order acks), restart resumes there', async (ctx) => {
  const file = join(ctx.dir.path, 'haproxy.log');
  await writeFile(file, lines(0, 5));
  const seen: TailLine[] = [];
  const t = tailer(ctx, seen);
  await t.start();
  await waitFor(() => seen.length === 5, { what: '5 lines' });
  await appendFile(file, 'partial-without-newline');
  await appendFile(file, ' still\n'); // completes one line
  await waitFor(() => seen.length === 6, { what: '6 lines' });
  assert.is(seen[5]!.line, 'partial-without-newline still');
  // Ack 0,1 and 3 (2 is still being retried): committed stops after line 1.
  t.ack([seen[3]!.ack, seen[0]!.ack, seen[1]!.ack]);
  assert.is(t.stats().committed, seen[1]!.ack.offset);
  await t.stop();
  const state = JSON.parse(await readFile(join(ctx.dir.path, 'offsets.json'), 'utf8')) as { offset: number };
  assert.is(state.offset, seen[1]!.ack.offset);
  const again: TailLine[] = [];
  const t2 = tailer(ctx, again);
  await t2.start();
  await waitFor(() => again.length === 4, { what: 're-sent unacked lines' });
  assert.equal(texts(again), ['line-2', 'line-3', 'line-4', 'partial-without-newline']);
  t2.ack(again.map((l) => l.ack));
  assert.is(t2.stats().committed, (await readFile(file)).length);
});

S('rotation by rename: old file drained (incl. writes after the rename), new file read from 0, nothing twice', async (ctx) => {
  const file = join(ctx.dir.path, 'haproxy.log');
  await writeFile(file, lines(0, 3));
  const seen: TailLine[] = [];
  const t = tailer(ctx, seen);
  await t.start();
  await waitFor(() => seen.length === 3, { what: '3 lines' });
  const writer = await open(file, 'a');
  await rename(file, `${file}.1`);
  await writer.write(lines(3, 2)); // the writer has not reopened yet
  await writer.close();
  await writeFile(file, lines(5, 3));
  await waitFor(() => seen.length === 8, { what: '8 lines' });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(texts(seen), range(0, 8));
  assert.is(t.stats().rotations, 1);
});

S('copytruncate: truncation detected, new content read from the start', async (ctx) => {
  const file = join(ctx.dir.path, 'haproxy.log');
  await writeFile(file, lines(0, 4));
  const seen: TailLine[] = [];
  const t = tailer(ctx, seen);
  await t.start();
  await waitFor(() => seen.length === 4, { what: '4 lines' });
  await copyFile(file, `${file}.1`);
  await truncate(file, 0);
  await waitFor(() => t.stats().truncations === 1, { what: 'truncation noticed' });
  await appendFile(file, lines(4, 2));
  await waitFor(() => seen.length === 6, { what: '6 lines' });
  // Truncated and refilled past the old offset before the next poll: the fingerprint notices.
  await t.stop();
  const seen2: TailLine[] = [];
  const t2 = tailer(ctx, seen2);
  await t2.start();
  await waitFor(() => seen2.length === 2, { what: 'unacked lines again after restart' });
  t2.ack(seen2.map((l) => l.ack));
  await writeFile(file, lines(100, 10)); // truncate + bigger content, same inode
  // The identity check runs before every read; a replacement landing between check and read (a window of one
  // syscall, inherent to copytruncate) could show a stray partial read first, so assert on the tail.
  await waitFor(() => JSON.stringify(texts(seen2).slice(-10)) === JSON.stringify(range(100, 10)), { what: 'replaced content' });
  assert.equal(texts(seen).slice(4), ['line-4', 'line-5']);
  assert.equal(texts(seen2).slice(0, 2), ['line-4', 'line-5']);
  assert.ok(t2.stats().truncations >= 1);
});

S('a different file at the path after restart is read from the start; oversized lines are skipped', async (ctx) => {
  const file = join(ctx.dir.path, 'haproxy.log');
  await writeFile(file, lines(0, 3));
  const seen: TailLine[] = [];
  const t = tailer(ctx, seen, { maxLineBytes: 100 });
  await t.start();
  await waitFor(() => seen.length === 3, { what: '3 lines' });
  t.ack(seen.map((l) => l.ack));
  await t.stop();
  await rename(file, `${file}.1`);
  await writeFile(file, `${lines(50, 1)}${'y'.repeat(200_000)}\n${lines(51, 1)}`);
  const seen2: TailLine[] = [];
  const t2 = tailer(ctx, seen2, { maxLineBytes: 100 });
  await t2.start();
  await waitFor(() => seen2.length === 2, { what: '2 lines' });
  assert.equal(texts(seen2), ['line-50', 'line-51']);
  assert.is(t2.stats().skippedLines, 1);
  t2.ack(seen2.map((l) => l.ack));
  assert.is(t2.stats().committed, (await readFile(file)).length, 'skipped line does not hold the offset back');
});

S.run();
