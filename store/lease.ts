// Leases: which of several control-API replicas acts (the release controller) at a time.
//
// A lease is a record {holder, epoch, expiresAt} under a system key of the store. An epoch is
// started by exactly one claimant — Vault KV and NATS KV by a compare-and-set write on the
// previous record's version, the file store by creating `<epoch>.json` exclusively (link(2)
// fails with EEXIST for everyone but the first) — and only its holder extends it. The epoch is a
// fencing token: a holder that was paused past its expiry finds a higher epoch and steps down.
//
// Timing (LeaderElection): the holder renews every `renewMs` (ttl/3) and counts itself leader
// only until `ttl − skew` after the start of its last successful renewal, measured on its own
// monotonic clock; a follower claims only after `expiresAt + skew` by the wall clock. So two
// holders never overlap while clocks agree within `skew`, and a holder that died is replaced
// within ttl + skew + renewMs (21 s with the defaults). A holder that stops cleanly writes
// expiresAt = 0, and the next follower tick (≤ renewMs) takes over.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';

export interface LeaseRecord {
  holder: string;
  epoch: number;
  acquiredAt: number;
  renewedAt: number;
  /** Wall-clock ms; 0 once released. */
  expiresAt: number;
}

export interface LeaseView {
  record: LeaseRecord;
  /** The backend's version of the stored record (KV version, revision, epoch:renewedAt). */
  version: string;
}

export interface LeaseBackend {
  readonly location: string;
  /** The current record, null when nobody ever held the lease. Throws StoreUnavailableError. */
  read(name: string): Promise<LeaseView | null>;
  /** Starts `record.epoch` (prev.epoch + 1, or 1): the new view, or null when someone else started it first. */
  claim(name: string, record: LeaseRecord, prev: LeaseView | null): Promise<LeaseView | null>;
  /** The holder rewrites its own epoch; null when the lease moved on (a higher epoch, or not ours). */
  renew(name: string, record: LeaseRecord, current: LeaseView): Promise<LeaseView | null>;
}

/** A well-formed lease name: a DNS label, so every store can key it. */
export const LEASE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Parses a stored lease record; throws with the reason when it is not one. */
export function parseLeaseRecord(body: string, where: string): LeaseRecord {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (err) {
    throw new Error(`lease ${where} is not JSON: ${(err as Error).message}`);
  }
  const r = v as Partial<LeaseRecord> | null;
  if (!r || typeof r.holder !== 'string' || !Number.isInteger(r.epoch) || typeof r.expiresAt !== 'number' || typeof r.acquiredAt !== 'number' || typeof r.renewedAt !== 'number') {
    throw new Error(`lease ${where} is not a lease record {holder, epoch, acquiredAt, renewedAt, expiresAt}`);
  }
  return r as LeaseRecord;
}

/** A unique holder id for this process: host, pid and a random suffix (a restarted process is a new holder). */
export function processHolderId(prefix = 'weir'): string {
  return `${prefix}@${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export interface LeaderElectionOptions {
  backend: LeaseBackend;
  /** Lease name (a DNS label), e.g. `release-controller`. */
  name: string;
  holder?: string;
  ttlMs?: number;
  renewMs?: number;
  /** Allowed clock disagreement between replicas. */
  skewMs?: number;
  logger?: Logger;
  /** Called on every change of leadership, with the epoch held (or lost). */
  onChange?: (leader: boolean, epoch: number) => void;
  /** Wall clock, for tests. */
  now?: () => number;
}

export class LeaderElection {
  readonly holder: string;
  readonly name: string;
  readonly ttlMs: number;
  readonly renewMs: number;
  readonly skewMs: number;
  private readonly backend: LeaseBackend;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly onChange: ((leader: boolean, epoch: number) => void) | undefined;
  private view: LeaseView | null = null;
  private leader = false;
  /** performance.now() after which this process no longer counts itself leader. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(opts: LeaderElectionOptions) {
    if (!LEASE_NAME.test(opts.name)) throw new Error(`lease name ${JSON.stringify(opts.name)} must be a DNS label`);
    this.backend = opts.backend;
    this.name = opts.name;
    this.holder = opts.holder ?? processHolderId();
    this.ttlMs = opts.ttlMs ?? 15_000;
    this.renewMs = opts.renewMs ?? Math.max(1, Math.floor(this.ttlMs / 3));
    this.skewMs = opts.skewMs ?? 1_000;
    if (this.renewMs >= this.ttlMs - this.skewMs) throw new Error(`lease ${opts.name}: renewMs (${this.renewMs}) must be below ttlMs − skewMs (${this.ttlMs - this.skewMs})`);
    this.log = opts.logger ?? silentLogger();
    this.now = opts.now ?? Date.now;
    this.onChange = opts.onChange;
  }

  /** Worst-case time for a follower to take over from a holder that died without releasing. */
  get takeoverBoundMs(): number {
    return this.ttlMs + this.skewMs + this.renewMs;
  }

  /** True while this process holds the lease and its last renewal is fresh enough to act on. */
  isLeader(): boolean {
    return this.leader && performance.now() < this.validUntil;
  }

  /** The epoch held (a fencing token), 0 when not leader. */
  get epoch(): number {
    return this.isLeader() && this.view ? this.view.record.epoch : 0;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops campaigning; a leader releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    const v = this.view;
    if (this.leader && v) {
      const t = this.now();
      try {
        await this.backend.renew(this.name, { ...v.record, renewedAt: t, expiresAt: 0 }, v);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, lease: this.name }, 'could not release the lease; it expires on its own');
      }
    }
    this.setLeader(false);
  }

  /** One campaign step; exported for tests that drive time themselves. */
  async tick(): Promise<void> {
    const startedMono = performance.now();
    const t = this.now();
    try {
      if (this.leader && this.view && startedMono < this.validUntil) {
        const next = await this.backend.renew(this.name, { ...this.view.record, renewedAt: t, expiresAt: t + this.ttlMs }, this.view);
        if (next) {
          this.view = next;
          this.validUntil = startedMono + this.ttlMs - this.skewMs;
          return;
        }
        this.log.warn({ lease: this.name, holder: this.holder }, 'lease taken over by another holder');
        this.setLeader(false);
      }
      const current = await this.backend.read(this.name);
      // Our own record (a renewal that failed in transit, or validity lapsed locally): start a
      // fresh epoch rather than extend one we may no longer be entitled to.
      const free = !current || current.record.expiresAt + this.skewMs < t || (current.record.holder === this.holder && !this.leader);
      if (!free) {
        this.view = current;
        this.setLeader(false);
        return;
      }
      const record: LeaseRecord = { holder: this.holder, epoch: (current?.record.epoch ?? 0) + 1, acquiredAt: t, renewedAt: t, expiresAt: t + this.ttlMs };
      const got = await this.backend.claim(this.name, record, current);
      if (!got) {
        this.setLeader(false);
        return;
      }
      this.view = got;
      this.validUntil = startedMono + this.ttlMs - this.skewMs;
      this.setLeader(true);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, lease: this.name }, 'lease store unavailable; retrying');
      if (this.leader && performance.now() >= this.validUntil) this.setLeader(false);
    }
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    const epoch = this.view?.record.epoch ?? 0;
    this.log.info({ lease: this.name, holder: this.holder, epoch, leader }, leader ? 'lease acquired' : 'lease lost');
    this.onChange?.(leader, epoch);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(this.renewMs);
      });
    }, ms);
    this.timer.unref();
  }
}

/** The key-value side a compare-and-set store offers for leases (Vault KV v2, NATS KV). */
export interface CasLeaseIo {
  get(name: string): Promise<{ body: string; version: string } | null>;
  /** `ifVersion: null` = must not exist; throws VersionConflictError when the version moved. */
  put(name: string, body: string, ifVersion: string | null): Promise<{ version: string }>;
  isConflict(err: unknown): boolean;
}

/** Leases over a store with real compare-and-set: an epoch starts with a CAS on the previous record. */
export function casLeaseBackend(location: string, io: CasLeaseIo): LeaseBackend {
  const write = async (name: string, record: LeaseRecord, ifVersion: string | null): Promise<LeaseView | null> => {
    try {
      const { version } = await io.put(name, JSON.stringify(record), ifVersion);
      return { record, version };
    } catch (err) {
      if (io.isConflict(err)) return null;
      throw err;
    }
  };
  return {
    location,
    async read(name) {
      const got = await io.get(name);
      return got ? { record: parseLeaseRecord(got.body, `${location}/${name}`), version: got.version } : null;
    },
    claim: (name, record, prev) => write(name, record, prev?.version ?? null),
    async renew(name, record, current) {
      if (current.record.holder !== record.holder || current.record.epoch !== record.epoch) return null;
      return write(name, record, current.version);
    },
  };
}
