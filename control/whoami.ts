// `GET /api/v1/whoami`: what the presented token may do, so a client (the console, a script)
// shows only what will work. The server still checks every request; this only mirrors it.
import { namespaceKey, type Namespace } from '../store/store.js';
import { allowed, grants, type Principal } from './auth.js';

export interface NamespaceAccess {
  namespace: string;
  org: string;
  env: string;
  read: boolean;
  /** Gateways (and releases) may be changed. */
  write: boolean;
  /** `GET …/audit` is allowed. */
  audit: boolean;
}

export interface WhoAmI {
  id: string;
  name: string;
  role: Principal['role'];
  grants: readonly string[];
  /** Every namespace the token may read: its exact grants, and the store's namespaces its wildcards cover. Sorted. */
  namespaces: NamespaceAccess[];
  /** Set when wildcard grants could not be expanded (the store cannot list namespaces). */
  note?: string;
}

export async function whoami(p: Principal, store: { listNamespaces?(): Promise<Namespace[]> }): Promise<WhoAmI> {
  const found = new Map<string, Namespace>();
  for (const g of p.namespaces) {
    const m = /^([^/*]+)\/([^/*]+)$/.exec(g);
    if (m) found.set(g, { org: m[1] as string, env: m[2] as string });
  }
  let note: string | undefined;
  const wildcard = p.role === 'admin' || p.namespaces.some((g) => g.includes('*'));
  if (wildcard) {
    if (!store.listNamespaces) note = 'this store cannot list namespaces, so wildcard grants are not expanded';
    else {
      try {
        for (const ns of await store.listNamespaces()) if (grants(p, ns)) found.set(namespaceKey(ns), ns);
      } catch (err) {
        note = `wildcard grants are not expanded: the store could not list namespaces (${(err as Error).message})`;
      }
    }
  }
  const namespaces = [...found.values()]
    .map((ns) => ({ namespace: namespaceKey(ns), org: ns.org, env: ns.env, read: allowed(p, 'read', ns), write: allowed(p, 'write', ns), audit: allowed(p, 'audit', ns) }))
    .sort((a, b) => a.namespace.localeCompare(b.namespace));
  return { id: p.id, name: p.name, role: p.role, grants: p.namespaces, namespaces, ...(note ? { note } : {}) };
}
