// [edge] The reload-free part of a TLS change: certificate contents replaced in place (`set ssl
// cert` + `commit ssl cert`: the same worker keeps serving, handshakes in flight finish on the
// old certificate) and certificates other than a gateway's default joining or leaving its
// crt-list. Everything else about TLS is structural (gatewayStructuralKey) and waits for a reload.
import type { GatewayModel, HaproxyModel } from './haproxy-model.js';
import type { CertificateFile } from './tls-model.js';

export type TlsRuntimeOp =
  /** `create`: `new ssl cert` first (the file is not loaded yet). */
  | { kind: 'set-ssl-cert'; path: string; pem: string; create: boolean; name: string }
  | { kind: 'add-crt-list'; list: string; path: string }
  | { kind: 'del-crt-list'; list: string; path: string }
  | { kind: 'del-ssl-cert'; path: string };

const tlsShape = (g: GatewayModel): string | null => (g.tls ? JSON.stringify({ ...g.tls, certificates: g.tls.certificates.slice(0, 1) }) : null);

/**
 * `gateways`: the running gateways as the rest of the plan leaves them. Returns the TLS
 * operations, and those gateways and certificates as HAProxy has them once the operations ran.
 */
export function planTls(running: HaproxyModel, desired: HaproxyModel, gateways: GatewayModel[]): { ops: TlsRuntimeOp[]; gateways: GatewayModel[]; certificates: Record<string, CertificateFile> } {
  const certs: Record<string, CertificateFile> = { ...(running.certificates ?? {}) };
  const want = desired.certificates ?? {};
  const sets: TlsRuntimeOp[] = [];
  const adds: TlsRuntimeOp[] = [];
  const dels: TlsRuntimeOp[] = [];
  // Rotation: a loaded certificate whose content changed.
  for (const [path, c] of Object.entries(want)) {
    const cur = certs[path];
    if (cur && cur.contentHash !== c.contentHash) {
      sets.push({ kind: 'set-ssl-cert', path, pem: c.pem, create: false, name: c.name });
      certs[path] = c;
    }
  }
  const desiredByName = new Map(desired.gateways.map((g) => [g.name, g]));
  const after = gateways.map((rg) => {
    const dg = desiredByName.get(rg.name);
    if (!dg || !rg.tls || !dg.tls || tlsShape(rg) !== tlsShape(dg)) return rg;
    const have = rg.tls.certificates;
    const wanted = new Set(dg.tls.certificates);
    const added = dg.tls.certificates.filter((p) => !have.includes(p));
    const removed = have.filter((p) => !wanted.has(p));
    if (added.length === 0 && removed.length === 0) return rg;
    for (const path of added) {
      const c = want[path];
      if (!c) continue; // no usable certificate: the agent refused the gateway before planning
      if (!certs[path]) {
        sets.push({ kind: 'set-ssl-cert', path, pem: c.pem, create: true, name: c.name });
        certs[path] = c;
      }
      adds.push({ kind: 'add-crt-list', list: rg.tls.crtList, path });
    }
    for (const path of removed) dels.push({ kind: 'del-crt-list', list: rg.tls.crtList, path });
    const list = [...have.filter((p) => wanted.has(p)), ...added.filter((p) => want[p])];
    return { ...rg, tls: { ...rg.tls, certificates: list } };
  });
  // A certificate no crt-list uses any more leaves HAProxy's store too.
  const used = new Set(after.flatMap((g) => g.tls?.certificates ?? []));
  for (const path of Object.keys(certs)) {
    if (used.has(path)) continue;
    if (running.certificates?.[path]) dels.push({ kind: 'del-ssl-cert', path });
    delete certs[path];
  }
  return { ops: [...sets, ...adds, ...dels], gateways: after, certificates: certs };
}
