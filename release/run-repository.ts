// Run records in the store: the current run of a gateway at `releases/<gateway>` and each
// finished attempt at `release-history/<gateway>.<id>`. Every write is compare-and-set on the
// version read; after a write, the transitions it added are published as release events.
import type { Namespace } from '../store/store.js';
import { namespaceKey } from '../store/store.js';
import type { ReleaseEvent } from '../events/contract.js';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import { validatePolicyInput, type ReleasePolicy } from './policy.js';
import type { ReleaseDocumentStore, ReleaseEventPublisher } from './ports.js';
import { historyName, parseRunRecord, type RunRecord } from './run-record.js';

export interface StoredRun {
  run: RunRecord;
  version: string;
}

/** A stored record that is not a run (hand-edited, another tool): reported, never overwritten blindly. */
export class CorruptRunError extends Error {
  override readonly name = 'CorruptRunError';
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
  }
}

export class RunRepository {
  private readonly log: Logger;
  /** Pinned policies by hash: a run's document parses the same way every time. */
  private readonly pinned = new Map<string, ReleasePolicy>();

  constructor(
    private readonly store: ReleaseDocumentStore,
    private readonly opts: { events?: ReleaseEventPublisher | undefined; logger?: Logger } = {},
  ) {
    this.log = opts.logger ?? silentLogger();
  }

  async current(ns: Namespace, gateway: string): Promise<StoredRun | null> {
    const e = await this.store.getDocument(ns, 'releases', gateway);
    if (!e) return null;
    const r = parseRunRecord(e.body);
    if (!r.ok) throw new CorruptRunError(e.source, r.message);
    return { run: r.run, version: e.version };
  }

  /** Every gateway's current run in the namespace; unreadable records are returned as problems. */
  async listCurrent(ns: Namespace): Promise<{ runs: StoredRun[]; problems: Array<{ source: string; message: string }> }> {
    const snap = await this.store.listDocuments(ns, 'releases');
    const runs: StoredRun[] = [];
    const problems = snap.problems.map((p) => ({ source: p.source, message: p.message }));
    for (const e of snap.entries) {
      const r = parseRunRecord(e.body);
      if (r.ok) runs.push({ run: r.run, version: e.version });
      else problems.push({ source: e.source, message: r.message });
    }
    return { runs, problems };
  }

  /** Finished attempts of a gateway's runs, newest first. */
  async history(ns: Namespace, gateway: string): Promise<RunRecord[]> {
    const snap = await this.store.listDocuments(ns, 'release-history');
    const prefix = `${gateway}.`;
    const out: RunRecord[] = [];
    for (const e of snap.entries) {
      if (!e.name.startsWith(prefix)) continue;
      const r = parseRunRecord(e.body);
      if (r.ok) out.push(r.run);
      else this.log.warn({ source: e.source, problem: r.message }, 'release history entry is not a run record');
    }
    return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async find(ns: Namespace, gateway: string, id: string): Promise<StoredRun | { run: RunRecord; version: null } | null> {
    const cur = await this.current(ns, gateway);
    if (cur && cur.run.id === id) return cur;
    const e = await this.store.getDocument(ns, 'release-history', historyName(gateway, id));
    if (!e) return null;
    const r = parseRunRecord(e.body);
    if (!r.ok) throw new CorruptRunError(e.source, r.message);
    return { run: r.run, version: null };
  }

  /** CAS write: `ifVersion` null = there must be no record. Publishes the transitions `run` added over `before`. */
  async save(ns: Namespace, run: RunRecord, ifVersion: string | null, before: RunRecord | null): Promise<string> {
    const { version } = await this.store.putDocument(ns, 'releases', run.gateway, `${JSON.stringify(run, null, 1)}\n`, 'json', { ifVersion });
    await this.announce(ns, run, before);
    return version;
  }

  /** Copies a finished attempt into the history (overwriting an earlier copy of the same attempt). */
  async archive(ns: Namespace, run: RunRecord): Promise<void> {
    await this.store.putDocument(ns, 'release-history', historyName(run.gateway, run.id), `${JSON.stringify(run, null, 1)}\n`, 'json');
  }

  /** The policy a run pinned, parsed once per hash. */
  policyOf(run: RunRecord): ReleasePolicy {
    const hit = this.pinned.get(run.policy.hash);
    if (hit) return hit;
    const r = validatePolicyInput(run.policy.document, { expectedName: run.policy.name, source: `policy ${JSON.stringify(run.policy.name)} pinned by release ${run.id}` });
    if (!r.ok) throw new CorruptRunError(`release ${run.id}`, `its pinned policy no longer validates: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
    if (this.pinned.size > 1000) this.pinned.clear();
    this.pinned.set(run.policy.hash, r.policy);
    return r.policy;
  }

  private async announce(ns: Namespace, run: RunRecord, before: RunRecord | null): Promise<void> {
    const events = this.opts.events;
    if (!events) return;
    const known = before && before.id === run.id ? before.transitions.length : 0;
    const added = run.transitions.slice(Math.min(known, run.transitions.length));
    if (added.length === 0) return;
    let policy: ReleasePolicy | null = null;
    try {
      policy = this.policyOf(run);
    } catch {
      policy = null;
    }
    for (const t of added) {
      const ps = policy?.steps[t.step];
      const ev: ReleaseEvent = {
        runId: run.id,
        namespace: namespaceKey(ns),
        gateway: run.gateway,
        kind: t.kind,
        from: t.from,
        phase: t.to,
        step: { index: t.step, name: ps?.name ?? run.step.name, count: policy?.steps.length ?? 0, weights: { source: ps?.source.weight ?? 0, target: ps?.target.weight ?? 0 } },
        attempt: run.attempt,
        source: run.source,
        target: run.target,
        policy: { name: run.policy.name, version: run.policy.version, hash: run.policy.hash },
        actor: t.actor,
        reason: t.reason,
        pauseReasons: run.pauseReasons,
        outcome: run.outcome ? { result: run.outcome.result, reason: run.outcome.reason } : null,
        at: t.at,
      };
      try {
        await events.publishRelease(ns, run.gateway, ev);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, run: run.id, kind: t.kind }, 'release event not published');
      }
    }
  }
}
