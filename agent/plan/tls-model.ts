// [edge] The HAProxy side of TLS termination. A TLS gateway binds with `ssl crt-list
// <tlsDir>/<gateway>.crt-list`; the list names one PEM file per certificate,
// `<tlsDir>/<certificate>.pem` (chain then key, mode 0600), the default first. What changes
// without a reload (the planner, tls-plan.ts): a certificate's content (`set ssl cert` +
// `commit ssl cert`, same worker) and certificates other than the first joining or leaving a
// gateway (`add/del ssl crt-list`). What needs one: TLS switched on or off, another default
// certificate, alpn, min_version, redirect_http.
import { join } from 'node:path';
import type { Gateway } from '../../model/gateway.js';

export interface TlsBindModel {
  crtList: string;
  /** PEM paths in crt-list order; the first is the default certificate. */
  certificates: string[];
  /** Appended to the `bind` line: ` ssl crt-list … alpn … ssl-min-ver …`. */
  bindOptions: string;
  /** Plain-HTTP requests for the virtual hosts are redirected (on the virtual-host frontend). */
  redirectHttp: boolean;
  /** `https://<host><redirectSuffix>` + path: `:<port>` unless the gateway is on 443. */
  redirectSuffix: string;
}

/** What HAProxy loads for one certificate file. */
export interface CertificateFile {
  name: string;
  pem: string;
  contentHash: string;
}

export const certificatePath = (tlsDir: string, name: string): string => join(tlsDir, `${name}.pem`);
export const crtListPath = (tlsDir: string, gateway: string): string => join(tlsDir, `${gateway}.crt-list`);

export function tlsBindModel(gw: Gateway, tlsDir: string): TlsBindModel | null {
  const t = gw.tls;
  if (!t) return null;
  const crtList = crtListPath(tlsDir, gw.name);
  const alpn = t.alpn.length > 0 ? ` alpn ${t.alpn.join(',')}` : '';
  return {
    crtList,
    certificates: t.certificates.map((c) => certificatePath(tlsDir, c)),
    bindOptions: ` ssl crt-list ${crtList}${alpn} ssl-min-ver ${t.minVersion}`,
    redirectHttp: t.redirectHttp,
    redirectSuffix: gw.port === 443 ? '' : `:${gw.port}`,
  };
}

/** The files a model's TLS needs: crt-lists (one path per line) and PEMs. Path → content. */
export function tlsFiles(gateways: ReadonlyArray<{ tls: TlsBindModel | null }>, certificates: Readonly<Record<string, CertificateFile>>): Record<string, string> {
  const files: Record<string, string> = {};
  for (const g of gateways) if (g.tls) files[g.tls.crtList] = g.tls.certificates.map((c) => `${c}\n`).join('');
  for (const [path, c] of Object.entries(certificates)) files[path] = c.pem;
  return files;
}
