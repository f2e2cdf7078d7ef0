// Who may do what: admin everything; deployer reads and writes gateways in granted namespaces;
// viewer reads in granted namespaces. Grants: `org/env`, `org/*`, `*`.
import type { Namespace } from '../store/store.js';
import { ApiError } from './errors.js';
import type { Role, TokenRecord, TokenVerifier } from './tokens.js';

export interface Principal {
  id: string;
  name: string;
  role: Role;
  namespaces: readonly string[];
}

/** What a route needs. `public` routes skip authentication. `audit`: admins and the namespace's deployers. */
export type Access = 'public' | 'authenticated' | 'read' | 'write' | 'audit' | 'admin';

export function grants(p: Principal, ns: Namespace): boolean {
  if (p.role === 'admin') return true;
  return p.namespaces.some((g) => g === '*' || g === `${ns.org}/*` || g === `${ns.org}/${ns.env}`);
}

export function allowed(p: Principal, access: Access, ns: Namespace | null): boolean {
  switch (access) {
    case 'public':
    case 'authenticated':
      return true;
    case 'admin':
      return p.role === 'admin';
    case 'read':
      return ns !== null && grants(p, ns);
    case 'write':
    case 'audit':
      return ns !== null && p.role !== 'viewer' && grants(p, ns);
  }
}

const unauthorized = (message: string): ApiError =>
  new ApiError(401, 'unauthorized', message, undefined, { 'www-authenticate': 'Bearer realm="weir"' });

/** Reads `Authorization: Bearer <token>`; throws 401 unless the token is valid. */
export async function authenticate(verifier: TokenVerifier, header: string | undefined): Promise<Principal> {
  if (!header) throw unauthorized('missing bearer token: send "Authorization: Bearer weir_<id>_<secret>"');
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"');
  const rec: TokenRecord | null = await verifier.verify(m[1] as string);
  if (!rec) throw unauthorized('invalid, unknown or revoked token');
  return { id: rec.id, name: rec.name, role: rec.role, namespaces: rec.namespaces };
}

export function forbidden(p: Principal, access: Access, ns: Namespace | null): ApiError {
  const where = ns ? ` in ${ns.org}/${ns.env}` : '';
  const what = access === 'admin' ? 'this needs an admin token' : access === 'audit' ? `token "${p.name}" (${p.role}) may not read the audit log${where}: admins and the namespace's deployers may` : access === 'write' ? `token "${p.name}" (${p.role}) may not change gateways${where}` : `token "${p.name}" has no access${where}`;
  return new ApiError(403, 'forbidden', what);
}

/** `name (id)`: who, in audit records. */
export const actor = (p: Principal): string => `${p.name} (${p.id})`;
