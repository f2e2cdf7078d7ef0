// `weir validate` and `weir render`: the same model and templates as the agent, offline.
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { parseGateway } from '../model/parse.js';
import { checkNamespace } from '../model/namespace.js';
import { formatModelError } from '../model/errors.js';
import type { Gateway } from '../model/gateway.js';
import { buildHaproxyModel } from '../agent/plan/haproxy-model.js';
import { ConfigRenderer, DEFAULT_TEMPLATE_DIR } from '../agent/render/renderer.js';
import { reservedPorts, resolveSettings } from '../agent/settings.js';

const GATEWAY_EXT = new Set(['.yaml', '.yml', '.json']);

async function collectFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await stat(p);
    if (st.isDirectory()) {
      const names = (await readdir(p)).sort();
      out.push(...(await collectFiles(names.filter((n) => !n.startsWith('.')).map((n) => join(p, n)))));
    } else if (GATEWAY_EXT.has(extname(p).toLowerCase()) || paths.includes(p)) {
      out.push(p);
    }
  }
  return out;
}

interface Loaded {
  ok: Array<{ source: string; gateway: Gateway }>;
  errors: string[];
}

/** `reserved`: the ports the agent's own listeners hold under these settings (see agent.ts). */
async function loadGateways(paths: string[], reserved: ReadonlyMap<number, string>): Promise<Loaded> {
  const ok: Loaded['ok'] = [];
  const errors: string[] = [];
  for (const file of await collectFiles(paths)) {
    const source = file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      errors.push(`${source}: cannot read: ${(err as Error).message}`);
      continue;
    }
    const format = extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
    const result = parseGateway(text, { source, format });
    if (result.ok) ok.push({ source, gateway: result.gateway });
    else errors.push(...result.errors.map(formatModelError));
  }
  const ns = checkNamespace(ok, { reservedPorts: reserved });
  for (const r of ns.rejected) errors.push(...r.errors.map(formatModelError));
  return { ok: ns.accepted, errors };
}

export async function runValidate(paths: string[], flags: Record<string, string | undefined> = {}): Promise<number> {
  if (paths.length === 0) {
    process.stderr.write('usage: weir validate <file|dir>... [agent flags such as --vhost-port]\n');
    return 2;
  }
  // Judged as an agent with these settings (flags, WEIR_* or defaults) would: its ports are taken.
  const { ok, errors } = await loadGateways(paths, reservedPorts(resolveSettings(flags)));
  for (const e of errors) process.stderr.write(`${e}\n`);
  for (const g of ok) process.stdout.write(`ok  ${g.source}: gateway ${g.gateway.name} on port ${g.gateway.port}/${g.gateway.mode}, ${g.gateway.routes.length} route(s)\n`);
  return errors.length > 0 ? 1 : 0;
}

export async function runRender(paths: string[], flags: Record<string, string | undefined>): Promise<number> {
  if (paths.length === 0) {
    process.stderr.write('usage: weir render <file|dir>... [agent flags such as --state-dir, --bind-address]\n');
    return 2;
  }
  const settings = resolveSettings(flags);
  const { ok, errors } = await loadGateways(paths, reservedPorts(settings));
  for (const e of errors) process.stderr.write(`${e}\n`);
  const mapsDir = join(settings.stateDir, 'maps');
  const model = buildHaproxyModel(
    ok.map((g) => g.gateway),
    { bindAddress: settings.bindAddress, mapsDir, minSlots: settings.serverSlots, vhostPort: settings.vhostPort, dns: settings.edge.dns },
  );
  const rendered = await new ConfigRenderer(settings.templateDir ?? DEFAULT_TEMPLATE_DIR).render(model, {
    adminSocket: join(settings.stateDir, 'admin.sock'),
    serverStateFile: join(settings.stateDir, 'server-state'),
    hardStopAfter: settings.hardStopAfter,
    maxReloads: settings.maxReloads,
    maxconn: settings.maxconn,
    logTarget: settings.logTarget,
    monitorPort: settings.monitorPort,
  });
  process.stdout.write(rendered.config);
  if (flags.maps !== undefined) {
    for (const [path, content] of Object.entries(rendered.maps)) process.stdout.write(`\n# map ${resolve(path)}\n${content}`);
  }
  return errors.length > 0 ? 1 : 0;
}
