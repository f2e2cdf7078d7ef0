// The gateway methods every store offers (what the agent and the control API's gateway path
// call), written once over the collection-aware document methods each store implements.
import type { Collection, DocumentFormat } from './collections.js';
import type { DocumentStore } from './document-store.js';
import type { LeaseBackend } from './lease.js';
import { asGatewaySnapshot, type ChangeHint, type DocumentEntry, type DocumentSnapshot, type Namespace, type StopWatching, type StoreEntry, type StoreSnapshot } from './store.js';
import type { DeleteOptions, PutOptions, StoreFormat } from './store-writer.js';

export abstract class CollectionStore implements DocumentStore {
  abstract readonly kind: 'file' | 'vault' | 'nats';
  abstract readonly location: string;
  abstract listDocuments(ns: Namespace, collection: Collection): Promise<DocumentSnapshot>;
  abstract getDocument(ns: Namespace, collection: Collection, name: string): Promise<DocumentEntry | null>;
  abstract putDocument(ns: Namespace, collection: Collection, name: string, body: string, format: DocumentFormat, opts?: PutOptions): Promise<{ version: string }>;
  abstract deleteDocument(ns: Namespace, collection: Collection, name: string, opts?: DeleteOptions): Promise<boolean>;
  abstract watchDocuments(ns: Namespace, collection: Collection, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching>;
  abstract leases(): LeaseBackend;

  async list(ns: Namespace): Promise<StoreSnapshot> {
    return asGatewaySnapshot(await this.listDocuments(ns, 'gateways'));
  }

  watch(ns: Namespace, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching> {
    return this.watchDocuments(ns, 'gateways', onChange);
  }

  /** The gateways collection holds YAML and JSON only (the stores check formats per collection). */
  async get(ns: Namespace, name: string): Promise<StoreEntry | null> {
    return (await this.getDocument(ns, 'gateways', name)) as StoreEntry | null;
  }

  put(ns: Namespace, name: string, body: string, format: StoreFormat, opts: PutOptions = {}): Promise<{ version: string }> {
    return this.putDocument(ns, 'gateways', name, body, format, opts);
  }

  delete(ns: Namespace, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    return this.deleteDocument(ns, 'gateways', name, opts);
  }
}
