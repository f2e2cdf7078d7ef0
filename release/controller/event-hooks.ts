// Non-gating `event` hooks: every transition of a run, sent in the background so a slow
// receiver never holds a release (a rollback never waits for a notification). One delivery per
// run at a time, in order; when it is done the controller records how far it got in the run,
// so a restart re-sends what was not recorded (receivers deduplicate by Idempotency-Key).
import type { Namespace } from '../../store/store.js';
import type { Logger } from '../../runtime/log.js';
import type { HookCaller } from '../hook-caller.js';
import { hookPayload } from '../hook-payload.js';
import type { ReleasePolicy } from '../policy.js';
import type { RunRecord } from '../run-record.js';

export type Delivered = (ns: Namespace, gateway: string, runId: string, upTo: number) => void;

export class EventHookDispatcher {
  private readonly inFlight = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly hooks: HookCaller,
    private readonly onDelivered: Delivered,
    private readonly log: Logger,
    private readonly now: () => Date,
  ) {}

  /** Whether the policy has event hooks at all (otherwise nothing is tracked). */
  static wanted(policy: ReleasePolicy): boolean {
    return policy.hooks.some((h) => h.type === 'event');
  }

  /** Sends transitions[from..] of the run unless a delivery for it is already running. */
  dispatch(ns: Namespace, run: RunRecord, policy: ReleasePolicy, from: number): void {
    if (this.closed || from >= run.transitions.length) return;
    const key = `${run.namespace}\u0000${run.gateway}\u0000${run.id}`;
    if (this.inFlight.has(key)) return;
    const hooks = policy.hooks.filter((h) => h.type === 'event');
    const todo = run.transitions.slice(from);
    const upTo = run.transitions.length;
    const p = (async () => {
      for (const t of todo) {
        for (const h of hooks) {
          if (h.events !== null && !h.events.includes(t.kind)) continue;
          const id = `${run.id}:${run.attempt}:${t.kind}:${Date.parse(t.at)}:${h.name}`;
          const out = await this.hooks.call(h, policy.hookSecret, hookPayload(run, policy, h, t.reason, id, this.now(), t), id);
          if (out.verdict === 'Error') this.log.warn({ hook: h.name, run: run.id, kind: t.kind, detail: out.detail }, 'event hook not delivered; not retried further');
        }
      }
    })()
      .catch((err: unknown) => this.log.error({ err, run: run.id }, 'event hook delivery failed'))
      .finally(() => {
        this.inFlight.delete(key);
        if (!this.closed) this.onDelivered(ns, run.gateway, run.id, upTo);
      });
    this.inFlight.set(key, p);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
