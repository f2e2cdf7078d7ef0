// Renders a HAProxy model through the Liquid templates in a template directory.
// Liquid is logic-less (no code execution), which keeps operator-supplied template
// directories safe to load. Values reach the templates already validated by model/.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Liquid } from 'liquidjs';
import type { HaproxyModel } from '../plan/haproxy-model.js';
import { packageRoot } from '../package-root.js';

export const DEFAULT_TEMPLATE_DIR = join(packageRoot(), 'haproxy-templates');

export interface RenderSettings {
  adminSocket: string;
  serverStateFile: string;
  hardStopAfter: string;
  maxReloads: number;
  /** null lets HAProxy derive it from the file-descriptor limit. */
  maxconn: number | null;
  /** Syslog target (`127.0.0.1:5140`), or null for no traffic logs. */
  logTarget: string | null;
  /** Port of the `/health` monitor frontend; 0 disables it. */
  monitorPort: number;
}

export interface GatewaySpan {
  gateway: string;
  from: number;
  to: number;
}

export interface RenderedConfig {
  config: string;
  /** Map file path → file content. */
  maps: Record<string, string>;
  /** 1-based line ranges of each gateway's sections, from the template's `# weir:begin/end` markers. */
  spans: GatewaySpan[];
  /** sha256 over the config and the maps. */
  checksum: string;
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(templateDir: string, cause: unknown) {
    super(`cannot render HAProxy templates in ${templateDir}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export function mapFileContent(entries: Array<[string, string]>): string {
  return entries.map(([k, v]) => `${k} ${v}\n`).join('');
}

export function checksumOf(config: string, maps: Record<string, string>): string {
  const h = createHash('sha256').update(config);
  for (const path of Object.keys(maps).sort()) h.update('\0').update(path).update('\0').update(maps[path] ?? '');
  return h.digest('hex');
}

/** Drops the blank lines template tags leave behind; one blank line before each section. */
function tidy(config: string): string {
  const out: string[] = [];
  for (const line of config.split('\n')) {
    if (line.trim() === '') continue;
    if (/^(global|defaults|frontend|backend|listen|# weir:begin)\b/.test(line) && out.length > 0) out.push('');
    out.push(line.trimEnd());
  }
  return out.join('\n') + '\n';
}

export function gatewaySpans(config: string): GatewaySpan[] {
  const spans: GatewaySpan[] = [];
  const open = new Map<string, number>();
  config.split('\n').forEach((line, i) => {
    const m = /^\s*# weir:(begin|end) gateway (\S+)/.exec(line);
    if (!m) return;
    const [, which, name] = m;
    if (!name) return;
    if (which === 'begin') open.set(name, i + 1);
    else {
      const from = open.get(name);
      if (from !== undefined) spans.push({ gateway: name, from, to: i + 1 });
      open.delete(name);
    }
  });
  return spans;
}

export function gatewayAtLine(spans: GatewaySpan[], line: number): string | null {
  return spans.find((s) => line >= s.from && line <= s.to)?.gateway ?? null;
}

export class ConfigRenderer {
  private readonly liquid: Liquid;

  constructor(readonly templateDir: string = DEFAULT_TEMPLATE_DIR) {
    this.liquid = new Liquid({
      root: templateDir,
      extname: '.liquid',
      strictVariables: true,
      strictFilters: true,
      cache: true,
      greedy: false,
    });
    this.liquid.registerFilter('haproxy_address', (addr: string) => (isIP(addr) === 6 ? `ipv6@${addr}` : addr));
  }

  async render(model: HaproxyModel, settings: RenderSettings): Promise<RenderedConfig> {
    let config: string;
    try {
      config = await this.liquid.renderFile('haproxy.cfg.liquid', { model, settings });
    } catch (err) {
      throw new TemplateError(this.templateDir, err);
    }
    config = tidy(config);
    const maps: Record<string, string> = {};
    for (const [path, entries] of Object.entries(model.maps)) maps[path] = mapFileContent(entries);
    return { config, maps, spans: gatewaySpans(config), checksum: checksumOf(config, maps) };
  }
}
