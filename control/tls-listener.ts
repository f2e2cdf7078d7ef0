// [edge] The control API over HTTPS: WEIR_CONTROL_TLS_CERT (PEM chain, leaf first) and
// WEIR_CONTROL_TLS_KEY (PEM key). Checked at start like a certificate upload (a bad pair fails the
// start with the file and the reason); the files are re-read every WEIR_CONTROL_TLS_RELOAD_MS
// (10 s) and a changed, valid pair
// replaces the server's certificate in place (Kubernetes updates Secret mounts under a running
// process). A changed pair that is refused is logged and the previous one keeps serving.
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from '../runtime/log.js';
import { SettingsError } from '../runtime/settings-parse.js';
import { parseCertificate } from '../model/certificate.js';

export interface ControlTlsFiles {
  cert: string;
  key: string;
}

export interface LoadedTls {
  cert: string;
  key: string;
  fingerprint: string;
  notAfter: string;
}

async function load(files: ControlTlsFiles): Promise<LoadedTls> {
  const [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
  const r = parseCertificate(`${cert.replace(/\s*$/, '\n')}${key}`);
  if (!r.ok) throw new Error(`${files.cert} + ${files.key}: ${r.errors.join('; ')}`);
  return { cert: r.certificate.chainPem, key: r.certificate.keyPem, fingerprint: r.certificate.fingerprintSha256, notAfter: r.certificate.notAfter };
}

/** Reads and checks the pair at start; throws SettingsError naming the variables. */
export async function loadControlTls(files: ControlTlsFiles): Promise<LoadedTls> {
  try {
    return await load(files);
  } catch (err) {
    throw new SettingsError(`WEIR_CONTROL_TLS_CERT/WEIR_CONTROL_TLS_KEY: ${(err as Error).message}`);
  }
}

/** Re-reads the files every `intervalMs`; returns a stop function. */
export function watchControlTls(server: HttpsServer, files: ControlTlsFiles, current: LoadedTls, log: Logger, intervalMs = 10_000): () => void {
  let served = current;
  let lastError = '';
  const timer = setInterval(() => {
    load(files).then(
      (next) => {
        lastError = '';
        if (next.cert === served.cert && next.key === served.key) return;
        server.setSecureContext({ cert: next.cert, key: next.key });
        log.info({ fingerprint: next.fingerprint, notAfter: next.notAfter }, 'control API certificate replaced');
        served = next;
      },
      (err: unknown) => {
        const msg = (err as Error).message;
        if (msg !== lastError) log.error({ err: msg }, 'control API certificate not replaced; the previous one keeps serving');
        lastError = msg;
      },
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
