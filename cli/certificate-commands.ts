// [edge] `weir certificate put|list|get|delete`: TLS certificates through the control API. The
// key is read from a file and sent once; nothing printed ever holds it (the API returns none).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ApiClient, nsPath, parseOutput, printData, resolveNamespace, runCli, table, UsageError, type CliIo } from './api-client.js';

export const CERTIFICATE_USAGE = `Usage:
  weir certificate put <name> --cert <chain.pem> --key <key.pem> [-n org/env]   create or replace (refused if bad: expired, key mismatch, …)
  weir certificate list [-n org/env]                                           name, DNS names, not-after, fingerprint
  weir certificate get <name> [-n org/env]                                     the chain and its metadata (never the key)
  weir certificate delete <name> [-n org/env]                                  refused while a gateway uses it

Options:
  -n, --namespace org/env   default: WEIR_NAMESPACE or default/default
  -o, --output table|json|yaml
Environment: WEIR_URL (https://… trusts NODE_EXTRA_CA_CERTS), WEIR_TOKEN
`;

interface CertView {
  name: string;
  version: string;
  valid: boolean;
  subject?: string;
  dnsNames?: string[];
  notAfter?: string;
  fingerprintSha256?: string;
  certificate?: string;
  warnings?: string[];
  errors?: string[];
}

export function runCertificateCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, CERTIFICATE_USAGE, async () => {
    const [sub, ...args] = argv;
    if (sub === undefined) throw new UsageError('certificate needs a command');
    if (sub === 'help' || sub === '--help' || sub === '-h') {
      io.out(CERTIFICATE_USAGE);
      return 0;
    }
    const { values, positionals } = parseArgs({ args, options: { namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' }, cert: { type: 'string' }, key: { type: 'string' } }, allowPositionals: true, strict: true });
    const client = ApiClient.fromEnv(io.env);
    const ns = resolveNamespace(values.namespace, io.env);
    const output = parseOutput(values.output);
    const path = (name: string): string => `${nsPath(ns)}/certificates/${encodeURIComponent(name)}`;
    const name = (): string => {
      const n = positionals[0];
      if (!n) throw new UsageError('missing certificate name');
      return n;
    };
    const warn = (v: CertView): void => {
      for (const w of v.warnings ?? []) io.err(`warning: certificate ${v.name}: ${w}\n`);
      for (const e of v.errors ?? []) io.err(`refused by agents: certificate ${v.name}: ${e}\n`);
    };
    switch (sub) {
      case 'put':
      case 'apply': {
        if (!values.cert || !values.key) throw new UsageError('certificate put needs --cert <chain.pem> and --key <key.pem>');
        const read = (f: string): Promise<string> => readFile(f, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new UsageError(`cannot read ${f}: ${err.code ?? err.message}`);
        });
        const body = JSON.stringify({ certificate: await read(values.cert), key: await read(values.key) });
        const res = await client.request('PUT', path(name()), { body, contentType: 'application/json' });
        const v = JSON.parse(res.text) as CertView;
        if (!printData(io, output, v)) io.out(`certificate/${v.name} ${res.status === 201 ? 'created' : 'configured'} (version ${v.version}; ${(v.dnsNames ?? []).join(', ')}; until ${v.notAfter ?? '?'})\n`);
        warn(v);
        return 0;
      }
      case 'list':
      case 'ls': {
        const reply = await client.json<{ certificates: CertView[] }>('GET', `${nsPath(ns)}/certificates`);
        if (printData(io, output, reply)) return 0;
        if (reply.certificates.length === 0) io.out(`no certificates in ${ns.org}/${ns.env}\n`);
        else io.out(table(['NAME', 'VERSION', 'NAMES', 'NOT AFTER', 'SHA-256'], reply.certificates.map((c) => [c.valid ? c.name : `${c.name} (refused)`, c.version, (c.dnsNames ?? []).join(',') || '-', c.notAfter ?? '-', (c.fingerprintSha256 ?? '-').slice(0, 23)])));
        for (const c of reply.certificates) warn(c);
        return 0;
      }
      case 'get': {
        const v = await client.json<CertView>('GET', path(name()));
        if (!printData(io, output, v)) io.out(v.certificate ?? '');
        warn(v);
        return 0;
      }
      case 'delete':
      case 'rm':
        await client.request('DELETE', path(name()));
        if (!printData(io, output, { name: name(), deleted: true })) io.out(`certificate/${name()} deleted\n`);
        return 0;
      default:
        throw new UsageError(`unknown certificate command "${sub}"`);
    }
  });
}
