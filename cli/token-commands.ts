// `weir token create|list|revoke`: API tokens (admin only on the server side).
import { parseArgs } from 'node:util';
import { ago, ApiClient, parseOutput, printData, runCli, table, UsageError, type CliIo } from './api-client.js';

export const TOKEN_USAGE = `Usage:
  weir token create --name <name> --role admin|deployer|viewer [--namespace org/env]...
                    namespaces: org/env, org/* or *; the secret is printed once, on stdout
  weir token list
  weir token revoke <id>

Options:
  -o, --output table|json|yaml
Environment: WEIR_URL (default http://127.0.0.1:9100), WEIR_TOKEN (an admin token)
`;

const ROLES = ['admin', 'deployer', 'viewer'] as const;

interface TokenInfo {
  id: string;
  name: string;
  role: string;
  namespaces?: string[];
  createdAt?: string;
  createdBy?: string;
}

export function runTokenCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, TOKEN_USAGE, async () => {
    const [sub, ...args] = argv;
    if (sub === undefined) throw new UsageError('token needs a command');
    if (sub === 'help' || sub === '--help' || sub === '-h') {
      io.out(TOKEN_USAGE);
      return 0;
    }
    const { values, positionals } = parseArgs({
      args,
      options: {
        name: { type: 'string' },
        role: { type: 'string' },
        namespace: { type: 'string', short: 'n', multiple: true },
        output: { type: 'string', short: 'o' },
      },
      allowPositionals: true,
      strict: true,
    });
    const output = parseOutput(values.output);
    const client = ApiClient.fromEnv(io.env);
    switch (sub) {
      case 'create': {
        if (!values.name) throw new UsageError('token create needs --name');
        const role = values.role;
        if (!role || !(ROLES as readonly string[]).includes(role)) throw new UsageError(`token create needs --role ${ROLES.join('|')}`);
        if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        const namespaces = values.namespace ?? [];
        for (const n of namespaces) if (!/^(\*|[a-z0-9-]+\/(\*|[a-z0-9-]+))$/.test(n)) throw new UsageError(`--namespace ${n}: use org/env, org/* or *`);
        const created = await client.json<TokenInfo & { token: string }>('POST', '/api/v1/tokens', { body: JSON.stringify({ name: values.name, role, namespaces }) });
        if (printData(io, output, created)) return 0;
        // The secret alone on stdout (export WEIR_TOKEN=$(weir token create …)); the rest on stderr.
        io.err(`token ${created.id} created: name ${created.name}, role ${created.role}, namespaces ${(created.namespaces ?? []).join(',') || '-'}\nthe secret below is shown only once:\n`);
        io.out(`${created.token}\n`);
        return 0;
      }
      case 'list':
      case 'ls': {
        if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        const reply = await client.json<{ tokens?: TokenInfo[]; items?: TokenInfo[] }>('GET', '/api/v1/tokens');
        if (printData(io, output, reply)) return 0;
        const items = reply.tokens ?? reply.items ?? [];
        if (items.length === 0) io.out('no tokens\n');
        else io.out(table(['ID', 'NAME', 'ROLE', 'NAMESPACES', 'CREATED'], items.map((t) => [t.id, t.name, t.role, (t.namespaces ?? []).join(',') || '-', ago(t.createdAt)])));
        return 0;
      }
      case 'revoke':
      case 'delete': {
        const [id, ...extra] = positionals;
        if (!id) throw new UsageError('token revoke needs the token id (weir token list shows them)');
        if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
        await client.request('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
        if (!printData(io, output, { id, revoked: true })) io.out(`token/${id} revoked\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown token command "${sub}"`);
    }
  });
}
