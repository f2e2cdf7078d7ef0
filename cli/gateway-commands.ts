// `weir gateway apply|list|get|delete|weights`: gateways through the control API.
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { Namespace } from '../store/store.js';
import { ApiClient, nsPath, parseOutput, printData, resolveNamespace, runCli, table, UsageError, type CliIo, type OutputFormat } from './api-client.js';

export const GATEWAY_USAGE = `Usage:
  weir gateway apply -f <file>... [-n org/env]     create or replace gateways (YAML or JSON; -f - reads stdin)
  weir gateway list [-n org/env]                   gateways with version, port and route weights
  weir gateway get <name> [-n org/env]             the stored definition (original text; -o json for JSON)
  weir gateway delete <name> [-n org/env]
  weir gateway weights <name> <route>=<0-100>...   set route weights in one write, e.g. v1=80 v2=20

Options:
  -n, --namespace org/env   default: WEIR_NAMESPACE or default/default
  -o, --output table|json|yaml
Environment: WEIR_URL (default http://127.0.0.1:9100), WEIR_TOKEN (bearer token)
`;

interface Common {
  client: ApiClient;
  ns: Namespace;
  output: OutputFormat;
  positionals: string[];
  files: string[];
}

/** Summary row of `GET …/gateways`; the field names follow the API, extra fields are ignored. */
interface GatewaySummary {
  name: string;
  version: string;
  port?: number;
  mode?: string;
  valid?: boolean;
  routes?: Array<{ name: string; weight?: number }>;
  errors?: string[];
}

interface GatewayListReply {
  gateways?: GatewaySummary[];
  /** The brief's shape; accepted too. */
  items?: GatewaySummary[];
  problems?: Array<{ source?: string; message?: string }>;
}

interface Written {
  name: string;
  version: string;
}

function parseCommon(args: string[], io: CliIo): Common {
  const { values, positionals } = parseArgs({
    args,
    options: {
      namespace: { type: 'string', short: 'n' },
      output: { type: 'string', short: 'o' },
      file: { type: 'string', short: 'f', multiple: true },
    },
    allowPositionals: true,
    strict: true,
  });
  return {
    client: ApiClient.fromEnv(io.env),
    ns: resolveNamespace(values.namespace, io.env),
    output: parseOutput(values.output),
    positionals,
    files: values.file ?? [],
  };
}

export function runGatewayCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, GATEWAY_USAGE, async () => {
    const [sub, ...args] = argv;
    if (sub === undefined) throw new UsageError('gateway needs a command');
    if (sub === 'help' || sub === '--help' || sub === '-h') {
      io.out(GATEWAY_USAGE);
      return 0;
    }
    const c = parseCommon(args, io);
    switch (sub) {
      case 'apply':
        return apply(c, io);
      case 'list':
      case 'ls':
        return list(c, io);
      case 'get':
        return get(c, io);
      case 'delete':
      case 'rm':
        return remove(c, io);
      case 'weights':
        return weights(c, io);
      default:
        throw new UsageError(`unknown gateway command "${sub}"`);
    }
  });
}

function expectArgs(c: Common, n: number, what: string): string[] {
  if (c.positionals.length < n) throw new UsageError(`missing ${what}`);
  return c.positionals;
}

const gatewayPath = (c: Common, name: string, suffix = ''): string => `${nsPath(c.ns)}/gateways/${encodeURIComponent(name)}${suffix}`;

async function apply(c: Common, io: CliIo): Promise<number> {
  if (c.files.length === 0) throw new UsageError('gateway apply needs -f <file> (or -f - for stdin)');
  if (c.positionals.length > 0) throw new UsageError(`unexpected argument "${c.positionals[0]}"; files go after -f`);
  // Read and name every file first, so a bad file fails before anything is written.
  const docs: Array<{ file: string; name: string; body: string; format: 'yaml' | 'json' }> = [];
  for (const file of c.files) {
    const body = file === '-' ? await io.readStdin() : await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`);
    });
    const format = extname(file).toLowerCase() === '.json' || (file === '-' && body.trimStart().startsWith('{')) ? 'json' : 'yaml';
    docs.push({ file, body, format, name: gatewayName(file, body) });
  }
  const results: Array<Written & { created: boolean }> = [];
  for (const d of docs) {
    const res = await c.client.request('PUT', gatewayPath(c, d.name), { body: d.body, contentType: d.format === 'json' ? 'application/json' : 'application/yaml' });
    const w = JSON.parse(res.text || '{}') as Partial<Written> & { assigned?: { port?: number; virtual_host?: string } };
    const written = { name: w.name ?? d.name, version: w.version ?? res.headers.get('etag')?.replace(/"/g, '') ?? '?', created: res.status === 201, ...(w.assigned ? { assigned: w.assigned } : {}) };
    results.push(written);
    // What the control API filled in (WEIR_PORT_RANGE, WEIR_VHOST_DOMAIN).
    const filled = [w.assigned?.port !== undefined ? `port ${w.assigned.port} assigned` : '', w.assigned?.virtual_host ? `virtual host ${w.assigned.virtual_host} added` : ''].filter((x) => x !== '');
    if (c.output === 'table') io.out(`gateway/${written.name} ${written.created ? 'created' : 'configured'} (version ${written.version})${filled.length > 0 ? `; ${filled.join(', ')}` : ''}\n`);
  }
  printData(io, c.output, results.length === 1 ? results[0] : results);
  return 0;
}

/** The gateway's own `name`, else the file's base name; stdin must name itself. */
function gatewayName(file: string, body: string): string {
  let doc: unknown;
  try {
    doc = parseYaml(body);
  } catch (err) {
    throw new UsageError(`${file}: not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  const name = doc && typeof doc === 'object' && 'name' in doc ? (doc as { name: unknown }).name : undefined;
  if (typeof name === 'string' && name !== '') return name;
  if (file === '-') throw new UsageError('a gateway read from stdin needs a `name:` field');
  return basename(file, extname(file));
}

async function list(c: Common, io: CliIo): Promise<number> {
  const reply = await c.client.json<GatewayListReply>('GET', `${nsPath(c.ns)}/gateways`);
  if (printData(io, c.output, reply)) return 0;
  const items = reply.gateways ?? reply.items ?? [];
  if (items.length === 0) io.out(`no gateways in ${c.ns.org}/${c.ns.env}\n`);
  else {
    io.out(
      table(
        ['NAME', 'VERSION', 'PORT', 'MODE', 'ROUTES'],
        items.map((g) => [
          g.valid === false ? `${g.name} (invalid)` : g.name,
          g.version,
          g.port === undefined ? '-' : String(g.port),
          g.mode ?? '-',
          (g.routes ?? []).map((r) => (r.weight === undefined ? r.name : `${r.name}=${r.weight}%`)).join(' ') || '-',
        ]),
      ),
    );
  }
  for (const p of reply.problems ?? []) io.err(`problem: ${p.source ?? ''}${p.source ? ': ' : ''}${p.message ?? JSON.stringify(p)}\n`);
  for (const g of items) for (const e of g.errors ?? []) io.err(`${g.name}: ${e}\n`);
  return 0;
}

async function get(c: Common, io: CliIo): Promise<number> {
  const [name] = expectArgs(c, 1, 'gateway name');
  if (c.output === 'json') {
    io.out(`${JSON.stringify(await c.client.json<unknown>('GET', gatewayPath(c, name as string)), null, 2)}\n`);
    return 0;
  }
  // Table and yaml both show the text as it was applied, comments included.
  const res = await c.client.request('GET', gatewayPath(c, name as string), { accept: 'application/yaml' });
  io.out(res.text.endsWith('\n') ? res.text : `${res.text}\n`);
  return 0;
}

async function remove(c: Common, io: CliIo): Promise<number> {
  const [name] = expectArgs(c, 1, 'gateway name');
  await c.client.request('DELETE', gatewayPath(c, name as string));
  if (!printData(io, c.output, { name, deleted: true })) io.out(`gateway/${name as string} deleted\n`);
  return 0;
}

/** `v1=80 v2=20%` → {"v1":80,"v2":20}; the API checks that routes exist and weights add up. */
export function parseWeights(pairs: string[]): Record<string, number> {
  if (pairs.length === 0) throw new UsageError('give at least one <route>=<weight>, e.g. v1=80 v2=20');
  const out: Record<string, number> = {};
  for (const p of pairs) {
    const m = /^([^=\s]+)=(\d{1,3})%?$/.exec(p);
    const weight = m ? Number(m[2]) : NaN;
    if (!m || weight > 100) throw new UsageError(`"${p}" is not <route>=<0-100>`);
    if ((m[1] as string) in out) throw new UsageError(`route ${m[1] as string} given twice`);
    out[m[1] as string] = weight;
  }
  return out;
}

async function weights(c: Common, io: CliIo): Promise<number> {
  const [name, ...pairs] = expectArgs(c, 1, 'gateway name');
  const body = parseWeights(pairs);
  const w = await c.client.json<Written>('PUT', gatewayPath(c, name as string, '/weights'), { body: JSON.stringify(body) });
  if (!printData(io, c.output, w)) io.out(`gateway/${w.name ?? name} weights ${Object.entries(body).map(([k, v]) => `${k}=${v}%`).join(' ')} (version ${w.version})\n`);
  return 0;
}
