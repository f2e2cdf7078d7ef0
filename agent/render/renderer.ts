// Renders a HAProxy model through the Liquid templates in a template directory.
// Liquid is logic-less (no code execution), which keeps operator-supplied template
// directories safe to load. Values reach the templates already validated by model/.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Liquid } from 'liquidjs';
import type { GatewayModel, HaproxyModel } from '../plan/haproxy-model.js';
import { packageRoot } from '../../runtime/package-root.js';
import { RESOLVERS_NAME } from '../plan/discovery-model.js';
import { tlsFiles } from '../plan/tls-model.js';
import { sampleAclPath } from '../telemetry/sample-acl.js';

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
  /** [telemetry] a `ring` section forwarding logs over TCP (log-ring.liquid); logTarget is then `ring@<name>`. */
  logRing?: { name: string; server: string; sizeBytes: number } | null;
  /** [telemetry] directory of the per-route log sampling pattern files (sample-acl.ts); null: every request is logged. */
  logSampleDir?: string | null;
  /**
   * Always null: the single map of earlier versions. Kept so a template directory copied before the per-route
   * files renders (without sampling) instead of failing on an undefined variable.
   */
  logSampleMap?: null;
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
  /** [edge] crt-lists and certificate PEMs (chain + key: written 0600, never logged). Absent: none. */
  tlsFiles?: Record<string, string>;
  /** 1-based line ranges of each gateway's sections, from the template's `# weir:begin/end` markers (computed on demand). */
  spans: () => GatewaySpan[];
  /** sha256 over the config and the maps. */
  checksum: string;
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(templateDir: string, cause: unknown) {
    super(`cannot render HAProxy templates in ${templateDir}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

const mapContentCache = new WeakMap<Array<[string, string]>, string>();

export function mapFileContent(entries: Array<[string, string]>): string {
  let text = mapContentCache.get(entries);
  if (text === undefined) {
    text = entries.map(([k, v]) => `${k} ${v}\n`).join('');
    mapContentCache.set(entries, text);
  }
  return text;
}

/** Lazily computed, memoized gateway spans of a config text. */
export function spansOf(config: string): () => GatewaySpan[] {
  let spans: GatewaySpan[] | null = null;
  return () => (spans ??= gatewaySpans(config));
}

const GATEWAYS_MARK = '#@weir-gateway-sections@';
const VHOST_MARK = '#@weir-vhost-rules@';

export function checksumOf(config: string, maps: Record<string, string>, tls: Record<string, string> = {}): string {
  const h = createHash('sha256').update(config);
  for (const path of Object.keys(maps).sort()) h.update('\0').update(path).update('\0').update(maps[path] ?? '');
  for (const path of Object.keys(tls).sort()) h.update('\0tls\0').update(path).update('\0').update(tls[path] ?? '');
  return h.digest('hex');
}

/**
 * Drops the blank lines template tags leave behind; with `sectionBreaks`, one blank line
 * before each section (frontend, backend, gateway marker).
 */
function tidy(text: string, sectionBreaks: boolean): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (sectionBreaks && /^(global|defaults|frontend|backend|listen|# weir:begin)\b/.test(line)) out.push('');
    out.push(line.trimEnd());
  }
  if (out[0] === '') out.shift();
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
  /** Rendered sections per gateway model (models are reused while a gateway is unchanged). */
  private readonly sections = new WeakMap<GatewayModel, { settingsKey: string; gateway: string; vhost: string }>();

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
    // The file name is derived (injective, config-safe) from the backend name, never pasted from a definition.
    this.liquid.registerFilter('log_sample_acl', (backend: string, dir: string) => sampleAclPath(dir, backend));
  }

  async render(model: HaproxyModel, given: RenderSettings): Promise<RenderedConfig> {
    // Optional settings become explicit nulls: templates run with strict variables.
    const settings: RenderSettings = { logRing: null, logSampleDir: null, ...given, logSampleMap: null };
    let config: string;
    try {
      const settingsKey = `${JSON.stringify(settings)}|${model.vhostPort}|${model.bindAddress}`;
      const gatewayParts: string[] = [];
      const vhostParts: string[] = [];
      for (const g of model.gateways) {
        let cached = this.sections.get(g);
        if (!cached || cached.settingsKey !== settingsKey) {
          const ctx = { g, settings, model: { bindAddress: model.bindAddress, vhostPort: model.vhostPort, resolversName: RESOLVERS_NAME } };
          const vhost = g.virtualHosts.length > 0 && model.vhostPort > 0 ? await this.liquid.renderFile('gateway-vhost.liquid', ctx) : '';
          cached = { settingsKey, gateway: tidy(await this.liquid.renderFile('gateway.liquid', ctx), true), vhost: vhost ? tidy(vhost, false) : '' };
          this.sections.set(g, cached);
        }
        gatewayParts.push(cached.gateway);
        if (cached.vhost) vhostParts.push(cached.vhost);
      }
      // The big per-gateway text is spliced in after tidying the small outer template.
      const outer = tidy(
        await this.liquid.renderFile('haproxy.cfg.liquid', {
          model: { bindAddress: model.bindAddress, vhostPort: model.vhostPort, gateways: model.gateways, resolvers: model.resolvers ?? null },
          settings,
          sections: { gateways: gatewayParts.length > 0 ? GATEWAYS_MARK : '', vhostRules: vhostParts.length > 0 ? VHOST_MARK : '' },
        }),
        true,
      );
      config = outer
        .replace(`${GATEWAYS_MARK}\n`, () => gatewayParts.map((part) => `\n${part}`).join(''))
        .replace(`${VHOST_MARK}\n`, () => vhostParts.join(''));
    } catch (err) {
      throw new TemplateError(this.templateDir, err);
    }
    const maps: Record<string, string> = {};
    for (const [path, entries] of Object.entries(model.maps)) maps[path] = mapFileContent(entries);
    const tls = tlsFiles(model.gateways, model.certificates ?? {});
    return { config, maps, tlsFiles: tls, spans: spansOf(config), checksum: checksumOf(config, maps, tls) };
  }
}
