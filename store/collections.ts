// What the store holds besides gateways, and the rules each kind of document follows. Every store
// lays a namespace out the same way: `<org>/<env>/<collection>/<name>`, so one tenant's policies,
// releases and certificates never mix with another's, and access policies (Vault, NATS) can be
// written per collection.
import { isDnsLabel } from './store-writer.js';

export const COLLECTIONS = ['gateways', 'release-policies', 'releases', 'release-history', 'certificates'] as const;
export type Collection = (typeof COLLECTIONS)[number];

export type DocumentFormat = 'yaml' | 'json' | 'pem';

export interface CollectionRules {
  /** Formats a document of this collection may be stored in (the first is the default). */
  formats: readonly DocumentFormat[];
  /** Largest body accepted, in bytes (a store refuses a larger file or value as a problem). */
  maxBytes: number;
  /** Whether names may be several dot-separated DNS labels (`shop.r-1a2b`), or exactly one. */
  dottedNames: boolean;
}

export const COLLECTION_RULES: Readonly<Record<Collection, CollectionRules>> = {
  gateways: { formats: ['yaml', 'json'], maxBytes: 256 * 1024, dottedNames: false },
  'release-policies': { formats: ['yaml', 'json'], maxBytes: 256 * 1024, dottedNames: false },
  // A run record keeps its last measurements and transition history: larger than a definition.
  releases: { formats: ['json'], maxBytes: 1024 * 1024, dottedNames: false },
  'release-history': { formats: ['json'], maxBytes: 1024 * 1024, dottedNames: true },
  certificates: { formats: ['pem'], maxBytes: 256 * 1024, dottedNames: false },
};

export const isCollection = (s: string): s is Collection => (COLLECTIONS as readonly string[]).includes(s);

/** A document name for `collection`: a DNS label, or dot-separated DNS labels where the collection allows them (≤ 253 chars). */
export function isDocumentName(collection: Collection, name: string): boolean {
  if (!COLLECTION_RULES[collection].dottedNames) return isDnsLabel(name);
  return name.length <= 253 && name.split('.').every(isDnsLabel);
}

/** Singular noun for messages ("gateway", "release policy", …). */
export function documentNoun(collection: Collection): string {
  switch (collection) {
    case 'gateways':
      return 'gateway';
    case 'release-policies':
      return 'release policy';
    case 'releases':
      return 'release';
    case 'release-history':
      return 'release history entry';
    case 'certificates':
      return 'certificate';
  }
}
