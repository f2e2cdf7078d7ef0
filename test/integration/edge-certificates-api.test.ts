// The control API's certificate endpoints on the file store: PUT {certificate, key} → the file
// `<root>/<org>/<env>/certificates/<name>.pem` (chain then key); GET/list show chain and
// metadata, never the key; bad uploads (expired, key mismatch, fields swapped) refused with the
// reason and nothing changed; gateways may only reference certificates that exist; a
// certificate in use cannot be deleted; the audit log records the writes, without keys.
import { readFile, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { runControl } from '../../control/main.js';
import { freePort } from '../harness/ports.js';
import { waitFor } from '../harness/tmp.js';
import { join } from 'node:path';
import { createPki, type Pki } from '../harness/certs.js';
import { Cleanup, gwPath, scratch, startE2EControl, type E2EControl } from '../harness/e2e.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('edge: control API certificates (file store)');
const cleanup = new Cleanup();
let control: E2EControl;
let pki: Pki;
let root = '';
let dir = '';
const cpath = (name?: string): string => `/api/v1/namespaces/acme/prod/certificates${name ? `/${name}` : ''}`;

t.before(async () => {
  dir = await scratch(cleanup);
  root = join(dir, 'store');
  control = await startE2EControl({ store: `file://${root}`, stateDir: join(dir, 'control') });
  cleanup.add(() => control.close());
  pki = await createPki(join(dir, 'pki'));
});
t.after(() => cleanup.run());

t('PUT stores chain then key in <name>.pem; responses and GETs never hold the key', async () => {
  const c = await pki.issue({ cn: 'shop.example.test', dns: ['shop.example.test', 'www.shop.example.test'] });
  const r = await control.api('PUT', cpath('shop'), { body: { certificate: c.chain, key: c.key } });
  assert.is(r.status, 201, r.text);
  assert.is(r.json.name, 'shop');
  assert.equal(r.json.dnsNames, ['shop.example.test', 'www.shop.example.test']);
  assert.match(r.json.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.ok(Date.parse(r.json.notAfter) > Date.now());
  assert.is(r.headers.get('etag'), `"${r.json.version}"`);
  assert.not.match(r.text, /PRIVATE KEY/);
  const file = await readFile(join(root, 'acme', 'prod', 'certificates', 'shop.pem'), 'utf8');
  assert.match(file, /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----[\s\S]+-----END PRIVATE KEY-----\n$/);
  const g = await control.api('GET', cpath('shop'));
  assert.is(g.status, 200);
  assert.is(g.json.certificate.match(/BEGIN CERTIFICATE/g).length, 2);
  assert.is(g.json.chain.length, 2);
  assert.not.match(g.text, /PRIVATE KEY/);
  const l = await control.api('GET', cpath());
  assert.equal(l.json.certificates.map((x: { name: string; valid: boolean }) => [x.name, x.valid]), [['shop', true]]);
  assert.not.match(l.text, /PRIVATE KEY|BEGIN CERTIFICATE/);
  // Conditional requests like gateways.
  assert.is((await control.api('GET', cpath('shop'), { headers: { 'if-none-match': `"${r.json.version}"` } })).status, 304);
  assert.is((await control.api('PUT', cpath('shop'), { body: { certificate: c.chain, key: c.key }, headers: { 'if-match': '"nope"' } })).status, 409);
});

t('bad uploads are refused with the certificate name and reason; the stored one is unchanged', async () => {
  const before = (await control.api('GET', cpath('shop'))).json.version;
  const expired = await pki.issue({ cn: 'shop.example.test', dns: ['shop.example.test'], start: new Date('2021-01-01'), end: new Date('2021-03-01') });
  const other = await pki.issue({ cn: 'x.test', dns: ['x.test'] });
  const cases: Array<[unknown, RegExp]> = [
    [{ certificate: expired.chain, key: expired.key }, /^certificate "shop": the certificate \(CN=shop\.example\.test\) expired on 2021-03-01$/],
    [{ certificate: other.chain, key: expired.key }, /^certificate "shop": the private key does not match the certificate \(CN=x\.test\)/],
    [{ certificate: 'hello', key: other.key }, /no certificate: expected the PEM chain/],
    [{ certificate: other.key, key: other.cert }, /certificate: holds a private key/],
    [{ certificate: other.chain }, /key: required/],
    [{ certificate: other.chain, key: other.key, extra: 1 }, /unknown field "extra"/],
    [{ certificate: pki.intermediatePem + other.cert, key: other.key }, /did not issue certificate 1/],
  ];
  for (const [body, re] of cases) {
    const r = await control.api('PUT', cpath('shop'), { body });
    assert.is(r.status, 400, r.text);
    assert.match(r.json.error.message, re);
    assert.not.match(r.text, /PRIVATE KEY/);
  }
  assert.is((await control.api('GET', cpath('shop'))).json.version, before);
  // YAML is not accepted for certificates.
  assert.is((await control.api('PUT', cpath('shop'), { body: 'certificate: x\n' })).status, 415);
});

t('warnings do not refuse: a leaf without its intermediate, a certificate near expiry', async () => {
  const c = await pki.issue({ cn: 'soon.test', dns: ['soon.test'], days: 3 });
  const r = await control.api('PUT', cpath('soon'), { body: { certificate: c.cert, key: c.key } });
  assert.is(r.status, 201, r.text);
  assert.ok(r.json.warnings.some((w: string) => /the chain is the leaf alone and its issuer \(CN=Weir Test Intermediate\) is not a well-known root CA/.test(w)));
  assert.ok(r.json.warnings.some((w: string) => /expires in 2 days/.test(w)));
});

t('gateways reference only certificates that exist; one in use cannot be deleted; audit without keys', async () => {
  const gw = (certs: string[]) => ({ port: 18443, tls: { certificates: certs }, routes: { v1: { targets: ['127.0.0.1:9'] } } });
  let r = await control.api('PUT', gwPath('acme', 'prod', 'web'), { body: gw(['shop', 'missing']) });
  assert.is(r.status, 409, r.text);
  assert.is(r.json.error.code, 'certificate_not_found');
  assert.match(r.json.error.message, /tls\.certificates\[1\]: certificate "missing" does not exist in acme\/prod: PUT \/api\/v1\/namespaces\/acme\/prod\/certificates\/missing first/);
  r = await control.api('PUT', gwPath('acme', 'prod', 'web'), { body: gw(['shop']) });
  assert.is(r.status, 201, r.text);
  r = await control.api('DELETE', cpath('shop'));
  assert.is(r.status, 409);
  assert.is(r.json.error.code, 'certificate_in_use');
  assert.match(r.json.error.message, /used by gateway web/);
  assert.is((await control.api('DELETE', gwPath('acme', 'prod', 'web'))).status, 204);
  assert.is((await control.api('DELETE', cpath('shop'))).status, 204);
  assert.is((await control.api('GET', cpath('shop'))).status, 404);
  const audit = await readFile(join(dir, 'control', 'audit.jsonl'), 'utf8');
  assert.match(audit, /"action":"certificate.create","target":"certificate\/acme\/prod\/shop"/);
  assert.match(audit, /"action":"certificate.delete"/);
  assert.not.match(audit, /PRIVATE KEY|BEGIN/);
  // The OpenAPI document lists the endpoints.
  const doc = (await control.api('GET', '/api/v1/openapi.json')).json;
  assert.ok(doc.paths['/api/v1/namespaces/{org}/{env}/certificates/{name}'].put);
});

t('weir certificate put/list/get/delete through the API; the key never printed', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const c = await pki.issue({ cn: 'cli.test', dns: ['cli.test'] });
  await writeFile(join(dir, 'cli.crt'), c.chain);
  await writeFile(join(dir, 'cli.key'), c.key);
  const env = { ...process.env, WEIR_URL: control.base, WEIR_TOKEN: control.adminToken, WEIR_NAMESPACE: 'acme/prod' };
  const cli = join(process.cwd(), 'dist', 'cli', 'main.js');
  const put = await run(process.execPath, [cli, 'certificate', 'put', 'cli', '--cert', join(dir, 'cli.crt'), '--key', join(dir, 'cli.key')], { env });
  assert.match(put.stdout, /^certificate\/cli created \(version .*; cli\.test; until /);
  const list = await run(process.execPath, [cli, 'certificate', 'list'], { env });
  assert.match(list.stdout, /^NAME +VERSION +NAMES/m);
  assert.match(list.stdout, /^cli +\S+ +cli\.test /m);
  const got = await run(process.execPath, [cli, 'certificate', 'get', 'cli'], { env });
  assert.match(got.stdout, /^-----BEGIN CERTIFICATE-----/);
  for (const out of [put.stdout, list.stdout, got.stdout, put.stderr]) assert.not.match(out, /PRIVATE KEY/);
  await writeFile(join(dir, 'other.key'), (await pki.issue({ cn: 'other.test', dns: ['other.test'] })).key);
  const bad = await run(process.execPath, [cli, 'certificate', 'put', 'cli', '--cert', join(dir, 'cli.crt'), '--key', join(dir, 'other.key')], { env }).then(() => null, (e: { code: number; stderr: string }) => e);
  assert.is(bad?.code, 1);
  assert.match(bad?.stderr ?? '', /does not match the certificate/);
  assert.match((await run(process.execPath, [cli, 'certificate', 'delete', 'cli'], { env })).stdout, /certificate\/cli deleted/);
});

t('the control API serves HTTPS from WEIR_CONTROL_TLS_CERT/_KEY, replaces a changed pair in place, keeps it when the new one is bad', async () => {
  const a = await pki.issue({ cn: 'control.test', dns: ['control.test'] });
  const certFile = join(dir, 'control.crt');
  const keyFile = join(dir, 'control.key');
  await writeFile(certFile, a.chain);
  await writeFile(keyFile, a.key);
  const port = await freePort();
  const env = { WEIR_STORE: `file://${root}`, WEIR_CONTROL_ADDR: `127.0.0.1:${port}`, WEIR_CONTROL_STATE_DIR: join(dir, 'control-tls'), WEIR_LOG_LEVEL: 'silent', WEIR_CONTROL_TLS_CERT: certFile, WEIR_CONTROL_TLS_KEY: keyFile, WEIR_CONTROL_TLS_RELOAD_MS: '100' };
  const running = await runControl(env, { handleSignals: false });
  cleanup.add(() => running.close());
  const served = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'control.test', ca: pki.rootPem }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.end();
      });
      s.once('error', reject);
    });
  assert.is(await served(), new X509Certificate(a.cert).fingerprint256);
  const b = await pki.issue({ cn: 'control.test', dns: ['control.test'] });
  await writeFile(certFile, b.chain);
  await writeFile(keyFile, b.key);
  await waitFor(async () => (await served()) === new X509Certificate(b.cert).fingerprint256, { what: 'the new pair served' });
  // A key that does not match: refused, the previous pair keeps serving.
  await writeFile(keyFile, a.key);
  await new Promise((r) => setTimeout(r, 400));
  assert.is(await served(), new X509Certificate(b.cert).fingerprint256);
  // At start, a bad pair fails with the variables' names.
  await writeFile(keyFile, a.key);
  await writeFile(certFile, b.chain);
  const failed = await runControl({ ...env, WEIR_CONTROL_ADDR: `127.0.0.1:${await freePort()}` }, { handleSignals: false }).then(() => null, (e: Error) => e);
  assert.match(failed?.message ?? '', /^WEIR_CONTROL_TLS_CERT\/WEIR_CONTROL_TLS_KEY: .*the private key does not match the certificate/);
  const half = await runControl({ ...env, WEIR_CONTROL_TLS_KEY: '' }, { handleSignals: false }).then(() => null, (e: Error) => e);
  assert.match(half?.message ?? '', /WEIR_CONTROL_TLS_CERT is set without WEIR_CONTROL_TLS_KEY/);
});

t.run();
