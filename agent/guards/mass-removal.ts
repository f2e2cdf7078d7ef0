// The guard against a store that lies. A store that suddenly reads as (nearly) empty — a wrong
// path, a wiped or restored KV, a token whose policy lost a path — would otherwise make the
// agent remove every gateway in one sync. Removing more than `thresholdPercent` of the served
// gateways at once (and at least `minGateways`) is held back: the agent keeps serving them until
// the store has given the same answer on consecutive reads for `holdMs`. Removals the control
// API announced by name (NATS `gateways.changed`, action delete) are deliberate and never held.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MassRemovalSettings } from '../edge-settings.js';
import type { MassRemovalReport } from '../../events/contract.js';
import type { Logger } from '../../runtime/log.js';

/** What the guard needs of a served or desired gateway. */
export interface Named {
  gateway: { name: string };
}

/** What /status, the heartbeat and GET …/agents show of a held removal (the NATS contract's shape). */
export type HeldRemoval = MassRemovalReport;

export interface GuardVerdict<T extends Named> {
  /** What to serve: the store's answer plus, while a removal is held, the gateways it would remove. */
  desired: T[];
  held: HeldRemoval | null;
  /** Set once, when a held removal went ahead. */
  released: string[] | null;
}

/** An announced deletion stays exempt for this long (the sync that applies it comes within ms). */
const ANNOUNCED_TTL_MS = 10 * 60_000;

export class MassRemovalGuard {
  private held: { key: string; sinceMs: number; view: HeldRemoval } | null = null;
  private readonly announced = new Map<string, number>();
  private readonly heldGauge: Gauge;
  private readonly events: Counter<'event'>;
  private releaseTimer: NodeJS.Timeout | null = null;

  /**
   * `reread` is called when a hold ends, so the removal does not wait for the next poll;
   * `logger` hears about holds, releases and cancellations.
   */
  constructor(
    private readonly settings: MassRemovalSettings,
    registry: Registry,
    private readonly now: () => number = Date.now,
    private readonly hooks: { logger?: Logger; reread?: () => void } = {},
  ) {
    this.heldGauge = new Gauge({ name: 'weir_agent_mass_removal_held_gateways', help: 'Gateways the store no longer lists that the agent keeps serving because removing them at once looks like a store that lies (WEIR_MASS_REMOVAL_THRESHOLD).', registers: [registry] });
    this.events = new Counter({ name: 'weir_agent_mass_removal_events_total', help: 'Mass removals by event: held (a hold began), released (the store kept its answer for the hold time, the gateways were removed), cancelled (the store answered differently).', labelNames: ['event'], registers: [registry] });
  }

  /**
   * `check`, plus what an agent does about it: logs the transitions and schedules a re-read for
   * when the hold ends. Returns what to serve.
   */
  guard<T extends Named>(desired: T[], served: readonly T[]): T[] {
    const log = this.hooks.logger;
    const before = this.status();
    const verdict = this.check(desired, served);
    if (verdict.held && verdict.held.since !== before?.since) log?.warn({ removing: verdict.held.removing.length, served: verdict.held.served, releaseAt: verdict.held.releaseAt }, verdict.held.message);
    else if (!verdict.held && before && !verdict.released) log?.info({ removing: before.removing.length }, 'the store lists the held gateways again (or fewer are missing): mass removal cancelled');
    if (verdict.released) log?.warn({ removed: verdict.released.length, gateways: verdict.released.slice(0, 20) }, 'the store kept its answer for the hold time: removing the gateways it no longer lists');
    this.stop();
    const wait = this.msUntilRelease();
    if (wait !== null && this.hooks.reread) {
      this.releaseTimer = setTimeout(this.hooks.reread, wait + 20);
      this.releaseTimer.unref();
    }
    return verdict.desired;
  }

  /** Drops a scheduled re-read. */
  stop(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
  }

  /** A deletion the control API announced by name: never held back. */
  noteAnnouncedDeletion(name: string): void {
    this.announced.set(name, this.now());
  }

  status(): HeldRemoval | null {
    return this.held?.view ?? null;
  }

  /** Milliseconds until a held removal may go ahead (a sync then should re-read the store), or null. */
  msUntilRelease(): number | null {
    return this.held ? Math.max(0, this.held.sinceMs + this.settings.holdMs - this.now()) : null;
  }

  /**
   * Judges one successful read of the whole store. `served` is what HAProxy serves now (the
   * last-good cache's gateways right after a start). Returns what to serve instead of `desired`.
   */
  check<T extends Named>(desired: T[], served: readonly T[]): GuardVerdict<T> {
    const now = this.now();
    for (const [name, at] of this.announced) if (now - at > ANNOUNCED_TTL_MS) this.announced.delete(name);
    const wanted = new Set(desired.map((d) => d.gateway.name));
    const gone = served.filter((s) => !wanted.has(s.gateway.name));
    const removing = gone.filter((s) => !this.announced.has(s.gateway.name));
    const { thresholdPercent, minGateways, holdMs } = this.settings;
    const percent = served.length === 0 ? 0 : (removing.length * 100) / served.length;
    const mass = removing.length >= minGateways && percent > thresholdPercent;
    // An announcement is done with once the gateway is no longer served (its removal was
    // applied) or is back in the store (created again); until then every read exempts it.
    const servedNames = new Set(served.map((s) => s.gateway.name));
    for (const name of this.announced.keys()) if (wanted.has(name) || !servedNames.has(name)) this.announced.delete(name);

    if (!mass) {
      if (this.held) this.events.inc({ event: 'cancelled' });
      this.setHeld(null);
      return { desired, held: null, released: null };
    }
    const names = removing.map((s) => s.gateway.name).sort();
    const key = names.join('\n');
    if (this.held && this.held.key === key && now - this.held.sinceMs >= holdMs) {
      this.events.inc({ event: 'released' });
      this.setHeld(null);
      return { desired, held: null, released: names };
    }
    if (!this.held || this.held.key !== key) {
      // A different answer starts the hold again: only the same answer, read after read, counts.
      if (this.held) this.events.inc({ event: 'cancelled' });
      this.events.inc({ event: 'held' });
      this.setHeld({ key, sinceMs: now, view: this.view(names, served.length, percent, now) });
    }
    return { desired: [...desired, ...removing], held: this.status(), released: null };
  }

  private view(names: string[], served: number, percent: number, since: number): HeldRemoval {
    const { thresholdPercent, holdMs } = this.settings;
    const shown = names.slice(0, 10).join(', ') + (names.length > 10 ? `, … (${names.length} in all)` : '');
    return {
      since: new Date(since).toISOString(),
      releaseAt: new Date(since + holdMs).toISOString(),
      removing: names,
      served,
      percent: Math.round(percent * 10) / 10,
      thresholdPercent,
      message:
        `the store no longer lists ${names.length} of the ${served} served gateways (${Math.round(percent)}% > WEIR_MASS_REMOVAL_THRESHOLD ${thresholdPercent}%): ` +
        `still serving ${shown} until the store gives the same answer for ${holdMs} ms (WEIR_MASS_REMOVAL_HOLD_MS); deletions through the control API are never held`,
    };
  }

  private setHeld(h: MassRemovalGuard['held']): void {
    this.held = h;
    this.heldGauge.set(h ? h.view.removing.length : 0);
  }
}
