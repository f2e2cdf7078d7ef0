// One pass of the controller over one gateway's run: read the record, do the next thing its
// stage calls for (ask the gate, write the step's routes, wait for the agents, judge a tick,
// roll back or finish), write the record with CAS, repeat until it has to wait. Everything it
// needs to continue is in the record, so any controller can pick a run up where another left
// it: after a restart the step keeps its start time and its counters.
import type { Namespace } from '../../store/store.js';
import { VersionConflictError } from '../../store/store-writer.js';
import { formatModelError, parseGateway, type Gateway } from '../../model/index.js';
import type { Logger } from '../../runtime/log.js';
import type { HookCaller } from '../hook-caller.js';
import { hookPayload } from '../hook-payload.js';
import type { ReleaseMetrics } from '../metrics.js';
import { AGGREGATE_WINDOW_MS } from '../policy-schema.js';
import type { PolicyStep, ReleasePolicy } from '../policy.js';
import { GatewayWriteError, type AgentAckSource, type GatewayReader, type GatewayRouteWriter, type Leadership } from '../ports.js';
import { addPause, clearPauses, enterStep, finishRun, FREEZING, gateHooks, isFrozen, note, startStep } from '../run-machine.js';
import { isTerminal, type Counters, type RunRecord } from '../run-record.js';
import { CorruptRunError, type RunRepository } from '../run-repository.js';
import { applyTick, CONTROLLER } from '../tick.js';
import { EventHookDispatcher } from './event-hooks.js';
import { Measurer, trafficSides } from './measurer.js';
import { finalRoutes, routeDifferences, snapshotRoutes, stepRoutes, type DesiredRoutes } from './step-routes.js';

export interface RunDriverSettings {
  /** How long after a window's end its aggregates are expected to be readable. */
  metricsLagMs: number;
  /** How long one pass waits in-process for the agents to apply a step before rescheduling. */
  ackWaitMs: number;
  ackPollMs: number;
  /** Re-check interval while waiting for agents after ackWaitMs. */
  ackRecheckMs: number;
  /** How long past the lag a tick waits for every live agent's last window before judging what is there. */
  completenessWaitMs: number;
}

export const DEFAULT_DRIVER_SETTINGS: RunDriverSettings = { metricsLagMs: 2000, ackWaitMs: 1500, ackPollMs: 20, ackRecheckMs: 250, completenessWaitMs: 6000 };

export interface RunDriverDeps {
  runs: RunRepository;
  gateways: GatewayReader;
  writer: GatewayRouteWriter;
  agents?: AgentAckSource | undefined;
  measurer: Measurer;
  hooks: HookCaller;
  events: EventHookDispatcher;
  leadership: Leadership;
  metrics: ReleaseMetrics;
  logger: Logger;
  settings: RunDriverSettings;
  now: () => Date;
  /** Event-hook progress recorded in memory until the next write of the run. */
  delivered: (runId: string) => number | undefined;
}

/** What the scheduler should do next for this gateway: wake at a time, or wait for a change. */
export interface DriveResult {
  nextAt: number | null;
  result: 'idle' | 'acted' | 'fenced' | 'error';
}

type Step = { kind: 'again' } | { kind: 'wait'; at: number | null };
const again: Step = { kind: 'again' };
const waitFor = (at: number | null): Step => ({ kind: 'wait', at });

const MAX_PASSES = 24;

export class RunDriver {
  constructor(private readonly d: RunDriverDeps) {}

  async drive(ns: Namespace, gateway: string): Promise<DriveResult> {
    let acted = false;
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      if (!this.d.leadership.isLeader()) return { nextAt: null, result: 'fenced' };
      let stored;
      try {
        stored = await this.d.runs.current(ns, gateway);
      } catch (err) {
        if (err instanceof CorruptRunError) {
          this.d.logger.error({ gateway, problem: err.message }, 'release record unreadable; leaving it alone');
          return { nextAt: null, result: 'error' };
        }
        throw err;
      }
      if (!stored) return { nextAt: null, result: acted ? 'acted' : 'idle' };
      const { run, version } = stored;
      if (run.controllerEpoch > this.d.leadership.epoch) {
        // A controller with a newer lease wrote this run: it owns it now.
        return { nextAt: null, result: 'fenced' };
      }
      let policy: ReleasePolicy;
      try {
        policy = this.d.runs.policyOf(run);
      } catch (err) {
        this.d.logger.error({ gateway, run: run.id, problem: (err as Error).message }, 'pinned policy unreadable');
        return { nextAt: null, result: 'error' };
      }
      this.d.metrics.observeRun(ns, run);
      if (EventHookDispatcher.wanted(policy)) this.d.events.dispatch(ns, run, policy, Math.max(run.eventHooksSent, this.d.delivered(run.id) ?? 0));
      let step: Step;
      try {
        step = await this.advance(ns, run, version, policy);
      } catch (err) {
        if (err instanceof VersionConflictError) {
          step = again;
        } else {
          this.d.logger.error({ err, gateway, run: run.id }, 'release controller pass failed');
          return { nextAt: this.d.now().getTime() + 2000, result: 'error' };
        }
      }
      if (step.kind === 'wait') return { nextAt: step.at, result: acted ? 'acted' : 'idle' };
      acted = true;
    }
    return { nextAt: this.d.now().getTime() + 100, result: 'acted' };
  }

  /** CAS write of the run (fenced by the lease epoch). */
  private async save(ns: Namespace, next: RunRecord, version: string, before: RunRecord): Promise<Step> {
    const sent = Math.max(next.eventHooksSent, this.d.delivered(next.id) ?? 0);
    await this.d.runs.save(ns, { ...next, controllerEpoch: this.d.leadership.epoch, eventHooksSent: Math.min(sent, next.transitions.length) }, version, before);
    return again;
  }

  private async advance(ns: Namespace, run: RunRecord, version: string, policy: ReleasePolicy): Promise<Step> {
    const now = this.d.now();
    if (isTerminal(run.phase)) return this.finish(ns, run, version, policy, now);
    if (run.promote) {
      const by = [...run.transitions].reverse().find((t) => t.kind === 'promoted');
      return this.save(ns, finishRun(run, 'Succeeded', 'promoted', `promoted by ${by?.actor ?? 'an operator'}: the remaining steps were skipped`, by?.actor ?? CONTROLLER, now), version, run);
    }
    if (isFrozen(run) && run.step.stage !== 'Gate') return waitFor(null);
    const g = await this.readGateway(ns, run.gateway);
    if (g === 'missing') {
      const next = finishRun(run, 'Aborted', 'gateway-deleted', `gateway ${run.gateway} was deleted during the release`, CONTROLLER, now);
      return this.save(ns, next, version, run);
    }
    if ('problem' in g) {
      const next = addPause(run, 'GatewayWriteFailed', `the stored gateway does not validate: ${g.problem}`, CONTROLLER, now);
      return next === run ? waitFor(null) : this.save(ns, next, version, run);
    }
    const step = policy.steps[run.step.index] as PolicyStep;
    switch (run.step.stage) {
      case 'Gate':
        return this.gate(ns, run, version, policy, step, now);
      case 'Shift':
        return this.shift(ns, run, version, step, g, now);
      case 'Ack':
        return this.ack(ns, run, version, policy, step, g, now);
      case 'Measure':
        return this.measure(ns, run, version, policy, step, g, now);
    }
  }

  // ---- gate ----

  private async gate(ns: Namespace, run: RunRecord, version: string, policy: ReleasePolicy, step: PolicyStep, now: Date): Promise<Step> {
    if (run.step.gateOpen) {
      const next = clearPauses({ ...run, step: { ...run.step, stage: 'Shift' } }, ['AwaitingApproval', 'HookWaiting', 'HookError'], CONTROLLER, 'the gate is open', now);
      return this.save(ns, next, version, run);
    }
    if (run.pauseReasons.some((p) => p.reason !== 'AwaitingApproval' && FREEZING.includes(p.reason))) return waitFor(null);
    const hooks = gateHooks(policy, step);
    if (hooks.length === 0) {
      const next = addPause(run, 'AwaitingApproval', `step ${step.index} (${step.name}) has gate: confirm: approve it (weir release approve ${run.gateway})`, CONTROLLER, now);
      return next === run ? waitFor(null) : this.save(ns, next, version, run);
    }
    const ask = Math.floor(now.getTime() / policy.intervalMs) * policy.intervalMs;
    const results = await Promise.all(
      hooks.map(async (h) => {
        const key = `${run.id}:${run.attempt}:${step.index}:${h.name}:${ask}`;
        return { h, out: await this.d.hooks.call(h, policy.hookSecret, hookPayload(run, policy, h, `${h.type} before step ${step.index} (${step.name})`, key, now), key) };
      }),
    );
    const counters: Record<string, Counters> = { ...run.step.counters };
    let next: RunRecord = run;
    const failed = results.find((r) => r.out.verdict === 'Failed');
    if (failed) return this.save(ns, finishRun(run, 'Failed', 'hook-failed', `${failed.h.type} hook ${failed.h.name} ${failed.out.detail}`, `hook ${failed.h.name}`, now), version, run);
    for (const { h, out } of results) {
      const c = { ...(counters[`gate:${h.name}`] ?? { passed: 0, failed: 0, inconclusive: 0, errors: 0, consecutiveErrors: 0 }) };
      if (out.verdict === 'Error') {
        c.errors++;
        c.consecutiveErrors++;
      } else c.consecutiveErrors = 0;
      counters[`gate:${h.name}`] = c;
    }
    next = { ...next, step: { ...next.step, counters } };
    const errors = results.filter((r) => r.out.verdict === 'Error');
    const over = errors.filter((r) => (counters[`gate:${r.h.name}`]?.consecutiveErrors ?? 0) > policy.defaults.consecutiveErrorLimit);
    if (over.length > 0 && policy.defaults.onError === 'fail') {
      return this.save(ns, finishRun(next, 'Failed', 'hook-error', `${over.map((r) => `${r.h.type} hook ${r.h.name}: ${r.out.detail}`).join('; ')} (beyond consecutiveErrorLimit)`, CONTROLLER, now), version, run);
    }
    if (over.length > 0) next = addPause(next, 'HookError', over.map((r) => `${r.h.name}: ${r.out.detail}`).join('; '), CONTROLLER, now);
    if (results.every((r) => r.out.verdict === 'Passed')) {
      next = clearPauses({ ...next, step: { ...next.step, gateOpen: true, stage: 'Shift' } }, ['AwaitingApproval', 'HookWaiting', 'HookError'], CONTROLLER, `${hooks.map((h) => h.name).join(', ')} answered 2xx`, now);
      return this.save(ns, next, version, run);
    }
    const waiting = results.filter((r) => r.out.verdict === 'Waiting');
    if (waiting.length > 0) next = addPause(next, 'AwaitingApproval', `${waiting.map((r) => `${r.h.type} hook ${r.h.name} ${r.out.detail}`).join('; ')}; or approve (weir release approve ${run.gateway})`, CONTROLLER, now);
    if (errors.length === 0) next = clearPauses(next, ['HookError'], CONTROLLER, 'gate hooks answer again', now);
    await this.d.runs.save(ns, { ...next, controllerEpoch: this.d.leadership.epoch }, version, run);
    return waitFor(ask + policy.intervalMs);
  }

  // ---- shift: write the step's routes through the gateway write path ----

  private async shift(ns: Namespace, run: RunRecord, version: string, step: PolicyStep, g: { gateway: Gateway; version: string }, now: Date): Promise<Step> {
    const want = stepRoutes(run, step);
    const write = await this.write(ns, run, want, g, 'release.step');
    if (write.kind !== 'ok') return this.writeProblem(ns, run, version, write, now);
    const next = { ...run, step: { ...run.step, stage: 'Ack' as const, shiftedAt: now.toISOString(), weightsVersion: write.version, deadlineFrom: now.toISOString() }, updatedAt: now.toISOString() };
    return this.save(ns, next, version, run);
  }

  // ---- ack: the step starts when every live agent applied its weights ----

  private async ack(ns: Namespace, run: RunRecord, version: string, policy: ReleasePolicy, step: PolicyStep, g: { gateway: Gateway; version: string }, now: Date): Promise<Step> {
    const manual = await this.manualChange(ns, run, version, step, g, now);
    if (manual) return manual;
    const deadline = policy.progressDeadlineMs;
    let conv = this.converged(ns, run.gateway, g.version);
    const until = performance.now() + this.d.settings.ackWaitMs;
    while (!conv.ok && performance.now() < until) {
      await new Promise((r) => setTimeout(r, this.d.settings.ackPollMs));
      conv = this.converged(ns, run.gateway, g.version);
    }
    const at = this.d.now();
    if (conv.ok) {
      const detail = `${conv.live} live agent${conv.live === 1 ? '' : 's'} applied ${g.version} (${step.source.weight}/${step.target.weight}${step.target.condition ? `, target condition ${JSON.stringify(step.target.condition)}: HAProxy reloaded` : ''}) ${at.getTime() - Date.parse(run.step.shiftedAt ?? at.toISOString())} ms after the write`;
      let next = startStep(run, `step ${step.index} (${step.name}): ${detail}`, CONTROLLER, at);
      next = clearPauses(next, ['AgentsNotConverged'], CONTROLLER, 'every live agent applied the step', at);
      return this.save(ns, next, version, run);
    }
    const from = Date.parse(run.step.deadlineFrom ?? run.step.shiftedAt ?? at.toISOString());
    if (at.getTime() - from > deadline) {
      const next = addPause(run, 'AgentsNotConverged', conv.detail, CONTROLLER, at);
      if (next !== run) return this.save(ns, next, version, run);
    }
    return waitFor(at.getTime() + this.d.settings.ackRecheckMs);
  }

  converged(ns: Namespace, gateway: string, version: string): { ok: boolean; live: number; detail: string } {
    if (!this.d.agents) return { ok: false, live: 0, detail: 'no agent status source: agents report what they applied over NATS (set WEIR_NATS_URL for the release controller)' };
    const live = this.d.agents.agents(ns).filter((a) => !a.quiet);
    if (live.length === 0) return { ok: false, live: 0, detail: `no live agent reports status in ${ns.org}/${ns.env}` };
    const pending = live.filter((a) => a.applied.find((x) => x.name === gateway)?.version !== version);
    if (pending.length === 0) return { ok: true, live: live.length, detail: '' };
    const problems = pending.flatMap((a) => a.problems.filter((p) => p.name === gateway).map((p) => `${a.agentId}: ${p.errors.join('; ')}`));
    return { ok: false, live: live.length, detail: `${pending.length} of ${live.length} live agents have not applied version ${version} of ${gateway} (${pending.slice(0, 5).map((a) => a.agentId).join(', ')})${problems.length ? `; problems: ${problems.slice(0, 3).join(' | ')}` : ''}` };
  }

  // ---- measure: one tick on the window grid ----

  private async measure(ns: Namespace, run: RunRecord, version: string, policy: ReleasePolicy, step: PolicyStep, g: { gateway: Gateway; version: string }, now: Date): Promise<Step> {
    const manual = await this.manualChange(ns, run, version, step, g, now);
    if (manual) return manual;
    const sides = trafficSides(step);
    if ((!sides.source || !sides.target) && run.step.pooled === null) {
      try {
        const pooled = await this.d.measurer.pooled(ns, run, step);
        return this.save(ns, { ...run, step: { ...run.step, pooled } }, version, run);
      } catch {
        // The metrics source is down: the tick below reports it as an Error.
      }
    }
    const lag = this.d.settings.metricsLagMs;
    const interval = policy.intervalMs;
    const tickTo = Math.floor((now.getTime() - lag) / interval) * interval;
    const started = Date.parse(run.step.startedAt as string);
    const earliest = started + policy.gracePeriodMs + AGGREGATE_WINDOW_MS;
    const lastTo = run.step.lastTickTo ? Date.parse(run.step.lastTickTo) : -Infinity;
    if (tickTo < earliest || tickTo <= lastTo) {
      // The first tick whose window holds at least one whole aggregate window after the start.
      let next = tickTo + interval;
      if (next < earliest) next = Math.ceil(earliest / interval) * interval;
      return waitFor(next + lag);
    }
    // Not every live agent's last window is in yet: look again shortly; past the bound, judge what is there.
    const force = now.getTime() >= tickTo + lag + this.d.settings.completenessWaitMs;
    const { measurement: m, complete } = await this.d.measurer.measure(ns, run, policy, new Date(tickTo), now, { force });
    if (!complete && !force) return waitFor(now.getTime() + 250);
    this.d.metrics.observeMeasurement(ns, run, m, step.conditions);
    const { run: ticked, decision } = applyTick(run, policy, m, now);
    this.d.metrics.ticks.inc({ result: m.error !== null ? 'metrics-error' : decision.kind });
    switch (decision.kind) {
      case 'measure':
        await this.d.runs.save(ns, { ...ticked, controllerEpoch: this.d.leadership.epoch }, version, run);
        return waitFor(tickTo + interval + lag);
      case 'fail':
        return this.save(ns, finishRun(ticked, 'Failed', decision.code, decision.reason, CONTROLLER, now), version, run);
      case 'step-passed': {
        const passed = note(ticked, 'step-passed', CONTROLLER, `step ${step.index} (${step.name}): ${decision.reason}`, now);
        if (step.index === policy.steps.length - 1) return this.save(ns, finishRun(passed, 'Succeeded', 'passed', `every step passed (${policy.steps.length})`, CONTROLLER, now), version, run);
        return this.save(ns, enterStep(passed, policy, step.index + 1, now), version, run);
      }
    }
  }

  /** A person changed the routes the step set: pause rather than fight them. */
  private async manualChange(ns: Namespace, run: RunRecord, version: string, step: PolicyStep, g: { gateway: Gateway; version: string }, now: Date): Promise<Step | null> {
    const diffs = routeDifferences(g.gateway, stepRoutes(run, step));
    if (diffs.length === 0) return null;
    const next = addPause(run, 'ManualChange', `gateway ${run.gateway} was changed by hand (version ${g.version}): ${diffs.join('; ')}; resume to re-apply the step, abort to roll back`, CONTROLLER, now);
    if (next === run) return waitFor(null);
    await this.d.runs.save(ns, { ...next, controllerEpoch: this.d.leadership.epoch }, version, run);
    return waitFor(null);
  }

  // ---- the end: final weights or the snapshot, history, post-release hooks ----

  private async finish(ns: Namespace, run: RunRecord, version: string, policy: ReleasePolicy, now: Date): Promise<Step> {
    if (run.finish.state === 'pending') {
      const g = await this.readGateway(ns, run.gateway);
      let next: RunRecord = { ...run, finish: { state: 'done', at: now.toISOString() } };
      if (g !== 'missing' && !('problem' in g)) {
        const succeeded = run.phase === 'Succeeded';
        const want: DesiredRoutes = succeeded ? finalRoutes(run) : snapshotRoutes(run, g.gateway);
        const write = await this.write(ns, run, want, g, succeeded ? 'release.promote' : 'release.rollback');
        if (write.kind === 'retry') return again;
        if (write.kind !== 'ok') {
          this.d.logger.error({ gateway: run.gateway, run: run.id, problem: write.message }, succeeded ? 'final weights not written; retrying' : 'rollback not written; retrying');
          return waitFor(now.getTime() + 2000);
        }
        if (!succeeded) next = note(next, 'rolled-back', CONTROLLER, `restored the routes from before the release: ${Object.entries(want).map(([n, r]) => `${n} ${r.weight}%`).join(', ')}`, now);
      } else if (g !== 'missing') {
        this.d.logger.error({ gateway: run.gateway, run: run.id, problem: g.problem }, 'stored gateway invalid; nothing restored');
      }
      await this.save(ns, next, version, run);
      this.d.metrics.finished(ns, next);
      return again;
    }
    if (!run.history) {
      await this.d.runs.archive(ns, run);
      return this.save(ns, { ...run, history: true }, version, run);
    }
    if (run.postReleaseHooks === 'pending') {
      const hooks = policy.hooks.filter((h) => h.type === 'post-release');
      await Promise.all(
        hooks.map(async (h) => {
          const key = `${run.id}:${run.attempt}:post-release:${h.name}`;
          const out = await this.d.hooks.call(h, policy.hookSecret, hookPayload(run, policy, h, run.outcome?.reason ?? run.phase, key, now), key);
          if (out.verdict === 'Error') this.d.logger.warn({ hook: h.name, run: run.id, detail: out.detail }, 'post-release hook not delivered');
        }),
      );
      return this.save(ns, { ...run, postReleaseHooks: 'done' }, version, run);
    }
    const sent = this.d.delivered(run.id);
    if (sent !== undefined && sent > run.eventHooksSent) return this.save(ns, run, version, run);
    return waitFor(null);
  }

  // ---- gateway I/O ----

  private async readGateway(ns: Namespace, name: string): Promise<{ gateway: Gateway; version: string } | { problem: string } | 'missing'> {
    const e = await this.d.gateways.get(ns, name);
    if (!e) return 'missing';
    if (e.format !== 'yaml' && e.format !== 'json') return { problem: 'not YAML or JSON' };
    const r = parseGateway(e.body, { source: name, format: e.format, expectedName: name });
    if (!r.ok) return { problem: r.errors.map(formatModelError).join('; ') };
    return { gateway: r.gateway, version: e.version };
  }

  private async write(ns: Namespace, run: RunRecord, want: DesiredRoutes, g: { gateway: Gateway; version: string }, action: string): Promise<{ kind: 'ok'; version: string } | { kind: 'retry' } | { kind: 'failed'; message: string } | { kind: 'unavailable'; message: string }> {
    if (routeDifferences(g.gateway, want).length === 0) return { kind: 'ok', version: g.version };
    if (!this.d.leadership.isLeader()) return { kind: 'unavailable', message: 'lost the controller lease' };
    try {
      const r = await this.d.writer.writeRoutes(ns, run.gateway, want, { action, actor: CONTROLLER, ifVersion: g.version, requestId: `${run.id}:${run.attempt}:${run.step.index}` });
      return { kind: 'ok', version: r.version };
    } catch (err) {
      if (!(err instanceof GatewayWriteError)) throw err;
      if (err.code === 'conflict' || err.code === 'not_found') return { kind: 'retry' };
      if (err.code === 'unavailable') return { kind: 'unavailable', message: err.message };
      return { kind: 'failed', message: err.message };
    }
  }

  private async writeProblem(ns: Namespace, run: RunRecord, version: string, w: { kind: 'retry' } | { kind: 'failed'; message: string } | { kind: 'unavailable'; message: string }, now: Date): Promise<Step> {
    if (w.kind === 'retry') return again;
    if (w.kind === 'unavailable') return waitFor(now.getTime() + 1000);
    const next = addPause(run, 'GatewayWriteFailed', `the step's routes were refused: ${w.message}; fix the gateway and resume`, CONTROLLER, now);
    return next === run ? waitFor(null) : this.save(ns, next, version, run);
  }
}
