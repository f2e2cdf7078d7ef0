#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own process with the
// current node binary, two at a time, and prints one closing line: "N passed, N failed".
// Files run in separate processes so a crashed HAProxy harness cannot take others down.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const filters = process.argv.slice(2);
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 240_000);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = walk(testDir).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
// Heavier integration files first so the two lanes finish close together.
files.sort((a, b) => Number(b.includes('/integration/')) - Number(a.includes('/integration/')));

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\n[runner] killed after ${fileTimeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, fileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const num = (label) => {
        const m = out.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'));
        return m ? m.reduce((s, line) => s + Number(line.match(/(\d+)\s*$/)[1]), 0) : 0;
      };
      const total = num('Total');
      let p = num('Passed');
      let s = num('Skipped');
      let f = total - p - s;
      if (code !== 0 && f <= 0) f = 1; // crashed or hung: count the file as one failure
      passed += p;
      failed += f;
      skipped += s;
      const rel = relative(root, file);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`${f > 0 ? 'FAIL' : 'ok  '} ${rel} (${p} passed, ${f} failed, ${secs}s)`);
      if (f > 0) failures.push({ rel, out });
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.max(1, concurrency) }, async () => {
    while (queue.length) await runFile(queue.shift());
  }),
);

for (const { rel, out } of failures) {
  console.log(`\n---- output of ${rel} ----\n${out.trim()}\n`);
}
console.log(`node ${process.version}: ${files.length} test files`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
