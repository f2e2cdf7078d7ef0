// The console's first render of the gateways list, in Debian's Chromium, against a real control
// API with NATS, an agent and HAProxy: the browser test's timing run, repeated BENCH_CONSOLE_RUNS
// times (default 20), with the phases from the browser's Navigation and Resource Timing. Prints a
// table; the raw samples are in .cache/console-first-render.json.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../runtime/package-root.js';
import { progress } from './lib.js';

interface Report {
  samples_ms: Record<'sign_in' | 'reload', number[]>;
  phases: Array<Record<string, number | string | null>>;
  build: { js_bytes: number; js_gzip_bytes: number; css_gzip_bytes: number };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

export async function consoleBench(): Promise<string> {
  const runs = process.env.BENCH_CONSOLE_RUNS ?? '20';
  const root = packageRoot();
  progress(`console: ${runs} first renders in Chromium (the browser test's setup)`);
  let out = '';
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'test', 'integration', 'console-browser.test.js')], { cwd: root, env: { ...process.env, WEIR_CONSOLE_RENDER_RUNS: runs }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`the console browser test failed (exit ${code}):\n${out.slice(-4000)}`);
  const r = JSON.parse(await readFile(join(root, '.cache', 'console-first-render.json'), 'utf8')) as Report;
  const rows = (['sign_in', 'reload'] as const).map((kind) => {
    const ph = r.phases.filter((p) => p.kind === kind);
    const col = (k: string): string => {
      const v = median(ph.map((p) => p[k]).filter((x): x is number => typeof x === 'number'));
      return Number.isNaN(v) ? '—' : v.toFixed(0);
    };
    const s = [...r.samples_ms[kind]].sort((a, b) => a - b);
    const label = kind === 'sign_in' ? '`Sign in` clicked → list' : 'reload of a signed-in tab (deep link)';
    return `| ${label} | ${s.length} | ${median(s).toFixed(0)} | ${(s[0] ?? NaN).toFixed(0)} | ${(s.at(-1) ?? NaN).toFixed(0)} | ${col('html_ms')} | ${col('js_ms')} | ${col('whoami_ms')} | ${col('list_ms')} |`;
  });
  return [
    `| from | runs | first render p50 ms | min | max | HTML loaded | JS loaded | whoami answered | list answered |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    ...rows,
    '',
    `First page: JavaScript ${(r.build.js_bytes / 1024).toFixed(1)} KiB, ${(r.build.js_gzip_bytes / 1024).toFixed(1)} KiB gzipped (budget 50 KiB); CSS ${(r.build.css_gzip_bytes / 1024).toFixed(1)} KiB gzipped.`,
  ].join('\n');
}
