// The console in a real browser (Debian's Chromium via playwright-core) against a real control
// API with NATS, a real agent and real HAProxy: sign in, the gateways list, weights changed in the
// UI reach the agent and the traffic, a refused change shows the API's error and changes nothing,
// a viewer sees no write controls (and a forged write is refused), another client's change shows
// up live, live traffic shows as the API's series from the agent's closed windows, and a release
// on live traffic is driven by the real controller and the buttons. Screenshots of each screen;
// the first render of the list is timed (docs/BENCHMARKS.md).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { packageRoot } from '../../runtime/package-root.js';
import { axeViolations, collectPageErrors, launchChromium, screenshot } from '../harness/browser.js';
import { Cleanup, gwPath, launchE2EAgent, scratch, startE2EControl, storeFile, until, waitApplied, waitConverged, type E2EAgent, type E2EControl } from '../harness/e2e.js';
import { tally } from '../harness/http.js';
import { startNatsServer } from '../harness/nats.js';
import { freePort } from '../harness/ports.js';
import { startLoad } from '../harness/release-e2e.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

interface World {
  control: E2EControl;
  agent: E2EAgent;
  browser: Browser;
  port: number;
  deployer: string;
  viewer: string;
  ui: string;
  /** Script errors and CSP violations, per page opened. */
  errors: string[][];
}

const t = suite<{ w: World }>('console in Chromium (control API + NATS + agent + HAProxy)');
const cleanup = new Cleanup();
let world: World | undefined;

t.before(async (ctx) => {
  const dir = await scratch(cleanup, 'weir-console-');
  const root = join(dir, 'store');
  await mkdir(join(root, 'default', 'default', 'gateways'), { recursive: true });
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  // With its release controller, as `weir control` runs it: the release screens show real runs.
  const control = await startE2EControl({ store: storeFile(root), natsUrl: nats.url, stateDir: join(dir, 'control'), releases: true, env: { WEIR_RELEASE_SWEEP_MS: '1000' } });
  cleanup.add(() => control.close());
  const v1 = await httpUpstream('v1');
  const v2 = await httpUpstream('v2');
  cleanup.add(() => v1.close());
  cleanup.add(() => v2.close());
  // Telemetry on, as on `make up`: the agent publishes its closed windows on NATS for the traffic figures.
  const agent = await launchE2EAgent({ id: 'node-1', bind: '127.0.0.2', store: storeFile(root), stateDir: join(dir, 'agent'), natsUrl: nats.url, heartbeatIntervalMs: 500, env: { WEIR_TELEMETRY: 'on' } });
  cleanup.add(() => agent.stop());
  const port = await freePort('127.0.0.2');
  const issue = async (name: string, role: string): Promise<string> => {
    const r = await control.api('POST', '/api/v1/tokens', { body: { name, role, namespaces: ['default/default'] } });
    assert.is(r.status, 201, r.text);
    return r.json.token as string;
  };
  const deployer = await issue('ci', 'deployer');
  const viewer = await issue('watcher', 'viewer');
  const yaml = [
    '# the demo shop: v2 is the canary',
    `port: ${port}/http`,
    'routes:',
    '  v1:',
    '    weight: 90%',
    `    targets: ["127.0.0.1:${v1.port}"]`,
    '  v2:',
    '    weight: 10%',
    `    targets: ["127.0.0.1:${v2.port}"]`,
    '',
  ].join('\n');
  const created = await control.api('PUT', gwPath('default', 'default', 'shop'), { token: deployer, body: yaml });
  assert.is(created.status, 201, created.text);
  await waitConverged(control, 'default', 'default', 'shop', created.json.version, 1);
  const browser = await launchChromium();
  cleanup.add(() => browser.close());
  world = { control, agent, browser, port, deployer, viewer, ui: `${control.base}/ui/`, errors: [] };
  ctx.w = world;
});
t.after(() => cleanup.run());

async function newPage(w: World, token?: string): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await w.browser.newContext({ viewport: { width: 1280, height: 760 }, colorScheme: 'light', reducedMotion: 'reduce' });
  // As if signed in before in this tab: the token is in sessionStorage.
  if (token) await ctx.addInitScript({ content: `sessionStorage.setItem('weir.token', ${JSON.stringify(token)})` });
  const page = await ctx.newPage();
  w.errors.push(collectPageErrors(page));
  return { ctx, page };
}

const NS = '/api/v1/namespaces/default/default';
const routeWeights = async (w: World): Promise<Record<string, number>> => {
  const routes = (await w.control.api('GET', gwPath('default', 'default', 'shop'))).json.routes as Record<string, { weight: string | number }>;
  return Object.fromEntries(Object.entries(routes).map(([k, v]) => [k, Number.parseInt(String(v.weight), 10)]));
};
interface RunView {
  id: string;
  attempt: number;
  phase: string;
  step: { index: number };
  outcome: { code: string } | null;
  status: { conditions: Array<{ name: string; value: number | null; threshold: number | null; verdict: string }> };
}
const current = async (w: World): Promise<RunView> => (await w.control.api('GET', `${NS}/gateways/shop/releases/current`)).json as RunView;
const gatewayVersion = async (w: World): Promise<string> => (await w.control.api('GET', gwPath('default', 'default', 'shop'))).headers.get('etag')?.replace(/"/g, '') ?? '';

t('sign in with a token; a wrong one is refused with the API\'s message; the list shows the gateway with its routes', async ({ w }) => {
  const { ctx, page } = await newPage(w);
  await page.goto(w.ui);
  await page.getByLabel('Token').fill('weir_0000000000000000_notavalidsecretnotavalidsecret00');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? '', /invalid, unknown or revoked token.*401/);
  await page.getByLabel('Token').fill(w.deployer);
  await screenshot(page, 'console-sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'shop' }).waitFor();
  assert.match(page.url(), /\/ui\/default\/default\/gateways$/);
  assert.is(await page.getByLabel('Namespace').inputValue(), 'default/default');
  const rows = page.locator('table.gateways tbody tr');
  await until(async () => (await rows.count()) === 2, { what: 'two route rows' });
  assert.match((await rows.nth(0).textContent()) ?? '', /shop.*v1.*90 %/);
  assert.match((await rows.nth(1).textContent()) ?? '', /v2.*10 %/);
  await page.getByText(/converged \(1 of 1 agents\)/).waitFor();
  assert.equal(await page.evaluate('document.cookie'), '', 'no cookie');
  assert.ok(!page.url().includes('weir_'), 'no token in the URL');
  await screenshot(page, 'console-gateways');
  await ctx.close();
});

t('first render of the gateways list (timed, not asserted)', async ({ w }) => {
  // Sign in → list (the token is checked by whoami, then the list is read), then a reload of the
  // signed-in tab (a deep link: the tab's cached whoami renders at once and is re-read beside the list).
  const samples: Record<'sign_in' | 'reload', number[]> = { sign_in: [], reload: [] };
  const phases: Array<Record<string, number | string | null>> = [];
  const rendered = async (page: Page): Promise<number> => {
    await page.getByRole('link', { name: 'shop' }).waitFor();
    const at = (await page.evaluate("performance.getEntriesByName('weir:gateways-list')[0]?.startTime ?? -1")) as number;
    assert.ok(at > 0, 'the list marks its first render');
    return at;
  };
  const timing = async (page: Page, kind: string, from: number, at: number): Promise<Record<string, number | string | null>> => ({
    kind,
    ...((await page.evaluate(`(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource');
      const end = (re) => { const e = res.find((r) => re.test(r.name)); return e ? Math.round(e.responseEnd - ${from}) : null; };
      return { html_ms: ${from} ? null : Math.round(nav.responseEnd), js_ms: ${from} ? null : end(/app-.*\\.js$/), whoami_ms: end(/whoami$/), list_ms: end(/gateways$/), render_ms: Math.round(${at - from}) };
    })()`)) as Record<string, number | null>),
  });
  for (let i = 0; i < Number(process.env.WEIR_CONSOLE_RENDER_RUNS ?? 3); i++) {
    const { ctx, page } = await newPage(w);
    await page.goto(w.ui);
    await page.getByLabel('Token').fill(w.deployer);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const at = await rendered(page);
    const from = (await page.evaluate("performance.getEntriesByName('weir:sign-in')[0]?.startTime ?? -1")) as number;
    assert.ok(from > 0, 'sign-in marked');
    samples.sign_in.push(at - from);
    phases.push(await timing(page, 'sign_in', from, at));
    await page.reload();
    const again = await rendered(page);
    samples.reload.push(again);
    phases.push(await timing(page, 'reload', 0, again));
    await ctx.close();
  }
  const js = (await w.browser.newContext()).request;
  const report = JSON.parse(await (await js.get(`${w.ui}build-report.json`)).text()) as Record<string, unknown>;
  const out = join(packageRoot(), '.cache', 'console-first-render.json');
  await writeFile(out, JSON.stringify({ samples_ms: samples, phases, build: report }, null, 2) + '\n');
  process.stdout.write(`console first render of the gateways list (ms): after sign-in ${samples.sign_in.map((s) => s.toFixed(0)).join(', ')}; reload ${samples.reload.map((s) => s.toFixed(0)).join(', ')}\n`);
});

t('weights changed in the UI reach the API, the agent and the traffic', async ({ w }) => {
  const { ctx, page } = await newPage(w, w.deployer);
  await page.goto(`${w.ui}default/default/gateways/shop`);
  await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();
  await page.getByLabel('Weight of v1').fill('0');
  await page.getByLabel('Weight of v2').fill('100');
  await page.getByRole('button', { name: 'Apply weights' }).click();
  await page.getByRole('status').filter({ hasText: 'Weights applied' }).waitFor();
  const g = await w.control.api('GET', gwPath('default', 'default', 'shop'));
  assert.equal([g.json.routes.v1.weight, g.json.routes.v2.weight], [0, 100]);
  const version = await gatewayVersion(w);
  await waitApplied([w.agent], 'shop', version);
  const r = await tally(`http://127.0.0.2:${w.port}/`, 20, { concurrency: 4 });
  assert.equal(r.counts, { v2: 20 }, 'the traffic follows');
  await page.getByText('converged (1 of 1 agents)').waitFor();
  await page.getByRole('row', { name: /node-1/ }).getByText('(current)').waitFor();
  await screenshot(page, 'console-gateway');
  await ctx.close();
});

t('refused weights (70 + 60) show the API\'s message in an alert and change nothing', async ({ w }) => {
  const before = await gatewayVersion(w);
  const { ctx, page } = await newPage(w, w.deployer);
  await page.goto(`${w.ui}default/default/gateways/shop`);
  await page.getByLabel('Weight of v1').fill('70');
  await page.getByLabel('Weight of v2').fill('60');
  await page.getByRole('button', { name: 'Apply weights' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const direct = await w.control.api('PUT', gwPath('default', 'default', 'shop', '/weights'), { token: w.deployer, body: { v1: 70, v2: 60 } });
  assert.is(direct.status, 400);
  assert.ok(((await alert.textContent()) ?? '').includes(direct.json.error.message), `the alert carries the API's message: ${direct.json.error.message}`);
  assert.is(await gatewayVersion(w), before, 'nothing written');
  await screenshot(page, 'console-weights-refused');
  await ctx.close();
});

t('a viewer sees no write controls, and a forged write is refused by the API', async ({ w }) => {
  const { ctx, page } = await newPage(w, w.viewer);
  await page.goto(`${w.ui}default/default/gateways/shop`);
  await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();
  await page.getByRole('heading', { name: 'Definition' }).waitFor();
  assert.is(await page.getByRole('button', { name: 'Apply weights' }).count(), 0);
  assert.is(await page.getByRole('spinbutton').count(), 0);
  assert.is(await page.getByRole('link', { name: 'Audit' }).count(), 0);
  await page.getByText('read-only here').waitFor();
  const forged = (await page.evaluate(`(async () => {
    const res = await fetch(new URL('../api/v1/namespaces/default/default/gateways/shop/weights', document.baseURI), {
      method: 'PUT',
      headers: { authorization: 'Bearer ' + sessionStorage.getItem('weir.token'), 'content-type': 'application/json' },
      body: JSON.stringify({ v1: 50, v2: 50 }),
    });
    return { status: res.status, body: await res.text() };
  })()`)) as { status: number; body: string };
  assert.is(forged.status, 403, forged.body);
  await screenshot(page, 'console-viewer');
  await ctx.close();
});

t('another client\'s change appears without a reload (event stream)', async ({ w }) => {
  const { ctx, page } = await newPage(w, w.viewer);
  await page.goto(`${w.ui}default/default/gateways`);
  await page.locator('.live').getByText(/^✓ Live$/).waitFor();
  await page.evaluate('window.marker = 42');
  const started = Date.now();
  const r = await w.control.api('PUT', gwPath('default', 'default', 'shop', '/weights'), { token: w.deployer, body: { v1: 25, v2: 75 } });
  assert.is(r.status, 200, r.text);
  await page.locator('table.gateways tbody tr').nth(1).filter({ hasText: '75 %' }).waitFor({ timeout: 10_000 });
  const seenAfterMs = Date.now() - started;
  assert.is(await page.evaluate('window.marker'), 42, 'same page, no reload');
  process.stdout.write(`console: another client's weight change shown after ${seenAfterMs} ms\n`);
  await ctx.close();
});

t('with the event stream blocked, the console says so and polls with ETags: another change still appears', async ({ w }) => {
  const { ctx, page } = await newPage(w, w.viewer);
  await page.route('**/events', (route) => route.abort('connectionrefused'));
  const statuses: number[] = [];
  page.on('response', (r) => {
    if (/\/gateways$/.test(r.url())) statuses.push(r.status());
  });
  await page.goto(`${w.ui}default/default/gateways`);
  await page.locator('.live').getByText(/Reconnecting; polling|Offline; polling/).waitFor();
  await until(() => statuses.includes(304), { what: 'a poll answered 304 Not Modified', timeoutMs: 15_000, intervalMs: 100 });
  const r = await w.control.api('PUT', gwPath('default', 'default', 'shop', '/weights'), { token: w.deployer, body: { v1: 40, v2: 60 } });
  assert.is(r.status, 200, r.text);
  await page.locator('table.gateways tbody tr').nth(1).filter({ hasText: '60 %' }).waitFor({ timeout: 15_000 });
  await ctx.close();
  // The refused stream connections are this test's doing; anything else on the page still counts.
  const mine = w.errors.at(-1) ?? [];
  w.errors[w.errors.length - 1] = mine.filter((e) => !e.includes('net::ERR_CONNECTION_REFUSED'));
});

t('agents and audit screens', async ({ w }) => {
  const { ctx, page } = await newPage(w, w.deployer);
  await page.goto(`${w.ui}default/default/agents`);
  const row = page.getByRole('row', { name: /node-1/ });
  await row.waitFor();
  assert.match((await row.textContent()) ?? '', /ok/);
  await screenshot(page, 'console-agents');
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { name: 'Audit' }).waitFor();
  await page.getByRole('cell', { name: 'gateway.weights' }).first().waitFor();
  assert.match((await page.locator('table tbody tr').first().textContent()) ?? '', /ci \(.*\).*gateway\.weights.*gateway shop/);
  await screenshot(page, 'console-audit');
  // keyboard: after the skip link, the namespace picker, reachable with Tab, with a visible focus ring
  await page.reload();
  await page.getByRole('heading', { name: 'Audit' }).waitFor();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const focused = (await page.evaluate('({ tag: document.activeElement?.tagName, outline: getComputedStyle(document.activeElement).outlineStyle })')) as { tag: string; outline: string };
  assert.is(focused.tag, 'SELECT');
  assert.is.not(focused.outline, 'none');
  await ctx.close();
});

t('a release started from a policy and driven from the buttons', async ({ w }) => {
  const policy = await readFile(join(packageRoot(), 'examples', 'release-policies', 'canary.yaml'), 'utf8');
  const put = await w.control.api('PUT', '/api/v1/namespaces/default/default/release-policies/canary', { token: w.deployer, body: policy });
  assert.is(put.status, 201, put.text);
  const { ctx, page } = await newPage(w, w.deployer);
  await page.goto(`${w.ui}default/default/gateways/shop`);
  await page.getByRole('link', { name: 'Releases of shop' }).click();
  await page.getByRole('heading', { level: 1, name: 'Releases of shop' }).waitFor();
  await page.getByLabel('Policy').selectOption('canary');
  await page.getByLabel('Source route').selectOption('v1');
  await page.getByLabel('Target route').selectOption('v2');
  await page.getByRole('button', { name: 'Start release' }).click();
  const timeline = page.locator('ol.timeline li');
  await until(async () => (await timeline.count()) === 3, { what: 'the three steps of the policy' });
  assert.match((await timeline.nth(0).textContent()) ?? '', /current.*canary-5: v1 95 % \/ v2 5 %/);
  assert.match((await timeline.nth(2).textContent()) ?? '', /to come.*half/);
  const run = async (): Promise<{ id: string; phase: string; pauseReasons: Array<{ reason: string }>; status: { actions: Record<string, { allowed: boolean }> } }> =>
    (await w.control.api('GET', '/api/v1/namespaces/default/default/gateways/shop/releases/current')).json;
  const id = (await run()).id;
  await page.getByRole('heading', { name: `Release ${id}` }).waitFor();

  await page.getByRole('button', { name: 'Pause' }).click();
  await page.getByText(/Manual since/).waitFor();
  const paused = await run();
  assert.equal(paused.pauseReasons.map((p) => p.reason), ['Manual']);
  assert.equal(
    Object.fromEntries(Object.entries(paused.status.actions).map(([a, v]) => [a, v.allowed])),
    { approve: false, pause: false, resume: true, abort: true, promote: true, retry: false },
    'the API tells which actions apply to a run paused by hand',
  );
  await until(async () => await page.getByRole('button', { name: 'Pause' }).isDisabled(), { what: 'Pause disabled while paused by hand' });
  await page.getByRole('button', { name: 'Resume' }).click();
  await until(async () => (await run()).pauseReasons.length === 0, { what: 'resumed' });
  await page.getByText(/Manual since/).waitFor({ state: 'detached' });

  await page.getByRole('button', { name: 'Abort' }).click();
  await page.getByRole('button', { name: 'Yes, abort' }).click();
  await until(async () => (await run()).phase === 'Aborted', { what: 'aborted' });
  await page.locator('#run-h + dl').getByText(/^! Aborted$/).waitFor();
  assert.is(await page.getByRole('button', { name: 'Approve' }).isDisabled(), true, 'the API says approve does not apply now');
  await screenshot(page, 'console-release-aborted');

  const viewer = await newPage(w, w.viewer);
  await viewer.page.goto(`${w.ui}default/default/gateways/shop/releases`);
  await viewer.page.getByRole('heading', { name: `Release ${id}` }).waitFor();
  assert.is(await viewer.page.getByRole('button', { name: 'Abort' }).count(), 0, 'a viewer has no release buttons');
  assert.is(await viewer.page.getByRole('button', { name: 'Start release' }).count(), 0);
  await viewer.ctx.close();
  await ctx.close();
});

t('a release on live traffic, driven by the controller: timeline, samples against the minimum, condition values; Approve, Abort, Retry and Promote move the phase on screen', async ({ w }) => {
  const policy = [
    'name: quick',
    'interval: 10s',
    'defaults: { minSamples: 5 }',
    'conditions:',
    "  - { name: errors, value: 'lower(target.errorRate) <= upper(source.errorRate) * 1.2 + 0.001' }",
    "  - { name: latency, value: 'target.p95 <= max(source.p95 * 1.5, 100ms)' }",
    'steps:',
    '  - { name: first, source: { weight: 50 }, target: { weight: 50 }, endAfter: { duration: 10s } }',
    '  - { name: second, gate: confirm, source: { weight: 20 }, target: { weight: 80 }, endAfter: { duration: 1h } }',
    '',
  ].join('\n');
  const put = await w.control.api('PUT', `${NS}/release-policies/quick`, { token: w.deployer, body: policy });
  assert.is(put.status, 201, put.text);
  const snapshot = await routeWeights(w);
  const load = startLoad(`http://127.0.0.2:${w.port}/`, 20, { keepHits: false });
  const { ctx, page } = await newPage(w, w.deployer);
  try {
    await page.goto(`${w.ui}default/default/gateways/shop/releases`);
    await page.getByRole('heading', { level: 1, name: 'Releases of shop' }).waitFor();
    await page.getByLabel('Policy').selectOption('quick');
    await page.getByLabel('Source route').selectOption('v1');
    await page.getByLabel('Target route').selectOption('v2');
    await page.getByRole('button', { name: 'Start release' }).click();
    const phase = page.locator('#run-h + dl dd').first();
    const onScreen = (p: string) => until(async () => new RegExp(`^\\W*${p}\\b`).test(((await phase.textContent()) ?? '').trim()), { what: `phase ${p} on screen`, timeoutMs: 30_000, intervalMs: 100 });
    const timeline = page.locator('ol.timeline li');
    await until(async () => /current.*first: v1 50 % \/ v2 50 %.* left/.test((await timeline.nth(0).textContent()) ?? ''), { what: 'step first current with its time left', timeoutMs: 20_000, intervalMs: 100 }).catch(async (err: Error) => {
      // Say where the run is (the screen and the API), not only that the screen did not show it.
      const run = (await w.control.api('GET', `${NS}/gateways/shop/releases/current`, { token: w.deployer })).json as { phase?: string; step?: unknown; pauseReasons?: unknown; transitions?: unknown[] } | null;
      const agent = await w.agent.status().catch(() => null);
      throw new Error(`${err.message}; timeline: ${JSON.stringify(await timeline.allTextContents())}; run: ${JSON.stringify({ phase: run?.phase, step: run?.step, pauseReasons: run?.pauseReasons, transitions: run?.transitions?.slice(-3) })}; agent applied: ${JSON.stringify(agent?.applied)}`);
    });
    assert.match((await timeline.nth(1).textContent()) ?? '', /to come.*second: v1 20 % \/ v2 80 %.*waits for approval/);

    // The first step passes on its first tick; the second waits at its gate until Approve.
    await page.getByText(/AwaitingApproval since/).waitFor({ timeout: 40_000 });
    await onScreen('Paused');
    assert.match((await timeline.nth(0).textContent()) ?? '', /done.*first/);
    assert.equal((await current(w)).step.index, 1);
    await page.getByRole('button', { name: 'Approve' }).click();
    await onScreen('Progressing');
    await until(async () => JSON.stringify(await routeWeights(w)) === JSON.stringify({ v1: 20, v2: 80 }), { what: 'the approved step shifts the weights' });

    // Measuring on real traffic: both sides' samples against the minimum, each condition's value,
    // threshold and verdict, as the API reports them.
    const samples = page.locator('.sample');
    await until(
      async () => {
        const texts = await samples.allTextContents();
        return texts.length === 2 && texts.every((x) => Number(/: (\d+) of 5 requests/.exec(x)?.[1] ?? -1) >= 5);
      },
      { what: 'both sides past the minimum of 5 requests on screen', timeoutMs: 40_000, intervalMs: 200 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: screen ${JSON.stringify(await samples.allTextContents())}; API ${JSON.stringify(await current(w)).slice(0, 3000)}`);
    });
    assert.match((await samples.nth(0).textContent()) ?? '', /v1 \(source\): \d+ of 5 requests/);
    assert.match((await samples.nth(1).textContent()) ?? '', /v2 \(target\): \d+ of 5 requests/);
    const latency = page.getByRole('row', { name: /^latency/ });
    await until(async () => /Passed/.test((await latency.textContent()) ?? ''), { what: 'latency Passed on screen', timeoutMs: 30_000, intervalMs: 200 });
    const cells = await latency.locator('td').allTextContents();
    assert.match(cells[0] ?? '', /^\d+(\.\d+)?(e-\d+)?$/, `a measured p95 in seconds: ${cells[0]}`);
    assert.match(cells[1] ?? '', /^<= \d/, `its threshold: ${cells[1]}`);
    const api = await current(w);
    const cond = api.status.conditions.find((c) => c.name === 'latency');
    assert.ok(cond && cond.value !== null && cond.threshold !== null, 'the API has the values the screen shows');
    assert.match((await timeline.nth(1).textContent()) ?? '', /current.*second.* left/);
    await screenshot(page, 'console-release');

    // Abort restores the routes from before; Retry starts attempt 2 at the current step (its gate again).
    await page.getByRole('button', { name: 'Abort' }).click();
    await page.getByRole('button', { name: 'Yes, abort' }).click();
    await onScreen('Aborted');
    await until(async () => JSON.stringify(await routeWeights(w)) === JSON.stringify(snapshot), { what: 'abort restores the snapshot' });
    await until(async () => await page.getByRole('button', { name: 'Retry' }).isEnabled(), { what: 'Retry enabled once the rollback is done' });
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.getByText(/attempt 2/).first().waitFor();
    await onScreen('(Progressing|Paused)');
    await page.getByText(/AwaitingApproval since/).waitFor({ timeout: 30_000 });
    assert.equal([(await current(w)).attempt, (await current(w)).step.index], [2, 1]);

    // Promote skips what is left: the target at 100 %, the source kept at 0 %.
    await page.getByRole('button', { name: 'Promote' }).click();
    await page.getByRole('button', { name: 'Yes, promote' }).click();
    await onScreen('Succeeded');
    await until(async () => JSON.stringify(await routeWeights(w)) === JSON.stringify({ v1: 0, v2: 100 }), { what: 'promoted: v2 at 100 %' });
    assert.is((await current(w)).outcome?.code, 'promoted');
    await screenshot(page, 'console-release-promoted');
  } finally {
    await ctx.close();
    await load.stop();
  }
});

t('live traffic: each route\'s requests/s, errors and p95 are the API\'s series from the agents\' closed windows', async ({ w }) => {
  // Steady traffic through HAProxy until a closed 10 s window of it reaches the API (NATS windows, no Elasticsearch).
  let running = true;
  const load = (async () => {
    while (running) await tally(`http://127.0.0.2:${w.port}/`, 20, { concurrency: 2 });
  })();
  type Point = { requests: number; rate_per_s: number };
  type Series = { per_route?: Array<{ route: string; points: Point[] }> };
  const series = async (): Promise<Series> => {
    const r = await w.control.api('GET', `${gwPath('default', 'default', 'shop')}/metrics?window=15m&step=10s`, { token: w.viewer });
    assert.is(r.status, 200, r.text);
    return r.json as Series;
  };
  try {
    const busy = await until(
      async () => (await series()).per_route?.find((r) => (r.points.at(-1)?.requests ?? 0) > 0),
      { timeoutMs: 40_000, intervalMs: 500, what: 'a closed window with traffic in the API' },
    );
    const { ctx, page } = await newPage(w, w.viewer);
    await page.goto(`${w.ui}default/default/gateways/shop`);
    const spark = page.getByRole('img', { name: new RegExp(`^Requests/s of ${busy.route}: last [0-9.]+/s over 90 samples$`) });
    await spark.waitFor({ timeout: 15_000 });
    const shown = Number(/last ([0-9.]+)\/s/.exec((await spark.getAttribute('aria-label')) ?? '')?.[1]);
    assert.ok(shown > 0, `the console shows ${shown}/s for ${busy.route}`);
    // The figure on screen is one of the API's points for that route (read before and after the page's read).
    const after = (await series()).per_route?.find((r) => r.route === busy.route)?.points ?? [];
    const points = [...busy.points, ...after].map((p) => p.rate_per_s);
    assert.ok(points.some((p) => Math.abs(p - shown) <= Math.max(0.005, p * 0.0051)), `${shown}/s is not among the API's points ${points.slice(-4).join(', ')}`);
    await page.getByRole('img', { name: new RegExp(`^p95 of ${busy.route}: last [0-9.]+ ms over 90 samples$`) }).waitFor();
    await ctx.close();
  } finally {
    running = false;
    await load;
  }
});

t('accessibility: no WCAG 2.1 A/AA violations (axe-core) on each screen, in light and dark', async ({ w }) => {
  const found: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    const { ctx, page } = await newPage(w, w.deployer);
    await page.emulateMedia({ colorScheme: scheme });
    for (const [path, ready] of [
      ['default/default/gateways', 'link'],
      ['default/default/gateways/shop', 'Apply weights'],
      ['default/default/agents', 'node-1'],
      ['default/default/audit', 'gateway.weights'],
      ['default/default/releases', 'quick'],
      ['default/default/gateways/shop/releases', 'Transitions'],
    ] as const) {
      await page.goto(`${w.ui}${path}`);
      if (ready === 'link') await page.getByRole('link', { name: 'shop' }).waitFor();
      else if (ready === 'Apply weights') await page.getByRole('button', { name: ready }).waitFor();
      else await page.getByText(ready).first().waitFor();
      await page.locator('.live').getByText(/^✓ Live$/).waitFor();
      for (const v of await axeViolations(page)) found.push(`${scheme} ${path}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`);
      if (scheme === 'dark' && path.endsWith('/shop')) await screenshot(page, 'console-gateway-dark');
    }
    await ctx.close();
  }
  const { ctx, page } = await newPage(w);
  await page.goto(w.ui);
  await page.getByLabel('Token').waitFor();
  for (const v of await axeViolations(page)) found.push(`sign-in: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`);
  await ctx.close();
  assert.equal(found, []);
});

t('no script errors or CSP violations on any page', async ({ w }) => {
  assert.equal(w.errors.flat(), []);
});

t.run();
