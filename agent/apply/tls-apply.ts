// [edge] TLS runtime operations on the admin socket. A certificate is replaced in one
// transaction (`set ssl cert` with the PEM as payload, then `commit ssl cert`): HAProxy builds the
// new SSL contexts beside the old ones and swaps them, so handshakes never see a half-updated
// certificate; a refused commit is aborted and the previous certificate keeps serving. The PEM
// goes over the socket only: commands, errors and logs name the file, never its content.
import type { RuntimeClient } from '../haproxy/runtime-client.js';
import type { CliCommand } from '../haproxy/cli-connection.js';
import { RuntimeCommandError } from '../haproxy/errors.js';
import type { TlsRuntimeOp } from '../plan/tls-plan.js';

/** Runs the operations in order; returns the number of commands sent. Throws on the first failure. */
export async function applyTlsOps(rt: RuntimeClient, ops: TlsRuntimeOp[]): Promise<number> {
  let sent = 0;
  for (const op of ops) {
    const cmds: CliCommand[] = [];
    if (op.kind === 'set-ssl-cert') {
      if (op.create) cmds.push({ command: `new ssl cert ${op.path}` });
      cmds.push({ command: `set ssl cert ${op.path}`, payload: op.pem.split('\n').filter((l) => l !== '') });
      cmds.push({ command: `commit ssl cert ${op.path}` });
    } else if (op.kind === 'add-crt-list') {
      cmds.push({ command: `add ssl crt-list ${op.list} ${op.path}` });
    } else if (op.kind === 'del-crt-list') {
      cmds.push({ command: `del ssl crt-list ${op.list} ${op.path}` });
    } else {
      cmds.push({ command: `del ssl cert ${op.path}` });
    }
    const results = await rt.batch(cmds);
    sent += cmds.length;
    const bad = results.find((r) => !r.ok);
    if (bad) {
      if (op.kind === 'set-ssl-cert') await rt.batch([{ command: `abort ssl cert ${op.path}` }]).catch(() => undefined);
      throw new RuntimeCommandError(bad.command, (bad.error ?? bad.reply).replace(/-----BEGIN[\s\S]*?-----END[^-]*-----/g, '[PEM]'));
    }
  }
  return sent;
}
