// What release/ needs from the rest of Weir, as small interfaces. The composition roots
// (`weir control`, `weir release-controller` in cli/) hand in implementations: the store's
// document methods, the control API's gateway write path (validation, CAS, audit, change
// event), the agents' status heartbeats, NATS for release events, the metrics sources. release/
// imports no other component's modules; these shapes are structurally what those provide.
import type { DocumentEntry, Namespace } from '../store/store.js';
import type { DocumentStore } from '../store/document-store.js';
import type { AuditRecord } from '../events/contract.js';
import type { ReleaseEvent } from '../events/contract.js';

/** The store's collection-aware document methods (store/document-store.ts), the ones release/ uses. */
export type ReleaseDocumentStore = Pick<DocumentStore, 'kind' | 'listDocuments' | 'getDocument' | 'putDocument' | 'deleteDocument' | 'watchDocuments'>;

export type StoredDocument = DocumentEntry;

/** Gateway reads: the store as the agents see it. */
export interface GatewayReader {
  get(ns: Namespace, name: string): Promise<StoredDocument | null>;
  list(ns: Namespace): Promise<{ entries: StoredDocument[] }>;
  /** Namespaces that exist, for the controller's sweep. */
  listNamespaces?(): Promise<Namespace[]>;
}

/** One route as a release step sets it. */
export interface RouteWrite {
  weight: number;
  condition: string | null;
  conditionStrength: number | null;
}

export type GatewayWriteFailure = 'not_found' | 'invalid' | 'conflict' | 'unavailable' | 'failed';

export class GatewayWriteError extends Error {
  override readonly name = 'GatewayWriteError';
  constructor(
    readonly code: GatewayWriteFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The write path of `PUT …/weights` and `PATCH …/routes/{r}`: validation with the gateway
 * model, CAS on the stored version, audit, the NATS change event. Throws GatewayWriteError.
 */
export interface GatewayRouteWriter {
  writeRoutes(ns: Namespace, gateway: string, routes: Record<string, RouteWrite>, opts: { action: string; actor: string; ifVersion?: string; requestId: string }): Promise<{ version: string }>;
}

/** One agent as its last heartbeat described it (control's AgentStatusView has this shape). */
export interface AgentApplied {
  agentId: string;
  quiet: boolean;
  applied: ReadonlyArray<{ name: string; version: string }>;
  problems: ReadonlyArray<{ name: string | null; version: string | null; errors: string[] }>;
}

export interface AgentAckSource {
  agents(ns: Namespace): AgentApplied[];
}

export interface ReleaseEventPublisher {
  /** Must not throw for NATS being away; best effort, the run record is the durable history. */
  publishRelease(ns: Namespace, gateway: string, ev: ReleaseEvent): Promise<void>;
}

export interface ReleaseAuditSink {
  record(ns: Namespace | null, rec: AuditRecord): Promise<void>;
}

/** The controller lease (store/lease.ts LeaderElection). */
export interface Leadership {
  isLeader(): boolean;
  readonly epoch: number;
}
