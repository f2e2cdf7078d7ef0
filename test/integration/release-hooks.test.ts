// Hooks against a real HTTP receiver that checks the HMAC-SHA256 signature: replies (2xx pass,
// 409/423 wait, {"verdict":"fail"} fails, anything else or a timeout is an Error), bounded
// retries with one Idempotency-Key, and the gating semantics inside a run (confirm-release,
// confirm-step, step-check, event, post-release).
import { hookReceiver, type HookReceiver } from '../harness/hook-receiver.js';
import { ctx, ns, releaseWorld } from '../harness/release-sim.js';
import { assert, suite } from '../harness/uvu.js';
import { HookCaller } from '../../release/hook-caller.js';
import type { PolicyHook } from '../../release/policy.js';
import type { RunRecord } from '../../release/run-record.js';

const SECRET = 'weir-test-secret-5f1c';
const env = { WEIR_HOOK_SECRET: SECRET };

interface Ctx {
  rx: HookReceiver;
  hooks: HookCaller;
}

const hook = (rx: HookReceiver, name: string, over: Partial<PolicyHook> = {}): PolicyHook => ({ name, type: 'confirm-release', url: rx.url(`/hooks/${name}`), timeoutMs: 500, retries: 2, steps: null, events: null, ...over });

const calls = suite<Ctx>('hook calls');
calls.before.each(async (c) => {
  c.rx = await hookReceiver(SECRET);
  c.hooks = new HookCaller({ env, retryDelayMs: 10 });
});
calls.after.each(async (c) => {
  await c.hooks.close();
  await c.rx.close();
});

calls('replies map to verdicts; the body is signed; retries keep the Idempotency-Key', async ({ rx, hooks }) => {
  const call = (name: string) => hooks.call(hook(rx, name), 'env:WEIR_HOOK_SECRET', { releaseId: 'r-1', hook: name }, `r-1:${name}`);
  rx.answers.set('ok', { status: 204 });
  rx.answers.set('wait409', { status: 409 });
  rx.answers.set('wait423', { status: 423, body: { reason: 'change freeze' } });
  rx.answers.set('fail', { status: 200, body: { verdict: 'fail', reason: 'smoke tests red' } });
  rx.answers.set('boom', { status: 500, body: { oops: true } });
  rx.answers.set('flaky', (n) => (n < 3 ? { status: 503 } : { status: 200 }));
  rx.answers.set('slow', { status: 200, delayMs: 2000 });
  assert.equal((await call('ok')).verdict, 'Passed');
  assert.equal((await call('wait409')).verdict, 'Waiting');
  const w = await call('wait423');
  assert.is(w.verdict, 'Waiting');
  assert.match(w.detail, /change freeze/);
  const f = await call('fail');
  assert.is(f.verdict, 'Failed');
  assert.match(f.detail, /smoke tests red/);
  const b = await call('boom');
  assert.equal([b.verdict, b.status, b.attempts], ['Error', 500, 1]);
  const fl = await call('flaky');
  assert.equal([fl.verdict, fl.attempts], ['Passed', 3]);
  const slowStarted = Date.now();
  const s = await call('slow');
  assert.equal([s.verdict, s.attempts], ['Error', 3]);
  assert.match(s.detail, /no answer within 500 ms/);
  assert.ok(Date.now() - slowStarted < 3 * 500 + 1000, 'bounded by timeout × attempts');
  assert.ok(rx.received.every((r) => r.signatureValid), 'every body carries a valid signature');
  const flakyKeys = rx.received.filter((r) => r.hook === 'flaky').map((r) => r.idempotencyKey);
  assert.equal(flakyKeys, ['r-1:flaky', 'r-1:flaky', 'r-1:flaky']);
});

calls('no receiver, a missing secret: Errors that say why', async ({ rx, hooks }) => {
  const dead = await hooks.call({ ...hook(rx, 'x'), url: 'http://127.0.0.1:1/nothing', retries: 0 }, 'env:WEIR_HOOK_SECRET', {}, 'k');
  assert.is(dead.verdict, 'Error');
  assert.match(dead.detail, /ECONNREFUSED/);
  const nosecret = await hooks.call(hook(rx, 'x'), 'env:NOT_SET_ANYWHERE', {}, 'k');
  assert.is(nosecret.verdict, 'Error');
  assert.match(nosecret.detail, /NOT_SET_ANYWHERE is not set in the release controller's environment/);
  assert.is(rx.received.length, 0, 'an unsigned body is never sent');
});

const policy = (rx: HookReceiver, hooksYaml: string, extra = '') => `
name: canary
interval: 10s
defaults: { minSamples: 20, consecutiveErrorLimit: 1 }
hookSecret: env:WEIR_HOOK_SECRET
conditions:
  - { name: errors, value: target.errorRate <= source.errorRate + 0.01 }
steps:
  - { name: five, source: { weight: 95 }, target: { weight: 5 }, endAfter: { duration: 20s } }
  - { name: half, source: { weight: 50 }, target: { weight: 50 }, endAfter: { duration: 20s }${extra} }
  - { name: full, source: { weight: 0 }, target: { weight: 100 }, endAfter: { duration: 10s } }
hooks:
${hooksYaml.replace(/URL\(([a-z-]+)\)/g, (_m, n: string) => rx.url(`/hooks/${n}`))}
`;

const gating = suite<Ctx>('hooks in a run');
gating.before.each(async (c) => {
  c.rx = await hookReceiver(SECRET);
  c.hooks = new HookCaller({ env, retryDelayMs: 10 });
});
gating.after.each(async (c) => {
  await c.hooks.close();
  await c.rx.close();
});

gating('confirm-release waits on 423, passes on 2xx; event and post-release hooks get every transition', async ({ rx, hooks }) => {
  let open = false;
  rx.answers.set('ci', () => (open ? { status: 200 } : { status: 423, body: { reason: 'pipeline not ready' } }));
  const w = releaseWorld(policy(rx, '  - { name: ci, type: confirm-release, url: URL(ci), timeout: 2s }\n  - { name: chat, type: event, url: URL(chat) }\n  - { name: done, type: post-release, url: URL(done) }'), { hooks });
  const run = await w.service.start(ctx, 'shop', { policy: 'canary', source: 'v1', target: 'v2' });
  const waiting = await w.runFor(25_000, (r) => r.phase === 'Paused');
  assert.equal(waiting.pauseReasons.map((p) => p.reason), ['AwaitingApproval']);
  assert.match(waiting.pauseReasons[0]?.detail ?? '', /confirm-release hook ci answered 423: wait: pipeline not ready/);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 100, v2: 0 }, 'no traffic before the gate opens');
  open = true;
  const done = await w.runFor(10 * 60_000, (r) => r.phase === 'Succeeded' && r.postReleaseHooks === 'done');
  assert.is(done.phase, 'Succeeded');
  // Let the background event deliveries finish and be recorded.
  for (let i = 0; i < 50 && (await w.current()).eventHooksSent < done.transitions.length; i++) {
    await new Promise((r) => setTimeout(r, 20));
    await w.drive();
  }
  const chat = rx.received.filter((r) => r.hook === 'chat');
  const kinds = chat.map((r) => (r.body.transition as { kind: string }).kind);
  assert.equal(kinds.slice(0, 2), ['created', 'paused']);
  assert.ok(kinds.includes('step-started') && kinds.includes('succeeded'), kinds.join(','));
  assert.is(new Set(chat.map((r) => r.idempotencyKey)).size, chat.length, 'one key per transition');
  const post = rx.received.filter((r) => r.hook === 'done');
  assert.is(post.length, 1);
  assert.is(post[0]?.body.phase, 'Succeeded');
  assert.is(post[0]?.body.releaseId, run.id);
  assert.equal(Object.keys(post[0]?.body ?? {}).sort(), ['attempt', 'conditions', 'gateway', 'hook', 'metadata', 'namespace', 'outcome', 'phase', 'policy', 'reason', 'releaseId', 'sourceRoute', 'step', 'targetRoute', 'transition', 'type']);
  assert.ok(rx.received.every((r) => r.signatureValid));
});

gating('confirm-step with gate: confirm; a {"verdict":"fail"} reply fails the release and rolls back', async ({ rx, hooks }) => {
  rx.answers.set('gate', { status: 200, body: { verdict: 'fail', reason: 'error budget spent' } });
  const w = releaseWorld(policy(rx, '  - { name: gate, type: confirm-step, url: URL(gate) }', ', gate: confirm'), { hooks });
  await w.service.start(ctx, 'shop', { policy: 'canary', source: 'v1', target: 'v2' });
  const done = await w.runFor(5 * 60_000, (r) => r.finish.state === 'done');
  assert.is(done.phase, 'Failed');
  assert.is(done.outcome?.code, 'hook-failed');
  assert.match(done.outcome?.reason ?? '', /confirm-step hook gate answered 200 \{"verdict":"fail"\}: error budget spent/);
  assert.is(done.step.index, 1);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 100, v2: 0 });
});

gating('step-check: a timeout is an Error (paused, not failed); a fail verdict rolls back', async ({ rx, hooks }) => {
  rx.answers.set('smoke', { status: 200, delayMs: 3000 });
  const w = releaseWorld(policy(rx, '  - { name: smoke, type: step-check, url: URL(smoke), timeout: 200ms, retries: 0 }'), { hooks });
  await w.service.start(ctx, 'shop', { policy: 'canary', source: 'v1', target: 'v2' });
  const paused = await w.runFor(3 * 60_000, (r) => r.phase === 'Paused');
  assert.equal(paused.pauseReasons.map((p) => p.reason), ['HookError']);
  assert.match(paused.pauseReasons[0]?.detail ?? '', /smoke: no answer within 200 ms/);
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 95, v2: 5 });
  rx.answers.set('smoke', { status: 200, body: { verdict: 'fail' } });
  const failed = await w.runFor(60_000, (r: RunRecord) => r.finish.state === 'done');
  assert.is(failed.phase, 'Failed');
  assert.is(failed.outcome?.code, 'hook-failed');
  assert.equal(w.gws.weights(ns, 'shop'), { v1: 100, v2: 0 });
});

calls.run();
gating.run();
