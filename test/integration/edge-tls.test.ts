// TLS termination with certificates from the store, against real HAProxy and certificates made
// in the test (openssl): SNI picks the right certificate, ALPN gives HTTP/2, rotation under load
// keeps the worker and fails no handshake, certificates join and leave a gateway without a
// reload, bad certificates are refused with their name and reason while the previous one keeps
// serving, redirect_http, and no key in /status or /metrics.
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { connect as h2connect } from 'node:http2';
import { request } from 'node:http';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type AgentFixture } from '../harness/agent-fixture.js';
import { createPki, type Issued, type Pki } from '../harness/certs.js';
import { LoadGenerator } from '../harness/load.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { sleep, waitFor } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('edge: TLS termination with real HAProxy');
let fx: AgentFixture;
let pki: Pki;
let up: Upstream;
let port = 0;
let port2 = 0;
let certDir = '';
const certs: Record<string, Issued> = {};

const putCert = async (name: string, c: Issued): Promise<void> => {
  const tmp = join(certDir, `.${name}.tmp`);
  await writeFile(tmp, c.chain + c.key);
  const { rename } = await import('node:fs/promises');
  await rename(tmp, join(certDir, `${name}.pem`));
};
const gw = (certificates: string[], extra = ''): string => `name: shop\nport: ${port}\n${extra}tls:\n  certificates: [${certificates.join(', ')}]\nroutes:\n  v1:\n    targets: ["127.0.0.1:${up.port}"]\n`;

/** The certificate HAProxy presents for `servername`, and the negotiated ALPN protocol. */
function handshake(servername: string | undefined, alpn: string[] = ['h2', 'http/1.1'], p = port): Promise<{ cn: string; fingerprint: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: p, ...(servername ? { servername } : {}), ALPNProtocols: alpn, ca: pki.rootPem, rejectUnauthorized: false }, () => {
      const c: PeerCertificate = s.getPeerCertificate();
      resolve({ cn: String(c.subject?.CN ?? ''), fingerprint: c.fingerprint256, alpn: s.alpnProtocol ?? false });
      s.end();
    });
    s.once('error', reject);
  });
}
const fp = (c: Issued): string => new X509Certificate(c.cert).fingerprint256;
const workerPids = async (): Promise<number[]> => (await fx.currentWorkerPids()).sort();
const reloads = async (): Promise<number> => Number(/^weir_haproxy_reloads_total (\d+)/m.exec(await fx.agent.metrics.registry.metrics())?.[1] ?? 0);
const settled = (): Promise<unknown> => fx.waitStatus((s) => !s.pendingReload, 'no reload pending');

t.before(async () => {
  up = await httpUpstream('shop');
  [port = 0, port2 = 0] = await freePorts(2);
  fx = await startAgent({ env: { WEIR_RELOAD_MIN_INTERVAL_MS: '100' } });
  pki = await createPki(join(fx.dir, 'pki'));
  certDir = join(fx.storeRoot, 'default', 'default', 'certificates');
  await mkdir(certDir, { recursive: true });
  for (const n of ['a', 'b', 'c']) certs[n] = await pki.issue({ cn: `${n}.test`, dns: [`${n}.test`] });
  await putCert('cert-a', certs.a as Issued);
  await putCert('cert-b', certs.b as Issued);
  await fx.write('shop', gw(['cert-a', 'cert-b']));
  await fx.waitStatus((s) => s.applied.length === 1 && s.ready, 'shop applied');
  await settled();
});

t.after(async () => {
  await fx?.cleanup();
  await up?.close();
});

t('SNI picks the certificate; no or an unknown SNI gets the first; ALPN h2 serves HTTP/2', async () => {
  assert.is((await handshake('a.test')).cn, 'a.test');
  assert.is((await handshake('b.test')).cn, 'b.test');
  assert.is((await handshake('other.test')).cn, 'a.test');
  assert.is((await handshake(undefined)).cn, 'a.test');
  assert.is((await handshake('b.test')).alpn, 'h2');
  assert.is((await handshake('b.test', ['http/1.1'])).alpn, 'http/1.1');
  const body = await new Promise<string>((resolve, reject) => {
    const client = h2connect(`https://127.0.0.1:${port}`, { servername: 'b.test', ca: pki.rootPem, checkServerIdentity: () => undefined });
    client.once('error', reject);
    const req = client.request({ ':path': '/h2' });
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (b += d));
    req.on('end', () => {
      client.close();
      resolve(b);
    });
    req.on('error', reject);
  });
  assert.is(body, 'shop');
  const seen = up.seen[up.seen.length - 1];
  assert.is(seen?.headers['x-forwarded-proto'], 'https');
});

t('rotation under load: a new certificate five times, same worker, no reload, no failed handshake', async () => {
  await settled();
  const pids = await workerPids();
  const before = await reloads();
  const load = new LoadGenerator(`https://127.0.0.1:${port}/`, { concurrency: 4, newConnection: true, servername: 'a.test', ca: pki.rootPem + pki.intermediatePem });
  const served: string[] = [];
  for (let i = 0; i < 5; i++) {
    const next = await pki.issue({ cn: 'a.test', dns: ['a.test'] });
    await putCert('cert-a', next);
    await waitFor(async () => (await handshake('a.test')).fingerprint === fp(next), { what: `rotation ${i + 1} served`, timeoutMs: 15_000 });
    served.push(fp(next));
    await sleep(200);
  }
  const s = await load.stop();
  assert.equal(s.reasons, {}, `failures: ${JSON.stringify(s.reasons)}`);
  assert.ok(s.ok > 50, `${s.ok} handshakes`);
  const fingerprints = new Set(Object.keys(s.tls).map((k) => k.split(' ')[2]));
  assert.ok(served.filter((f) => fingerprints.has(f)).length >= 4, `the load saw the rotated certificates: ${JSON.stringify(s.tls)} vs ${served.join(" ")}`);
  // On failure, say whether the agent reloaded during the rotations (and why) or a reload from before was still landing.
  const after = await reloads();
  assert.equal(await workerPids(), pids, `same worker (reloads ${before} → ${after}; agent's last error: ${JSON.stringify(fx.agent.getStatus().lastError)})`);
  assert.is(after, before, 'no reload');
  assert.match(await fx.agent.metrics.registry.metrics(), /weir_tls_certificate_days_to_expiry\{certificate="cert-a"\} 29/);
});

t('certificates join and leave a gateway without a reload', async () => {
  await settled();
  const before = await reloads();
  await putCert('cert-c', certs.c as Issued);
  await fx.write('shop', gw(['cert-a', 'cert-b', 'cert-c']));
  await waitFor(async () => (await handshake('c.test')).cn === 'c.test', { what: 'cert-c added', timeoutMs: 15_000 });
  await fx.write('shop', gw(['cert-a', 'cert-c']));
  await waitFor(async () => (await handshake('b.test')).cn === 'a.test', { what: 'cert-b removed', timeoutMs: 15_000 });
  assert.is((await handshake('c.test')).cn, 'c.test');
  await settled();
  assert.is(await reloads(), before, 'no reload');
});

t('bad certificates are refused with name and reason; the previous one keeps serving', async () => {
  const good = (await handshake('a.test')).fingerprint;
  const expired = await pki.issue({ cn: 'a.test', dns: ['a.test'], start: new Date('2020-01-01'), end: new Date('2020-06-01') });
  await putCert('cert-a', expired);
  let s = await fx.waitStatus((x) => x.problems.some((p) => p.errors.some((e) => e.includes('certificate "cert-a"'))), 'expired refused');
  assert.ok(s.problems.some((p) => p.errors.some((e) => /certificate "cert-a": the certificate \(CN=a\.test\) expired on 2020-06-01/.test(e))), JSON.stringify(s.problems));
  assert.is((await handshake('a.test')).fingerprint, good);
  const mismatched: Issued = { ...(certs.a as Issued), key: (certs.b as Issued).key };
  await putCert('cert-a', mismatched);
  s = await fx.waitStatus((x) => x.problems.some((p) => p.errors.some((e) => e.includes('does not match'))), 'mismatch refused');
  assert.is((await handshake('a.test')).fingerprint, good);
  const cert = s.certificates.find((c) => c.name === 'cert-a');
  assert.ok(cert && cert.errors.length > 0 && cert.servingVersion !== cert.version, JSON.stringify(cert));
  assert.match(await fx.agent.metrics.registry.metrics(), /weir_tls_certificates_refused 1/);
  // A gateway naming a certificate the store does not have is not served.
  await fx.write('other', `name: other\nport: ${port2}\ntls:\n  certificates: [nope]\nroutes:\n  v1:\n    targets: ["127.0.0.1:${up.port}"]\n`);
  s = await fx.waitStatus((x) => x.problems.some((p) => p.name === 'other'), 'missing certificate reported');
  assert.match(s.problems.find((p) => p.name === 'other')?.errors[0] ?? '', /tls\.certificates\[0\]: certificate "nope" does not exist in default\/default/);
  assert.not.ok(s.applied.some((a) => a.name === 'other'));
  await fx.remove('other');
  // Fixed: served at once.
  const fixed = await pki.issue({ cn: 'a.test', dns: ['a.test'] });
  await putCert('cert-a', fixed);
  await waitFor(async () => (await handshake('a.test')).fingerprint === fp(fixed), { what: 'fixed certificate served', timeoutMs: 15_000 });
});

t('no private key in /status, /metrics or the state directory outside the 0600 files', async () => {
  const status = JSON.stringify(fx.status());
  assert.not.match(status, /PRIVATE KEY/);
  assert.not.match(await fx.agent.metrics.registry.metrics(), /PRIVATE KEY/);
  const { stat, readFile } = await import('node:fs/promises');
  const pem = join(fx.stateDir, 'tls', 'cert-a.pem');
  assert.is((await stat(pem)).mode & 0o777, 0o600);
  assert.not.match(await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8'), /PRIVATE KEY/);
});

t('redirect_http: plain HTTP for the virtual hosts gets a 308 to HTTPS on the gateway port', async () => {
  await fx.write('shop', gw(['cert-a', 'cert-c'], 'virtual_hosts: [a.test]\n').replace('tls:\n', 'tls:\n  redirect_http: true\n'));
  await fx.waitStatus((s) => s.applied.length === 1 && !s.pendingReload && s.problems.length === 0, 'redirect applied');
  const res = await waitFor(() => new Promise<{ status: number; location: string } | null>((resolve) => {
    const req = request({ host: '127.0.0.1', port: fx.vhostPort, path: '/x?y=1', headers: { host: 'A.test' } }, (r) => {
      r.resume();
      resolve(r.statusCode === 308 ? { status: 308, location: String(r.headers.location) } : null);
    });
    req.on('error', () => resolve(null));
    req.end();
  }), { what: 'a 308 redirect' });
  assert.is(res?.location, `https://a.test:${port}/x?y=1`);
});

t.run();
