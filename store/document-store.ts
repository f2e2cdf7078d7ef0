// The collection-aware side of every store: release policies, release runs and their history,
// certificates (and gateways, which the agent reads through `GatewayStore`). Same guarantees as
// gateways: bytes in, bytes out; versions that change with every write; `ifVersion` CAS
// (`null` = must not exist); an unreachable store is StoreUnavailableError, never "empty".
import type { Collection, DocumentFormat } from './collections.js';
import type { LeaseBackend } from './lease.js';
import type { ChangeHint, DocumentEntry, DocumentSnapshot, Namespace, StopWatching } from './store.js';
import type { DeleteOptions, PutOptions } from './store-writer.js';

export interface DocumentStore {
  readonly kind: 'file' | 'vault' | 'nats';
  readonly location: string;
  /**
   * Every document of a collection. A collection nobody wrote to yet is empty; only the gateways
   * collection treats a missing namespace as an outage (the agent must not drop its gateways).
   */
  listDocuments(ns: Namespace, collection: Collection): Promise<DocumentSnapshot>;
  getDocument(ns: Namespace, collection: Collection, name: string): Promise<DocumentEntry | null>;
  putDocument(ns: Namespace, collection: Collection, name: string, body: string, format: DocumentFormat, opts?: PutOptions): Promise<{ version: string }>;
  deleteDocument(ns: Namespace, collection: Collection, name: string, opts?: DeleteOptions): Promise<boolean>;
  /** Calls `onChange` soon after a document of the collection may have changed (a no-op for Vault, which has no watch). */
  watchDocuments(ns: Namespace, collection: Collection, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching>;
  /** Where this store keeps leases (leader election across control-API replicas). */
  leases(): LeaseBackend;
}
