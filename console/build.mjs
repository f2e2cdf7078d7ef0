#!/usr/bin/env node
// Builds the Weir console into dist/ui: one ES module bundle and one stylesheet with content
// hashes in their names (served immutable), index.html pointing at them (served no-cache), and
// the favicon. Fails when the first page's JavaScript is over the budget (50 KiB gzipped).
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const here = new URL('.', import.meta.url).pathname;
const out = join(here, '..', 'dist', 'ui');
const BUDGET = 50 * 1024;

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: { app: join(here, 'src', 'main.tsx') },
  bundle: true,
  format: 'esm',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  minify: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: 'assets/[name]-[hash]',
  assetNames: 'assets/[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => p.replace(/^.*dist\/ui\//, ''));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (!js || !css) throw new Error(`console build: expected one .js and one .css, got ${outputs.join(', ')}`);
const html = (await readFile(join(here, 'index.html'), 'utf8')).replace('{{js}}', js).replace('{{css}}', css);
await writeFile(join(out, 'index.html'), html);
await copyFile(join(here, 'favicon.svg'), join(out, 'favicon.svg'));
const jsBytes = await readFile(join(out, js));
const gz = gzipSync(jsBytes, { level: 9 }).length;
const cssGz = gzipSync(await readFile(join(out, css)), { level: 9 }).length;
const report = { js, css, js_bytes: jsBytes.length, js_gzip_bytes: gz, css_gzip_bytes: cssGz, budget_gzip_bytes: BUDGET };
await writeFile(join(out, 'build-report.json'), JSON.stringify(report, null, 2) + '\n');
console.log(`console: ${basename(js)} ${(jsBytes.length / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET / 1024} KiB); ${basename(css)} ${(cssGz / 1024).toFixed(1)} KiB gzipped`);
if (gz > BUDGET) {
  console.error(`console: the first page's JavaScript is ${(gz / 1024).toFixed(1)} KiB gzipped, over the ${BUDGET / 1024} KiB budget`);
  process.exit(1);
}
