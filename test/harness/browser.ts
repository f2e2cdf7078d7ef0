// Debian's Chromium driven by playwright-core: no browser download (`npx playwright install`
// fails here). Headless with the flags the machine notes give, a fresh profile per launch.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { packageRoot } from '../../runtime/package-root.js';

export const CHROMIUM = process.env.WEIR_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (bash scripts/ensure-system-deps.sh does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
}

/**
 * Where screenshots go: `.cache/screenshots` on every run; `docs/images` with
 * WEIR_SCREENSHOTS=docs (`make screenshots`), so a test run does not rewrite committed images.
 */
export async function screenshotDir(): Promise<string> {
  const dir = process.env.WEIR_SCREENSHOTS === 'docs' ? join(packageRoot(), 'docs', 'images') : join(packageRoot(), '.cache', 'screenshots');
  await mkdir(dir, { recursive: true });
  return dir;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(await screenshotDir(), `${name}.png`), fullPage: true });
}

/**
 * Uncaught errors and errors the page logged (CSP violations among them): a console test fails
 * on any. Chromium's "Failed to load resource" lines for API answers of 4xx/5xx are left out:
 * the screens show those answers by design.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of [45]\d\d/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core (WCAG 2.1 A/AA rules) on the page as it is now. The engine is evaluated through
 * the DevTools protocol, which the page's CSP does not govern, so the page keeps its real CSP.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  const { readFile } = await import('node:fs/promises');
  const { createRequire } = await import('node:module');
  const source = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  return (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) =>
    r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) })))`)) as AxeViolation[];
}
