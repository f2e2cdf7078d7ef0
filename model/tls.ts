// [edge] TLS termination on a gateway: `tls: {certificates, min_version, alpn, redirect_http}`.
// The certificates are references to documents of the same namespace (`certificates/<name>`,
// model/certificate.ts); the first one is the default for clients whose SNI matches none.
// Kept apart from schema.ts so the gateway schema only gains one field.
import { z } from 'zod';

export const MAX_TLS_CERTIFICATES = 32;
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];
export const HTTP_ALPN = ['h2', 'http/1.1'] as const;
const ALPN_TOKEN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,31}$/;
const CERT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface GatewayTls {
  /** Certificate document names, the default first. */
  certificates: string[];
  minVersion: TlsVersion;
  /** ALPN protocols offered, in preference order; empty = no ALPN. */
  alpn: string[];
  /** Plain-HTTP requests for the gateway's virtual hosts (on the virtual-host frontend) are redirected to HTTPS. */
  redirectHttp: boolean;
}

export const TlsSchema = z
  .strictObject(
    {
      certificates: z
        .array(z.string({ error: 'expected a certificate name' }), { error: 'expected a list of certificate names' })
        .min(1, { error: 'at least one certificate is required' })
        .max(MAX_TLS_CERTIFICATES, { error: `at most ${MAX_TLS_CERTIFICATES} certificates` })
        .describe(`Names of certificates stored in the same namespace (\`<org>/<env>/certificates/<name>\`, written with PUT …/certificates/{name}); at most ${MAX_TLS_CERTIFICATES}. HAProxy picks the one whose names match the client's SNI; the first is the default for clients without SNI or with an unknown name.`),
      min_version: z.enum(TLS_VERSIONS, { error: 'expected "TLSv1.2" or "TLSv1.3"' }).optional().describe('Lowest TLS version accepted: "TLSv1.2" (default) or "TLSv1.3".'),
      alpn: z
        .array(z.string({ error: 'expected an ALPN protocol name' }), { error: 'expected a list of ALPN protocols' })
        .max(8, { error: 'at most 8 ALPN protocols' })
        .optional()
        .describe('ALPN protocols offered, most preferred first. http gateways: "h2" (HTTP/2) and "http/1.1", default ["h2", "http/1.1"]; [] turns ALPN off (HTTP/1.1 only). tcp gateways: any protocol names, default none.'),
      redirect_http: z.boolean({ error: 'expected true or false' }).optional().describe('http only, needs virtual_hosts: plain-HTTP requests for the virtual hosts on the shared virtual-host frontend (WEIR_VHOST_PORT) get a 308 redirect to https://<host>:<port>/… instead of being served. Default false.'),
    },
    { error: 'expected a TLS object such as {certificates: [shop-example-com]}' },
  )
  .describe('TLS termination: HAProxy serves HTTPS (or TLS for tcp) on the gateway port with certificates from the store, selected by SNI.');

export type TlsInput = z.output<typeof TlsSchema>;

/** Checked TLS settings, or errors by field (relative to `tls`). */
export function normalizeTls(t: TlsInput, mode: 'http' | 'tcp', virtualHosts: readonly string[]): { ok: true; tls: GatewayTls } | { ok: false; errors: Array<{ field: Array<string | number>; message: string }> } {
  const errors: Array<{ field: Array<string | number>; message: string }> = [];
  const seen = new Map<string, number>();
  t.certificates.forEach((name, i) => {
    if (!CERT_NAME.test(name)) errors.push({ field: ['certificates', i], message: `${JSON.stringify(name.slice(0, 80))} is not a certificate name: use a lower-case DNS label (a-z, 0-9 and "-", 1–63 characters)` });
    const first = seen.get(name);
    if (first !== undefined) errors.push({ field: ['certificates', i], message: `certificate "${name}" is listed twice (also certificates[${first}])` });
    seen.set(name, i);
  });
  const alpn = t.alpn ?? (mode === 'http' ? [...HTTP_ALPN] : []);
  alpn.forEach((p, i) => {
    if (mode === 'http' && !(HTTP_ALPN as readonly string[]).includes(p)) errors.push({ field: ['alpn', i], message: `${JSON.stringify(p.slice(0, 40))} is not an HTTP protocol HAProxy serves: use "h2" or "http/1.1"` });
    else if (!ALPN_TOKEN.test(p)) errors.push({ field: ['alpn', i], message: `${JSON.stringify(p.slice(0, 40))} is not an ALPN protocol name (letters, digits, ".", "_", "/", "-", at most 32)` });
  });
  if (new Set(alpn).size !== alpn.length) errors.push({ field: ['alpn'], message: 'a protocol is listed twice' });
  const redirectHttp = t.redirect_http ?? false;
  if (redirectHttp && mode === 'tcp') errors.push({ field: ['redirect_http'], message: 'redirect_http needs an http port (this gateway is tcp)' });
  else if (redirectHttp && virtualHosts.length === 0) errors.push({ field: ['redirect_http'], message: 'redirect_http needs virtual_hosts: the redirect is served on the shared virtual-host frontend for those hosts' });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, tls: { certificates: t.certificates, minVersion: t.min_version ?? 'TLSv1.2', alpn, redirectHttp } };
}
