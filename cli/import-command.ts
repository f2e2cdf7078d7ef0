// `weir import vamp <file|dir>... [--out DIR] [--dry-run]`: Vamp gateway exports (what
// `GET /api/v1/gateways` returns, JSON or YAML, or gateway files) → Weir gateway files.
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { convertVampExports, type VampConversion } from '../model/vamp-import.js';
import { writeFileAtomic } from '../runtime/atomic-file.js';

const USAGE = `usage: weir import vamp <file|dir>... (--out DIR | --dry-run)
  Converts a Vamp gateway export (GET /api/v1/gateways as JSON or YAML, a gateway file, or a
  directory of them) into one Weir gateway file per gateway, <name>.yaml in DIR (for the file
  store: <root>/<org>/<env>/gateways). --dry-run prints the conversion instead. Exit 1 when
  anything was not converted (nothing is written for such a gateway), 2 on usage errors.
`;

export interface ImportIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const INPUT_EXT = new Set(['.json', '.yaml', '.yml']);

async function inputFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if ((await stat(p)).isDirectory()) {
      const names = (await readdir(p)).filter((n) => !n.startsWith('.')).sort();
      out.push(...(await inputFiles(names.map((n) => join(p, n)).filter((f) => INPUT_EXT.has(extname(f).toLowerCase())))));
    } else out.push(p);
  }
  return out;
}

/** Every document of a file: JSON is YAML 1.2, and a YAML file may hold several (`---`). */
function documents(file: string, text: string): { data: unknown[]; error: string | null } {
  const docs = parseAllDocuments(text, { version: '1.2', uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    const e = d.errors[0];
    if (e) return { data: [], error: `${file}: cannot parse: ${e.message.split('\n')[0]}` };
  }
  return { data: list.map((d) => d.toJS({ maxAliasCount: 100 }) as unknown).filter((d) => d !== null && d !== undefined), error: null };
}

function report(io: ImportIo, c: VampConversion, target: string | null): void {
  const head = c.problems.length > 0 ? `not converted: Vamp gateway ${JSON.stringify(c.vampName)} (${c.origin})` : `converted: Vamp gateway ${JSON.stringify(c.vampName)} (${c.origin}) -> ${target}`;
  const lines = [head, ...c.problems.map((p) => `  problem: ${p}`), ...c.notes.map((n) => `  note: ${n}`)];
  (c.problems.length > 0 ? io.err : io.out)(`${lines.join('\n')}\n`);
}

export async function runImportCommand(args: string[], io: ImportIo): Promise<number> {
  const [what, ...rest] = args;
  if (what !== 'vamp') {
    io.err(USAGE);
    return 2;
  }
  let values: { out?: string | undefined; 'dry-run'?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: { out: { type: 'string' }, 'dry-run': { type: 'boolean' } }, allowPositionals: true, strict: true }));
  } catch (err) {
    io.err(`weir import vamp: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const dryRun = values['dry-run'] === true;
  if (positionals.length === 0 || (!dryRun && values.out === undefined)) {
    io.err(USAGE);
    return 2;
  }
  const inputs: Array<{ origin: string; data: unknown }> = [];
  let failed = false;
  for (const file of await inputFiles(positionals)) {
    const parsed = documents(file, await readFile(file, 'utf8'));
    if (parsed.error) {
      io.err(`${parsed.error}\n`);
      failed = true;
    }
    parsed.data.forEach((data, i) => inputs.push({ origin: parsed.data.length > 1 ? `${file}#${i + 1}` : file, data }));
  }
  const { conversions, problems } = convertVampExports(inputs);
  for (const p of problems) io.err(`${p}\n`);
  if (!dryRun && values.out !== undefined) await mkdir(values.out, { recursive: true });
  let converted = 0;
  for (const c of conversions) {
    if (c.yaml === null || c.name === null) {
      report(io, c, null);
      continue;
    }
    converted++;
    const file = `${c.name}.yaml`;
    if (dryRun) {
      io.out(`--- # ${file}\n${c.yaml}`);
      report({ out: (s) => io.out(s.replace(/^(?=.)/gm, '# ')), err: io.err }, c, file);
    } else {
      const target = join(values.out as string, file);
      await writeFileAtomic(target, c.yaml);
      report(io, c, target);
    }
  }
  const notConverted = conversions.length - converted;
  const summary = `${converted} gateway(s) converted, ${notConverted} not converted${dryRun ? ' (dry run: nothing written)' : ''}`;
  (notConverted > 0 || problems.length > 0 || failed ? io.err : io.out)(`${dryRun ? '# ' : ''}${summary}\n`);
  return notConverted > 0 || problems.length > 0 || failed ? 1 : 0;
}
