// Certificate documents (model/certificate.ts) and the gateway `tls` field (model/tls.ts):
// what is refused, what is only warned, and SNI name matching. Certificates come from openssl.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { namesCover, parseCertificate } from '../../model/certificate.js';
import { validateGatewayInput } from '../../model/parse.js';
import { createPki, type Pki } from '../harness/certs.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const run = promisify(execFile);
const t = suite('edge: certificate documents and the tls field');
let pki: Pki;
let dir: { path: string; remove: () => Promise<void> };
t.before(async () => {
  dir = await tempDir('weir-cert-unit-');
  pki = await createPki(join(dir.path, 'pki'));
});
t.after(() => dir.remove());

t('a good chain: metadata, normalized PEM without blank lines or comments', async () => {
  const c = await pki.issue({ cn: 'shop.test', dns: ['shop.test', '*.shop.test'] });
  const r = parseCertificate(`# comment\n\n${c.chain}\n\nBag Attributes: x\n${c.key}`);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.certificate.dnsNames, ['shop.test', '*.shop.test']);
  assert.is(r.certificate.chain.length, 2);
  assert.is(r.certificate.keyType, 'EC prime256v1');
  assert.not.match(r.certificate.pem, /\n\n|comment|Bag/);
  assert.match(r.certificate.pem, /-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----/);
  assert.equal(r.warnings, []);
});

t('refused: encrypted key, two keys, no key, garbage, unclosed block', async () => {
  const c = await pki.issue({ cn: 'a.test', dns: ['a.test'] });
  const keyFile = join(dir.path, 'k.pem');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(keyFile, c.key);
  await run('openssl', ['pkcs8', '-topk8', '-in', keyFile, '-out', `${keyFile}.enc`, '-passout', 'pass:x']);
  const enc = await readFile(`${keyFile}.enc`, 'utf8');
  const bad = (text: string, re: RegExp): void => {
    const r = parseCertificate(text);
    assert.not.ok(r.ok, String(re));
    if (!r.ok) assert.ok(r.errors.some((e) => re.test(e)), `${re}: ${r.errors.join(' | ')}`);
  };
  bad(c.chain + enc, /the private key is encrypted: HAProxy cannot ask for a passphrase/);
  bad(c.chain + c.key + c.key, /2 private keys, expected exactly one/);
  bad(c.chain, /no private key/);
  bad('hello', /no certificate/);
  bad(c.chain.replace(/-----END CERTIFICATE-----\n$/, '') + c.key, /not closed|does not parse|did not issue/);
});

t('warned: a leaf alone from an intermediate, near expiry, a small RSA key, no DNS name', async () => {
  const leaf = await pki.issue({ cn: 'a.test', dns: ['a.test'], days: 5 });
  let r = parseCertificate(leaf.cert + leaf.key);
  assert.ok(r.ok);
  if (r.ok) {
    assert.ok(r.warnings.some((w) => /the chain is the leaf alone and its issuer \(CN=Weir Test Intermediate\)/.test(w)));
    assert.ok(r.warnings.some((w) => /expires in 4 days/.test(w)));
  }
  const rsa = await pki.issue({ cn: 'r.test', dns: ['r.test'], rsaBits: 1024 });
  r = parseCertificate(rsa.chain + rsa.key);
  assert.ok(r.ok && r.warnings.some((w) => /RSA key has 1024 bits/.test(w)));
  const ip = await pki.issue({ cn: 'Some Service', ips: ['10.0.0.1'] });
  r = parseCertificate(ip.chain + ip.key);
  assert.ok(r.ok && r.warnings.some((w) => /no DNS name.*SNI can never select it/.test(w)));
});

t('SNI matching: exact names and one-label wildcards', () => {
  assert.ok(namesCover(['shop.test'], 'SHOP.test'));
  assert.ok(namesCover(['*.shop.test'], 'www.shop.test'));
  assert.not.ok(namesCover(['*.shop.test'], 'a.b.shop.test'));
  assert.not.ok(namesCover(['*.shop.test'], 'shop.test'));
  assert.not.ok(namesCover(['shop.test'], 'www.shop.test'));
});

t('the tls field: defaults, http-only options, references by name', () => {
  const gw = (tls: unknown, extra: Record<string, unknown> = {}) => validateGatewayInput({ name: 'g', port: 443, ...extra, tls, routes: { v1: { targets: ['127.0.0.1:80'] } } }, { source: 'g.yaml' });
  const ok = gw({ certificates: ['a'] });
  assert.ok(ok.ok && ok.gateway.tls && ok.gateway.tls.minVersion === 'TLSv1.2' && ok.gateway.tls.alpn.join() === 'h2,http/1.1');
  const tcp = validateGatewayInput({ name: 'g', port: '5432/tcp', tls: { certificates: ['a'] }, routes: { v1: { targets: ['127.0.0.1:5432'] } } }, { source: 'g.yaml' });
  assert.ok(tcp.ok && tcp.gateway.tls?.alpn.length === 0);
  const errs = (r: ReturnType<typeof gw>): string[] => (r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`));
  assert.ok(errs(gw({ certificates: ['a'], redirect_http: true })).some((e) => /tls\.redirect_http: redirect_http needs virtual_hosts/.test(e)));
  assert.ok(errs(gw({ certificates: ['a'], alpn: ['h3'] })).some((e) => /tls\.alpn\[0\]: "h3" is not an HTTP protocol/.test(e)));
  assert.ok(errs(gw({ certificates: ['a'], min_version: 'TLSv1.1' })).some((e) => /tls\.min_version: expected "TLSv1\.2" or "TLSv1\.3"/.test(e)));
  assert.ok(errs(gw({ certificates: [] })).some((e) => /at least one certificate/.test(e)));
  assert.ok(errs(gw({ certificates: ['a'], ciphers: 'x' })).some((e) => /tls: unknown field "ciphers"/.test(e)));
  assert.ok(gw({ certificates: ['a'], redirect_http: true }, { virtual_hosts: ['shop.test'] }).ok);
});

t.run();
