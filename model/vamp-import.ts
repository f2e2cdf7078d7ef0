// Vamp export → Weir gateway documents. Reads what Vamp's API returns for gateways (a list, one
// gateway, or `{gateways: [...]}`), resolves deployment-bound routes to the targets the export
// carries, and says per gateway what it changed (notes) and what it could not convert (problems).
// Every converted document is checked with the same parser the agent uses.
import { stringify } from 'yaml';
import { compileCondition, looksLikeRawAcl } from './condition.js';
import { parseGateway } from './parse.js';
import { checkNamespace } from './namespace.js';
import { formatModelError } from './errors.js';
import { GATEWAY_NAME, ROUTE_NAME, TARGET_ROUTE_KEY } from './schema.js';
import type { Gateway } from './gateway.js';

export interface VampConversion {
  /** The gateway's name in the export. */
  vampName: string;
  /** Where in the input it was (file and index). */
  origin: string;
  /** The Weir gateway name; null when none could be made. */
  name: string | null;
  /** The Weir document (YAML), when it was converted. */
  yaml: string | null;
  /** What the conversion changed on the way (for the user to review; not failures). */
  notes: string[];
  /** What could not be converted and why; a gateway with problems is not written. */
  problems: string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isEmpty = (v: unknown): boolean =>
  v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);

/** The gateway objects of an export: a list, one gateway, or an envelope with `gateways`. */
export function exportedGateways(data: unknown): unknown[] | null {
  if (Array.isArray(data)) return data;
  if (isObject(data) && Array.isArray(data.gateways)) return data.gateways;
  if (isObject(data) && ('routes' in data || 'port' in data)) return [data];
  return null;
}

/** `sava/9050` → `sava-9050`: a lower-case DNS label. */
export function weirGatewayName(vampName: string): string {
  return vampName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

function routeNameFrom(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63).replace(/[^A-Za-z0-9]+$/, '');
}

/**
 * Names for deployment-bound route paths: the segments that tell the routes apart
 * (`vamp/sava/sava:1.0.0/port`, `vamp/sava/sava:1.1.0/port` → `sava-1.0.0`, `sava-1.1.0`);
 * a lone route is named after its service (or cluster, or deployment) segment.
 */
function deploymentRouteNames(paths: string[]): Map<string, string> {
  const split = paths.map((p) => p.split('/').filter((s) => s !== ''));
  const out = new Map<string, string>();
  const sameAt = (i: number, fromEnd: boolean) => split.every((s) => s.length === split[0]!.length) && new Set(split.map((s) => s[fromEnd ? s.length - 1 - i : i])).size === 1;
  let prefix = 0;
  let suffix = 0;
  const len = Math.min(...split.map((s) => s.length));
  if (split.length > 1) {
    while (prefix < len && sameAt(prefix, false)) prefix++;
    while (suffix < len - prefix && sameAt(suffix, true)) suffix++;
  }
  paths.forEach((p, i) => {
    const segs = split[i] as string[];
    let distinct = split.length > 1 ? segs.slice(prefix, segs.length - suffix) : [];
    if (distinct.length === 0) distinct = [segs[segs.length === 4 ? 2 : segs.length === 3 ? 1 : 0] as string];
    out.set(p, routeNameFrom(distinct.join('-')) || `route-${i + 1}`);
  });
  return out;
}

function targetText(t: unknown): string | null {
  if (typeof t === 'string') return t;
  if (!isObject(t)) return null;
  if (typeof t.url === 'string') return t.url;
  if (typeof t.port === 'number' || typeof t.port === 'string') {
    const host = typeof t.host === 'string' && t.host !== '' ? t.host : '127.0.0.1';
    return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${t.port}`;
  }
  return null;
}

function conditionText(c: unknown): string | null | undefined {
  if (c === undefined || c === null) return undefined;
  if (typeof c === 'string') return c.trim() === '' ? undefined : c;
  if (isObject(c) && typeof c.condition === 'string') return c.condition.trim() === '' ? undefined : c.condition;
  return null;
}

/** Converts one exported gateway (not yet checked against the others). */
function convertOne(raw: unknown, origin: string): VampConversion {
  const conv: VampConversion = { vampName: '?', origin, name: null, yaml: null, notes: [], problems: [] };
  if (!isObject(raw)) {
    conv.problems.push('not a gateway object');
    return conv;
  }
  const vampName = typeof raw.name === 'string' ? raw.name : '';
  conv.vampName = vampName || '?';
  const name = weirGatewayName(vampName);
  if (!GATEWAY_NAME.test(name)) {
    conv.problems.push(`no gateway name can be made from ${JSON.stringify(vampName)}`);
    return conv;
  }
  conv.name = name;
  if (name !== vampName) conv.notes.push(`named "${name}" (Weir names are DNS labels); the Vamp name is kept in metadata vamp.io/gateway`);

  const doc: Json = { name };
  const portText = typeof raw.port === 'number' ? String(raw.port) : typeof raw.port === 'string' ? raw.port.trim() : '';
  if (!/^[1-9][0-9]{0,4}(?:\/(?:http|tcp))?$/.test(portText)) {
    conv.problems.push(`port ${JSON.stringify(raw.port ?? null)}: Vamp had not assigned a port; give the gateway one, or write it through the control API, which assigns one from WEIR_PORT_RANGE`);
  }
  doc.port = /^[0-9]+$/.test(portText) ? Number(portText) : portText;
  if (raw.sticky !== undefined && raw.sticky !== null && raw.sticky !== 'none') doc.sticky = raw.sticky;
  if (!isEmpty(raw.virtual_hosts)) doc.virtual_hosts = raw.virtual_hosts;
  if (typeof raw.balance === 'string' && raw.balance !== 'default') doc.balance = raw.balance;
  if (!isEmpty(raw.selector)) {
    conv.problems.push(`selector ${JSON.stringify(raw.selector)}: Weir has no service discovery; the routes the selector found are converted with the targets of the export, but new instances will not be picked up`);
  }
  if (!isEmpty(raw.service)) conv.notes.push('service (where Vamp exposed the gateway) dropped: Weir gateways are reached on their port on every agent node');

  const routesIn = isObject(raw.routes) ? raw.routes : {};
  const paths = Object.keys(routesIn);
  const deploymentPaths = paths.filter((p) => p.includes('/') && !TARGET_ROUTE_KEY.test(p));
  const derived = deploymentRouteNames(deploymentPaths);
  const used = new Set<string>();
  const routesOut: Json = {};
  const routeOrigins: Json = {};
  for (const path of paths) {
    const r = routesIn[path];
    const where = `route ${JSON.stringify(path)}`;
    if (!isObject(r)) {
      conv.problems.push(`${where}: ${typeof r === 'string' ? `a reference to the stored route ${JSON.stringify(r)}, which the export does not carry` : 'not a route object'}`);
      continue;
    }
    let key: string;
    if (TARGET_ROUTE_KEY.test(path) || ROUTE_NAME.test(path)) key = path;
    else key = derived.get(path) ?? (routeNameFrom(path) || 'route');
    for (let n = 2; used.has(key.toLowerCase()); n++) key = `${(derived.get(path) ?? routeNameFrom(path)).slice(0, 60)}-${n}`;
    used.add(key.toLowerCase());
    if (key !== path) routeOrigins[key] = path;
    const out: Json = {};
    if (r.weight !== undefined && r.weight !== null) out.weight = r.weight;
    const cond = conditionText(r.condition);
    if (cond === null) conv.problems.push(`${where}: condition ${JSON.stringify(r.condition)} is a reference to a stored condition, which the export does not carry`);
    else if (cond !== undefined) {
      const compiled = compileCondition(cond);
      if (!compiled.ok && looksLikeRawAcl(cond)) {
        // Vamp handed a condition it could not parse to HAProxy as a raw ACL: say so in Weir's syntax.
        out.condition = `< ${cond.trim()} >`;
        conv.notes.push(`${where}: condition ${JSON.stringify(cond)} is a raw HAProxy ACL (Vamp passed it on as is): written as ${JSON.stringify(out.condition)}`);
      } else out.condition = cond;
      if (r.condition_strength !== undefined && r.condition_strength !== null) out.condition_strength = r.condition_strength;
    }
    if (Array.isArray(r.rewrites) && r.rewrites.length > 0) out.rewrites = r.rewrites.map((rw) => (isObject(rw) && typeof rw.path === 'string' ? { path: rw.path } : rw));
    if (typeof r.balance === 'string' && r.balance !== 'default') out.balance = r.balance;
    if (!isEmpty(r.selector)) conv.problems.push(`${where}: selector ${JSON.stringify(r.selector)}: Weir has no service discovery; written with the targets of the export`);
    const targetsIn = Array.isArray(r.targets) ? r.targets : Array.isArray(r.instances) ? r.instances : [];
    const targets = targetsIn.map(targetText);
    targets.forEach((t, i) => t === null && conv.problems.push(`${where}: target ${i + 1} ${JSON.stringify(targetsIn[i])} has neither url nor port`));
    const list = targets.filter((t): t is string => t !== null);
    if (TARGET_ROUTE_KEY.test(key)) {
      const extra = list.filter((t) => t !== key.slice(1, -1));
      if (extra.length > 0) conv.notes.push(`${where}: targets ${extra.join(', ')} dropped: the route is named by its target`);
    } else if (list.length > 0) {
      out.targets = [...new Set(list)];
      if (out.targets instanceof Array && out.targets.length < list.length) conv.notes.push(`${where}: duplicate targets listed once`);
      if (targetsIn.some((t) => isObject(t) && (t.host === undefined || t.host === null) && t.url === undefined))
        conv.notes.push(`${where}: a target without host (another Vamp gateway on the same agent) is 127.0.0.1:<port>`);
    } else if (!path.includes('/') && !TARGET_ROUTE_KEY.test(path)) {
      conv.notes.push(`${where}: no targets in the export (Vamp resolves a one-segment route to the gateway of that name): the route answers 503 until it has some`);
    } else {
      conv.notes.push(`${where}: the export lists no targets: the route answers 503 until it has some`);
    }
    routesOut[key] = out;
  }
  doc.routes = routesOut;
  const metadata: Json = isObject(raw.metadata) ? { ...raw.metadata } : {};
  if (name !== vampName) metadata['vamp.io/gateway'] = vampName;
  if (Object.keys(routeOrigins).length > 0) metadata['vamp.io/routes'] = routeOrigins;
  if (Object.keys(metadata).length > 0) doc.metadata = metadata;

  const yaml = `# Converted by weir import vamp from Vamp gateway ${JSON.stringify(vampName)} (${origin}).\n${stringify(doc, { lineWidth: 0 })}`;
  const check = parseGateway(yaml, { source: `${name}.yaml`, format: 'yaml', expectedName: name });
  const portFlagged = conv.problems.some((p) => p.startsWith('port '));
  if (!check.ok) conv.problems.push(...check.errors.filter((e) => !(portFlagged && e.path === 'port')).map(formatModelError));
  if (conv.problems.length === 0) conv.yaml = yaml;
  return conv;
}

/**
 * Converts every gateway of the given exports. `inputs` are parsed documents with where they
 * came from. Gateways are then checked together: a name, port or virtual host taken twice is
 * a problem of the later one.
 */
export function convertVampExports(inputs: ReadonlyArray<{ origin: string; data: unknown }>): { conversions: VampConversion[]; problems: string[] } {
  const conversions: VampConversion[] = [];
  const problems: string[] = [];
  for (const { origin, data } of inputs) {
    const list = exportedGateways(data);
    if (!list) {
      problems.push(`${origin}: not a Vamp gateway export (expected a list of gateways, a gateway, or {gateways: [...]})`);
      continue;
    }
    list.forEach((g, i) => conversions.push(convertOne(g, list.length > 1 || Array.isArray(data) ? `${origin}[${i}]` : origin)));
  }
  const parsed = conversions.flatMap((c) => {
    if (!c.yaml || !c.name) return [];
    const r = parseGateway(c.yaml, { source: c.vampName, format: 'yaml', expectedName: c.name });
    return r.ok ? [{ conv: c, gateway: r.gateway }] : [];
  });
  const ns = checkNamespace(parsed.map((p) => ({ source: p.conv.origin, gateway: p.gateway as Gateway })));
  for (const rej of ns.rejected) {
    const conv = parsed.find((p) => p.conv.origin === rej.source)?.conv;
    if (!conv) continue;
    conv.problems.push(...rej.errors.map((e) => `${e.path}: ${e.message}`));
    conv.yaml = null;
  }
  return { conversions, problems };
}
