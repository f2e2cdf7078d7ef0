// [edge] TLS certificate documents: a PEM chain (leaf first) and its private key, stored as
// `<org>/<env>/certificates/<name>` (file store: `<name>.pem`, chain then key). Shared by the
// control API (refuses bad uploads) and the agent (refuses bad store entries, keeps the previous
// version serving). Every refusal names what is wrong; warnings do not refuse.
//
// The PEM handed on is rebuilt from the parsed blocks (no comments, no blank lines): HAProxy's
// runtime API ends a payload at the first empty line, so text between blocks must not reach it.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { rootCertificates } from 'node:tls';

export const MAX_CERTIFICATE_BYTES = 256 * 1024;
export const MAX_CHAIN_LENGTH = 8;

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----/g;
const KEY_TYPES = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);

export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** DNS names a client's SNI can match (subject alternative names, else the CN). */
  dnsNames: string[];
  /** Every subject alternative name as OpenSSL prints it (`DNS:a.example`, `IP Address:10.0.0.1`). */
  subjectAltNames: string[];
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the leaf's DER, colon-separated hex. */
  fingerprintSha256: string;
  serial: string;
  keyType: string;
  chain: Array<{ subject: string; issuer: string; notAfter: string }>;
}

export interface ParsedCertificate extends CertificateInfo {
  /** The normalized chain, leaf first (PEM blocks only). */
  chainPem: string;
  /** The normalized private key block. Never logged, never shown. */
  keyPem: string;
  /** Chain then key, as HAProxy loads it. */
  pem: string;
  /** sha256 of `pem`: changes with any byte of chain or key. */
  contentHash: string;
}

export type CertificateResult = { ok: true; certificate: ParsedCertificate; warnings: string[] } | { ok: false; errors: string[] };

interface Block {
  type: string;
  text: string;
}

function blocks(pem: string): { blocks: Block[]; stray: boolean } {
  const out: Block[] = [];
  let rest = '';
  let last = 0;
  for (const m of pem.matchAll(BLOCK)) {
    rest += pem.slice(last, m.index);
    last = (m.index ?? 0) + m[0].length;
    const body = (m[2] ?? '').replace(/\s+/g, '');
    out.push({ type: m[1] ?? '', text: `-----BEGIN ${m[1]}-----\n${(body.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${m[1]}-----\n` });
  }
  rest += pem.slice(last);
  return { blocks: out, stray: /-----(BEGIN|END) /.test(rest) };
}

const day = (d: Date): string => d.toISOString().slice(0, 10);

function dnsNamesOf(cert: X509Certificate): { dns: string[]; sans: string[] } {
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  const dns = sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase());
  if (dns.length > 0 || sans.length > 0) return { dns, sans };
  // No SAN at all: clients fall back to the CN (HAProxy indexes it for SNI too).
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1]?.toLowerCase();
  return { dns: cn && /^(\*\.)?[a-z0-9.-]+$/.test(cn) && cn.includes('.') ? [cn] : [], sans };
}

const oneLine = (dn: string): string => dn.split('\n').join(', ');

/**
 * Parses and checks a certificate document. Refused: no certificate, no key or more than one,
 * encrypted keys, unparsable blocks, a key that does not match, an expired or not yet valid
 * leaf, a chain out of order. Warned: a leaf alone whose issuer is no well-known root (a missing
 * intermediate), a leaf that expires within 14 days, RSA keys under 2048 bits, no DNS name.
 */
export function parseCertificate(text: string, opts: { now?: Date } = {}): CertificateResult {
  const now = opts.now ?? new Date();
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CERTIFICATE_BYTES) return { ok: false, errors: [`the certificate document is ${bytes} bytes, at most ${MAX_CERTIFICATE_BYTES} (256 KiB)`] };
  const { blocks: found, stray } = blocks(text);
  const errors: string[] = [];
  if (stray) errors.push('a PEM block is not closed (a BEGIN line without its END line, or the other way round)');
  const certBlocks = found.filter((b) => b.type === 'CERTIFICATE');
  const keyBlocks = found.filter((b) => KEY_TYPES.has(b.type));
  for (const b of found) {
    if (b.type === 'ENCRYPTED PRIVATE KEY') errors.push('the private key is encrypted: HAProxy cannot ask for a passphrase, store it unencrypted (openssl pkey -in key.pem -out plain.pem)');
    else if (b.type !== 'CERTIFICATE' && !KEY_TYPES.has(b.type)) errors.push(`unexpected PEM block "${b.type}": a certificate document holds CERTIFICATE blocks (leaf first) and one private key`);
  }
  if (certBlocks.length === 0) errors.push('no certificate: expected the PEM chain (-----BEGIN CERTIFICATE-----, leaf first)');
  if (certBlocks.length > MAX_CHAIN_LENGTH) errors.push(`${certBlocks.length} certificates in the chain, at most ${MAX_CHAIN_LENGTH}`);
  if (keyBlocks.length === 0 && !found.some((b) => b.type === 'ENCRYPTED PRIVATE KEY')) errors.push('no private key: expected one -----BEGIN PRIVATE KEY----- block (PKCS#8, or RSA/EC PRIVATE KEY)');
  if (keyBlocks.length > 1) errors.push(`${keyBlocks.length} private keys, expected exactly one`);
  if (errors.length > 0) return { ok: false, errors };

  const chain: X509Certificate[] = [];
  for (const [i, b] of certBlocks.entries()) {
    try {
      chain.push(new X509Certificate(b.text));
    } catch (err) {
      errors.push(`certificate ${i + 1} of the chain does not parse: ${(err as Error).message}`);
    }
  }
  let key: KeyObject | null = null;
  try {
    key = createPrivateKey((keyBlocks[0] as Block).text);
  } catch (err) {
    errors.push(`the private key does not parse: ${(err as Error).message}`);
  }
  if (errors.length > 0 || !key) return { ok: false, errors };
  const leaf = chain[0] as X509Certificate;
  const warnings: string[] = [];

  if (!leaf.checkPrivateKey(key)) errors.push(`the private key does not match the certificate (${oneLine(leaf.subject)}): it belongs to another certificate`);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) errors.push(`the certificate (${oneLine(leaf.subject)}) expired on ${day(notAfter)}`);
  if (notBefore.getTime() > now.getTime()) errors.push(`the certificate (${oneLine(leaf.subject)}) is not valid before ${notBefore.toISOString()}`);
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i] as X509Certificate;
    const parent = chain[i + 1] as X509Certificate;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      errors.push(`certificate ${i + 2} of the chain (${oneLine(parent.subject)}) did not issue certificate ${i + 1} (issuer ${oneLine(child.issuer)}): put the chain in order, leaf first, each certificate followed by its issuer`);
      break;
    }
  }
  for (const [i, c] of chain.entries()) {
    if (i > 0 && new Date(c.validTo).getTime() <= now.getTime()) errors.push(`certificate ${i + 1} of the chain (${oneLine(c.subject)}) expired on ${day(new Date(c.validTo))}`);
  }
  if (errors.length > 0) return { ok: false, errors };

  // A chain that ends at a CA certificate reaches its root (public or private, clients must have
  // that one anyway). A leaf alone whose issuer is no well-known root most likely misses its
  // intermediate: clients that do not have it cached fail the handshake.
  const top = chain[chain.length - 1] as X509Certificate;
  const selfIssued = top.checkIssued(top) && top.verify(top.publicKey);
  if (!top.ca && !selfIssued && !issuedByKnownRoot(top)) {
    warnings.push(
      `the chain is the leaf alone and its issuer (${oneLine(top.issuer)}) is not a well-known root CA: unless every client has that certificate, add the intermediate certificate(s) after the leaf, or those clients fail the handshake`,
    );
  }
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000);
  if (daysLeft < 14) warnings.push(`the certificate expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'} (${day(notAfter)})`);
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) < 2048) warnings.push(`the RSA key has ${details?.modulusLength} bits; 2048 or more is expected`);
  const names = dnsNamesOf(leaf);
  if (names.dns.length === 0) warnings.push('the certificate has no DNS name (subject alternative names or CN): SNI can never select it, clients get it only as a default');
  for (const n of names.dns) if (!/^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(n)) warnings.push(`the name ${JSON.stringify(n)} is not a valid DNS name: no SNI will ever match it`);

  const chainPem = certBlocks.map((b) => b.text).join('');
  const keyPem = (keyBlocks[0] as Block).text;
  const pem = chainPem + keyPem;
  return {
    ok: true,
    warnings,
    certificate: {
      subject: oneLine(leaf.subject),
      issuer: oneLine(leaf.issuer),
      dnsNames: names.dns,
      subjectAltNames: names.sans,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      fingerprintSha256: leaf.fingerprint256,
      serial: leaf.serialNumber,
      keyType: key.asymmetricKeyType === 'rsa' ? `RSA ${details?.modulusLength ?? ''}`.trim() : key.asymmetricKeyType === 'ec' ? `EC ${details?.namedCurve ?? ''}`.trim() : String(key.asymmetricKeyType),
      chain: chain.map((c) => ({ subject: oneLine(c.subject), issuer: oneLine(c.issuer), notAfter: new Date(c.validTo).toISOString() })),
      chainPem,
      keyPem,
      pem,
      contentHash: createHash('sha256').update(pem).digest('hex'),
    },
  };
}

let roots: X509Certificate[] | null = null;

function issuedByKnownRoot(cert: X509Certificate): boolean {
  roots ??= rootCertificates.flatMap((p) => {
    try {
      return [new X509Certificate(p)];
    } catch {
      return [];
    }
  });
  return roots.some((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
}

/** The public part of a parsed certificate, for APIs and status: never the key. */
export function certificateInfo(c: ParsedCertificate): CertificateInfo {
  const { chainPem: _c, keyPem: _k, pem: _p, contentHash: _h, ...info } = c;
  return info;
}

/** Whether a client asking for `host` by SNI gets a certificate with these names (exact, or a one-label wildcard). */
export function namesCover(dnsNames: readonly string[], host: string): boolean {
  const h = host.toLowerCase();
  return dnsNames.some((n) => {
    if (n === h) return true;
    if (!n.startsWith('*.') || !h.endsWith(n.slice(1))) return false;
    const label = h.slice(0, h.length - (n.length - 1));
    return label !== '' && !label.includes('.');
  });
}
