// Drill: certificate rotation under load (DRILL_ROTATIONS, 20). One `weir agent` process serves
// a TLS gateway from the file store; a new certificate (from a test CA, openssl) replaces the
// stored one again and again while a client opens a new connection per request with a full,
// verified handshake (no session resumption). Each rotation waits until HAProxy presents the new
// certificate. Counts: handshakes, failures, certificates seen, worker PIDs, reloads.
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts, HAPROXY_BIN, tempDir } from '../lib.js';
import { createPki, type Issued } from '../../test/harness/certs.js';
import { LoadGenerator } from '../../test/harness/load.js';
import { httpUpstream } from '../../test/harness/upstream.js';
import { sleep, waitFor } from '../../test/harness/tmp.js';
import { agentStatus, finish, envInt, masterInfo, reasons, say, startAgentProcess, type AgentProc, type DrillReport } from './lib.js';

export async function certRotationDrill(opts: { rotations?: number } = {}): Promise<DrillReport> {
  const n = opts.rotations ?? envInt('DRILL_ROTATIONS', 20);
  const dir = await tempDir('weir-drill-certs-');
  const ns = join(dir.path, 'store', 'default', 'default');
  await mkdir(join(ns, 'gateways'), { recursive: true });
  await mkdir(join(ns, 'certificates'), { recursive: true });
  const up = await httpUpstream('shop');
  const pki = await createPki(join(dir.path, 'pki'));
  const ca = pki.rootPem + pki.intermediatePem;
  const [port = 0, httpPort = 0] = await freePorts(2);
  const putCert = async (c: Issued): Promise<void> => {
    await writeFile(join(ns, 'certificates', '.shop.tmp'), c.chain + c.key);
    await rename(join(ns, 'certificates', '.shop.tmp'), join(ns, 'certificates', 'shop.pem'));
  };
  await putCert(await pki.issue({ cn: 'shop.test', dns: ['shop.test'] }));
  await writeFile(join(ns, 'gateways', 'shop.yaml'), `name: shop\nport: ${port}\ntls:\n  certificates: [shop]\nroutes:\n  v1:\n    targets: ["127.0.0.1:${up.port}"]\n`);
  const served = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'shop.test', ca }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.end();
      });
      s.once('error', reject);
    });
  const stateDir = join(dir.path, 'state');
  let agent: AgentProc | null = null;
  let load: LoadGenerator | null = null;
  try {
    agent = await startAgentProcess({ WEIR_STORE: `file://${join(dir.path, 'store')}`, WEIR_STATE_DIR: stateDir, WEIR_BIND_ADDRESS: '127.0.0.1', WEIR_HAPROXY_BIN: HAPROXY_BIN, WEIR_VHOST_PORT: '0', WEIR_MONITOR_PORT: '0', WEIR_TELEMETRY: 'off', WEIR_LOG_LEVEL: 'warn' }, httpPort);
    await waitFor(async () => (await agentStatus(httpPort)).applied.length === 1 && !(await agentStatus(httpPort)).pendingReload, { what: 'applied' });
    const socket = join(stateDir, 'master.sock');
    const first = await masterInfo(socket);
    load = new LoadGenerator(`https://127.0.0.1:${port}/`, { concurrency: 8, newConnection: true, servername: 'shop.test', ca });
    await sleep(500);
    const fingerprints: string[] = [];
    const lags: number[] = [];
    for (let i = 1; i <= n; i++) {
      const next = await pki.issue({ cn: 'shop.test', dns: ['shop.test'] });
      const fp = new X509Certificate(next.cert).fingerprint256;
      const t0 = Date.now();
      await putCert(next);
      await waitFor(async () => (await served()) === fp, { what: `rotation ${i}`, timeoutMs: 30_000, intervalMs: 10 });
      lags.push(Date.now() - t0);
      fingerprints.push(fp);
      await sleep(300);
      if (i % 5 === 0) say(`${i}/${n} rotations`);
    }
    await sleep(500);
    const s = await load.stop();
    load = null;
    const last = await masterInfo(socket);
    const seen = new Set(Object.keys(s.tls).map((k) => k.split(' ')[2]));
    const failures: string[] = [];
    if (s.failed > 0) failures.push(`${s.failed} failed handshakes or requests (${reasons(s)})`);
    if (JSON.stringify(last.workers) !== JSON.stringify(first.workers)) failures.push(`the worker changed: ${first.workers.join(',')} → ${last.workers.join(',')}`);
    if (last.reloads !== first.reloads) failures.push(`${last.reloads - first.reloads} reloads`);
    lags.sort((a, b) => a - b);
    return finish('cert-rotation', [`replaced the gateway's certificate ${n} times in the file store (a new key each time), new verified TLS connection per request meanwhile; each rotation waited until HAProxy presented the new certificate`], {
        rotations: n,
        'handshakes + requests': s.sent,
        ok: s.ok,
        'failed handshakes or requests': s.failed,
        'failure reasons': reasons(s),
        'rotated certificates the load saw': `${fingerprints.filter((f) => seen.has(f)).length} of ${n}`,
        'store write → served, median ms': lags[Math.floor(lags.length / 2)] ?? 0,
        'store write → served, max ms': lags[lags.length - 1] ?? 0,
        'worker PIDs before / after': `${first.workers.join(',')} / ${last.workers.join(',')}`,
        reloads: last.reloads - first.reloads,
      }, failures);
  } finally {
    await load?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await up.close();
    await dir.remove();
  }
}
