#!/usr/bin/env node
// Adds the closing lines of the per-Node-version runs into the one line CI reads.
import { readFileSync } from 'node:fs';
let passed = 0, failed = 0;
for (const file of process.argv.slice(2)) {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { failed += 1; continue; }
  const m = [...text.matchAll(/^(\d+) passed, (\d+) failed/gm)].pop();
  if (!m) { failed += 1; continue; }
  passed += Number(m[1]);
  failed += Number(m[2]);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
