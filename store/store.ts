// The seam between a config store and the agent (and, for writes, the control API).
// Stores only move bytes: parsing and validation belong to `model/`, `release/` and the
// certificate checks. Gateways are one collection among several (store/collections.ts); the
// gateway methods below are what the agent reads, `DocumentStore` (document-store.ts) the rest.
import type { DocumentFormat } from './collections.js';

export interface Namespace {
  org: string;
  env: string;
}

export const namespaceKey = (ns: Namespace): string => `${ns.org}/${ns.env}`;

/** One stored document, unparsed. */
export interface DocumentEntry {
  /** Document name as the store's key says (file base name, KV key suffix). */
  name: string;
  /** Where it lives, for error messages: a file path, `vault:secret/weir/o/e/gateways/x`, `nats:bucket/key`. */
  source: string;
  format: DocumentFormat;
  body: string;
  /** Opaque version that changes whenever the body changes (mtime+size, KV version, revision). */
  version: string;
}

/** One stored gateway definition, unparsed. */
export interface StoreEntry extends DocumentEntry {
  format: 'yaml' | 'json';
}

/** An entry the store saw but could not hand over (unreadable file, bad key name, oversize). */
export interface StoreEntryProblem {
  source: string;
  message: string;
  /** The gateway name, when the key is one (a targeted read replaces problems by name). */
  name?: string;
}

export interface DocumentSnapshot<E extends DocumentEntry = DocumentEntry> {
  entries: E[];
  problems: StoreEntryProblem[];
}

export type StoreSnapshot = DocumentSnapshot<StoreEntry>;

/** A one-key read as a snapshot: nothing when absent, the entry, or a problem naming the key. */
export function keySnapshot<E extends DocumentEntry>(source: string, name: string, got: E | { problem: string } | null): DocumentSnapshot<E> {
  if (got === null) return { entries: [], problems: [] };
  if ('problem' in got) return { entries: [], problems: [{ source, message: got.problem, name }] };
  return { entries: [got], problems: [] };
}

/** A gateways-collection snapshot: what a store reads there is only ever YAML or JSON. */
export const asGatewaySnapshot = (s: DocumentSnapshot): StoreSnapshot => s as StoreSnapshot;

/** The store could not be read at all; the agent keeps serving what it has. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    readonly location: string,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(`store ${location} unavailable: ${message}`);
  }
}

export type StopWatching = () => Promise<void>;

/** What a watch or an event knows about one change. */
export interface ChangeHint {
  /** The gateway that changed. */
  name: string;
  /** Its version after the change, null when it was deleted, absent when unknown. */
  version?: string | null;
}

export interface GatewayStore {
  readonly kind: 'file' | 'vault' | 'nats';
  /** Human-readable location with no secrets in it. */
  readonly location: string;
  /** All gateways of one namespace. Throws StoreUnavailableError when the store or the namespace root cannot be read. */
  list(ns: Namespace): Promise<StoreSnapshot>;
  /**
   * One gateway: a snapshot holding at most that entry or a problem with its key (none when it
   * is absent). Lets the agent apply a change it was told about without listing the namespace,
   * which for Vault costs a read per gateway. Throws StoreUnavailableError like `list`.
   * Stores without it are always re-listed.
   */
  read?(ns: Namespace, name: string): Promise<StoreSnapshot>;
  /**
   * Calls `onChange` soon after anything in the namespace may have changed, with a hint when
   * the store knows which gateway. Stores without a native watch return a no-op; the agent
   * also polls. `onChange` must be cheap: the agent reads the store afterwards.
   */
  watch(ns: Namespace, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching>;
  close(): Promise<void>;
}
