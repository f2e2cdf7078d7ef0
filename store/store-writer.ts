// The write side shared by every store (control API, CLI, tests). The read side is `GatewayStore`.
import { COLLECTION_RULES, documentNoun, isDocumentName, type Collection } from './collections.js';
import type { Namespace, StoreEntry } from './store.js';

export type StoreFormat = StoreEntry['format'];

export interface PutOptions {
  /**
   * Optimistic concurrency: a version string from `get`/`list` means "only if it is still this";
   * `null` means "only if it does not exist yet"; absent means "write unconditionally".
   */
  ifVersion?: string | null;
}

export interface DeleteOptions {
  /** Only delete if the entry is still at this version. */
  ifVersion?: string;
}

export interface GatewayStoreWriter {
  get(ns: Namespace, name: string): Promise<StoreEntry | null>;
  put(ns: Namespace, name: string, body: string, format: StoreFormat, opts?: PutOptions): Promise<{ version: string }>;
  /** Resolves false when there was nothing to delete (and no `ifVersion` was given). */
  delete(ns: Namespace, name: string, opts?: DeleteOptions): Promise<boolean>;
  /** Namespaces that currently exist in the store, when the store can enumerate them. */
  listNamespaces?(): Promise<Namespace[]>;
}

/** A conditional write lost a race (or was based on a stale read). Callers re-read and retry or report 409. */
export class VersionConflictError extends Error {
  override readonly name = 'VersionConflictError';
  constructor(
    /** Where the entry lives (file path, `vault:...`, `nats:...`). */
    readonly key: string,
    /** What the caller required: a version, or null for "must not exist". */
    readonly expected: string | null,
    /** What the store has: a version, or null for "does not exist". */
    readonly actual: string | null,
  ) {
    super(
      `version conflict on ${key}: expected ${expected === null ? 'no existing entry' : `version ${expected}`}, ` +
        `found ${actual === null ? 'no entry' : `version ${actual}`}; re-read and retry`,
    );
  }
}

/** A caller passed a name or namespace the store cannot hold (not a DNS label). */
export class InvalidStoreKeyError extends Error {
  override readonly name = 'InvalidStoreKeyError';
  constructor(
    readonly what: 'name' | 'org' | 'env',
    readonly value: string,
    /** Singular noun of the document kind ("gateway", "release policy"). */
    noun = 'gateway',
    dotted = false,
  ) {
    super(
      `invalid ${noun} ${what} ${JSON.stringify(value)}: must be ${dotted && what === 'name' ? 'dot-separated DNS labels (each lowercase a-z, 0-9, \'-\', 1-63 chars; 253 chars in all)' : "a DNS label (lowercase a-z, 0-9, '-', 1-63 chars, no leading/trailing '-')"}`,
    );
  }
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const isDnsLabel = (s: string): boolean => DNS_LABEL.test(s);

/** Throws InvalidStoreKeyError unless org and env are DNS labels and `name` suits `collection`. */
export function assertDocumentKey(ns: Namespace, collection: Collection, name?: string): void {
  const noun = documentNoun(collection);
  if (!isDnsLabel(ns.org)) throw new InvalidStoreKeyError('org', ns.org, noun);
  if (!isDnsLabel(ns.env)) throw new InvalidStoreKeyError('env', ns.env, noun);
  if (name !== undefined && !isDocumentName(collection, name)) throw new InvalidStoreKeyError('name', name, noun, COLLECTION_RULES[collection].dottedNames);
}

/** Throws InvalidStoreKeyError unless org, env and (when given) name are DNS labels. */
export function assertStoreKey(ns: Namespace, name?: string): void {
  if (!isDnsLabel(ns.org)) throw new InvalidStoreKeyError('org', ns.org);
  if (!isDnsLabel(ns.env)) throw new InvalidStoreKeyError('env', ns.env);
  if (name !== undefined && !isDnsLabel(name)) throw new InvalidStoreKeyError('name', name);
}
