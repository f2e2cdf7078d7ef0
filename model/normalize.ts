// From the schema-checked input to the normalized `Gateway`: Vamp's shorthand forms expanded,
// defaults, cross-field rules, weight filling, condition compilation. Collects every error
// instead of stopping at the first; each names the field where the user wrote it.
import type { CompiledCondition, Gateway, PortMode, Rewrite, Route, Sticky, Target } from './gateway.js';
import type { GatewayInputParsed, RewriteInputParsed, RouteInputParsed, TargetInputParsed } from './schema.js';
import { GATEWAY_NAME, HTTP_ONLY_BALANCE, MAX_REWRITE_LENGTH, MAX_ROUTES, REWRITE_TEXT, TARGET_ROUTE_KEY, VAMP_GATEWAY_FIELDS, VAMP_ONLY_HINTS, VAMP_ROUTE_FIELDS } from './schema.js';
import { compileCondition, looksLikeRawAcl } from './condition.js';
import { classifyHost, splitHostPort } from './hosts.js';
import { fillWeights } from './weights.js';
import { modelError, quote, type Locator, type ModelError, type PathSegment } from './errors.js';

export interface NormalizeOptions {
  source: string;
  expectedName?: string;
  /** Route names in document order (YAML); JS objects put integer-like keys first. */
  routeOrder?: readonly string[];
  /** Positions of fields in the source text, for errors. */
  locate?: Locator;
}

export type ParseResult = { ok: true; gateway: Gateway } | { ok: false; errors: ModelError[] };

export function defaultBalance(mode: PortMode): string {
  return mode === 'http' ? 'roundrobin' : 'leastconn';
}

class Collector {
  readonly errors: ModelError[] = [];
  constructor(
    private readonly source: string,
    private readonly locate?: Locator,
  ) {}
  add(path: readonly PathSegment[] | string, message: string): void {
    this.errors.push(modelError(this.source, typeof path === 'string' ? [path] : path, message, this.locate));
  }
}

function parsePort(port: number | string): { port: number; mode: PortMode } {
  if (typeof port === 'number') return { port, mode: 'http' };
  const [num, mode] = port.split('/');
  return { port: Number.parseInt(num as string, 10), mode: mode === 'tcp' ? 'tcp' : 'http' };
}

function percent(v: number | string | null | undefined): number | undefined {
  return v === undefined || v === null ? undefined : typeof v === 'number' ? v : Number.parseInt(v.trim(), 10);
}

function condition(c: Collector, path: PathSegment[], src: string): CompiledCondition | null {
  const r = compileCondition(src);
  if (r.ok) return r.condition;
  c.add(path, r.message);
  return null;
}

/**
 * A rewrite condition: Weir's condition language, or Vamp's, which is raw HAProxy text
 * (`path_beg /img`, `{ path_beg /img } !{ hdr(x) -m found }`, `{ a } || { b }`): each raw
 * ACL is then validated like `< … >` in a condition, so it cannot inject configuration.
 */
function rewriteCondition(c: Collector, path: PathSegment[], src: string): CompiledCondition | null {
  const weir = compileCondition(src);
  if (weir.ok) return weir.condition;
  const translated = vampRewriteCondition(src);
  if (translated !== null) {
    const vamp = compileCondition(translated);
    if (vamp.ok) return { source: src, clauses: vamp.condition.clauses };
    c.add(path, `${vamp.message.replace(/ at column \d+$/, '')} (in Vamp's raw condition ${quote(src)})`);
    return null;
  }
  c.add(path, weir.message);
  return null;
}

/** Vamp's raw rewrite condition as a Weir condition (`< … >` terms), or null when it is not one. */
export function vampRewriteCondition(src: string): string | null {
  const text = src.replace(/^ +| +$/g, '');
  if (text.includes('{')) {
    const alternatives = text.split(/\s+(?:or|\|\|)\s+/);
    const out: string[] = [];
    for (const alt of alternatives) {
      const terms = [...alt.matchAll(/(!?)\s*\{([^{}]*)\}/g)];
      if (terms.length === 0 || alt.replace(/!?\s*\{[^{}]*\}/g, '').trim() !== '') return null;
      out.push(terms.map((m) => `${m[1]}< ${(m[2] as string).trim()} >`).join(' and '));
    }
    return out.length === 1 ? (out[0] as string) : out.map((o) => `(${o})`).join(' or ');
  }
  // Vamp wrapped a bare condition in `{ }`: one ACL. Text that reads as Weir's language is Weir's.
  return looksLikeRawAcl(text) ? `< ${text} >` : null;
}

/** Checks a rewrite text (path, regex, replacement); `logFormat` ones may only use `%%` and `%[...]`. */
function rewriteText(c: Collector, path: PathSegment[], what: string, text: string, logFormat: boolean): boolean {
  if (text === '') return (c.add(path, `${what} is empty`), false);
  if (text.length > MAX_REWRITE_LENGTH) return (c.add(path, `${what} is longer than ${MAX_REWRITE_LENGTH} characters`), false);
  if (!REWRITE_TEXT.test(text)) {
    return (c.add(path, `${what} ${quote(text)} may only contain printable ASCII without spaces, quotes (' ") and "#"`), false);
  }
  if (logFormat && /%(?!%|\[[^\]]*\])/.test(text.replace(/%%/g, ''))) {
    return (c.add(path, `${what} ${quote(text)} has a "%" that is neither "%%" (a literal %) nor "%[fetch]": HAProxy reads it as log-format`), false);
  }
  return true;
}

function rewrite(c: Collector, path: PathSegment[], r: RewriteInputParsed): Rewrite | null {
  const hasPath = r.path !== undefined;
  const hasRegex = r.match !== undefined || r.replace !== undefined;
  if (hasPath === hasRegex) {
    c.add(path, hasPath ? 'a rewrite has either "path" or "match" + "replace", not both' : 'a rewrite needs "path" or "match" + "replace"');
    return null;
  }
  let condSrc = r.condition;
  let cond: CompiledCondition | null = null;
  if (r.path !== undefined) {
    let newPath = r.path;
    // Vamp's form, "<new path> if <condition>" (PathRewrite: `(?i)(.+) if (.+)`).
    const vamp = /^(\S*) +if +(.*)$/is.exec(r.path);
    if (vamp) {
      if (condSrc !== undefined) {
        c.add([...path, 'condition'], 'the path already has an "if <condition>" (Vamp form); give the condition once');
        return null;
      }
      newPath = vamp[1] as string;
      condSrc = vamp[2] as string;
    }
    if (condSrc !== undefined) cond = rewriteCondition(c, [...path, vamp ? 'path' : 'condition'], condSrc);
    if (!rewriteText(c, [...path, 'path'], 'path', newPath, true)) return null;
    if (!newPath.startsWith('/')) return (c.add([...path, 'path'], `path ${quote(newPath)} must start with "/"`), null);
    if (condSrc !== undefined && cond === null) return null;
    return { kind: 'set-path', path: newPath, condition: cond };
  }
  if (r.match === undefined || r.replace === undefined) {
    c.add(path, `a regex rewrite needs both "match" and "replace"`);
    return null;
  }
  if (condSrc !== undefined) cond = rewriteCondition(c, [...path, 'condition'], condSrc);
  const okMatch = rewriteText(c, [...path, 'match'], 'match', r.match, false);
  if (okMatch) {
    try {
      new RegExp(r.match);
    } catch (err) {
      c.add([...path, 'match'], `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
      return null;
    }
  }
  const okReplace = rewriteText(c, [...path, 'replace'], 'replace', r.replace, true);
  if (!okMatch || !okReplace || (condSrc !== undefined && cond === null)) return null;
  return { kind: 'replace-path', match: r.match, replace: r.replace, condition: cond };
}

/** `list[i]` is at `paths[i]` in the document. */
function targets(c: Collector, list: readonly TargetInputParsed[], paths: readonly PathSegment[][]): Target[] {
  const out: Target[] = [];
  const seen = new Map<string, string>();
  list.forEach((t, i) => {
    let host: string;
    let port: number;
    const at = paths[i] as PathSegment[];
    let hostPath = at;
    if (typeof t === 'string') {
      const split = splitHostPort(t);
      if (!split.ok) return c.add(at, split.message);
      ({ host, port } = split);
    } else {
      ({ host, port } = t);
      hostPath = [...at, 'host'];
    }
    const h = classifyHost(host);
    if (!h.ok) return c.add(hostPath, h.message);
    const key = h.hostKind === 'ipv6' ? `[${h.host}]:${port}` : `${h.host}:${port}`;
    const first = seen.get(key);
    if (first !== undefined) {
      return c.add(at, `duplicate target "${key}" (also ${first}): list each server of a route once (a target listed twice would take twice its share; Vamp would render two servers of one name, which HAProxy refuses)`);
    }
    seen.set(key, typeof at[at.length - 1] === 'number' ? `targets[${String(at[at.length - 1])}]` : 'the route name');
    out.push({ host: h.host, port, hostKind: h.hostKind });
  });
  return out;
}

function balance(c: Collector, path: PathSegment[], value: string | undefined, mode: PortMode, fallback: string): string {
  if (value === undefined || value === 'default') return fallback;
  if (mode === 'tcp' && HTTP_ONLY_BALANCE.test(value)) {
    c.add(path, `balance ${quote(value)} needs an http port (this gateway is tcp)`);
    return fallback;
  }
  return value;
}

/** Vamp's "nothing": what an unset field looks like in its exports. */
function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}

/** Vamp-only fields: accepted when empty, refused with the reason when not. */
function vampOnlyFields(c: Collector, at: PathSegment[], obj: Record<string, unknown>, fields: Record<string, unknown>): void {
  for (const key of Object.keys(fields)) {
    const v = obj[key];
    if (isEmptyValue(v)) continue;
    const json = JSON.stringify(v) ?? String(v);
    const shown = typeof v === 'string' ? quote(v, 60) : json.length > 60 ? `${json.slice(0, 60)}…` : json;
    c.add([...at, key], `Vamp's ${JSON.stringify(key)} is not supported when set (${shown}): ${VAMP_ONLY_HINTS[key] ?? 'remove it'}`);
  }
}

/** One route as written, wherever it was written (map, list, single name, "[host:port]" key). */
interface RouteEntry {
  /** The key as written. */
  key: string;
  /** The route's name in Weir (backend names, metrics, the control API). */
  name: string;
  /** Where the route is in the document. */
  at: PathSegment[];
  route: RouteInputParsed;
  /** A target given by the key (`[host:port]`) or by a string value (`v1: "host:port"`). */
  implied: { target: string; at: PathSegment[] } | null;
}

type RouteValue = RouteInputParsed | string | null;

/** `[10.0.0.1:8080]` → `10.0.0.1_8080`, `[[fd00::1]:80]` → `fd00--1_80`: a valid route name. */
export function targetRouteName(key: string): string {
  const inner = key.slice(1, -1);
  const cut = inner.lastIndexOf(':');
  const host = inner.slice(0, cut).replace(/^\[|\]$/g, '');
  const name = `${host}_${inner.slice(cut + 1)}`.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return name.slice(0, 63);
}

function routeEntry(c: Collector, key: string, value: RouteValue, at: PathSegment[]): RouteEntry | null {
  let route: RouteInputParsed = {};
  let implied: RouteEntry['implied'] = null;
  if (typeof value === 'string') {
    if (!/:[0-9]{1,5}\]?$/.test(value)) {
      c.add(at, `${quote(value)} is not "host:port": a route written as a string is its one target (Vamp reads it as a reference to a stored route, which Weir does not have: write the route here, e.g. {weight: 50%, targets: ["10.0.0.1:8080"]})`);
      return null;
    }
    implied = { target: value.startsWith('[') && !value.startsWith('[[') && !value.includes(']:') ? value.slice(1, -1) : value, at };
  } else if (value !== null) route = value;
  if (TARGET_ROUTE_KEY.test(key)) {
    if (implied) {
      c.add(at, `the route ${quote(key)} is named by its target; give it no other target`);
      return null;
    }
    if (route.targets !== undefined && route.targets.length > 0) {
      c.add([...at, 'targets'], `the route ${quote(key)} is named by its target (Vamp's external route) and takes that one; remove targets, or name the route and list all its targets here`);
      return null;
    }
    return { key, name: targetRouteName(key), at, route, implied: { target: key.slice(1, -1), at } };
  }
  return { key, name: key, at, route, implied };
}

function expandRoutes(c: Collector, routes: GatewayInputParsed['routes'], routeOrder: readonly string[] | undefined): RouteEntry[] {
  if (routes === undefined || routes === null) return [];
  const fromMap = (map: Record<string, RouteValue>, base: PathSegment[]): RouteEntry[] => {
    let pairs = Object.entries(map);
    if (routeOrder && base.length === 1) {
      const rank = new Map(routeOrder.map((n, i) => [n, i]));
      pairs = pairs.sort((a, b) => (rank.get(a[0]) ?? Infinity) - (rank.get(b[0]) ?? Infinity));
    }
    return pairs.flatMap(([k, v]) => routeEntry(c, k, v, [...base, k]) ?? []);
  };
  if (typeof routes === 'string') return [routeEntry(c, routes, null, ['routes'])].flatMap((e) => e ?? []);
  if (Array.isArray(routes)) {
    return routes.flatMap((item, i) => (typeof item === 'string' ? (routeEntry(c, item, null, ['routes', i]) ?? []) : fromMap(item as Record<string, RouteValue>, ['routes', i])));
  }
  return fromMap(routes as Record<string, RouteValue>, ['routes']);
}

export function normalizeGateway(input: GatewayInputParsed, opts: NormalizeOptions): ParseResult {
  const c = new Collector(opts.source, opts.locate);

  let name = input.name;
  if (opts.expectedName !== undefined) {
    if (name === undefined) {
      if (GATEWAY_NAME.test(opts.expectedName)) name = opts.expectedName;
      else c.add('name', `the name taken from the file or key, ${quote(opts.expectedName)}, is not a valid gateway name: use a lower-case DNS label (a-z, 0-9 and "-", 1–63 characters)`);
    } else if (name !== opts.expectedName) {
      c.add('name', `name ${quote(name)} differs from ${quote(opts.expectedName)}, the name given by the file or key`);
    }
  } else if (name === undefined) {
    c.add('name', 'required field is missing');
  }
  vampOnlyFields(c, [], input, VAMP_GATEWAY_FIELDS);

  const { port, mode } = parsePort(input.port);
  const tcp = mode === 'tcp';
  const httpOnly = (path: PathSegment[], what: string) => c.add(path, `${what} need${what.endsWith('s') ? '' : 's'} an http port (this gateway is tcp)`);
  const sticky: Sticky | null = input.sticky === undefined || input.sticky === null || input.sticky === 'none' ? null : input.sticky;
  if (sticky !== null && tcp) c.add('sticky', 'sticky sessions need an http port (this gateway is tcp)');

  const vhosts = input.virtual_hosts === undefined || input.virtual_hosts === null ? [] : typeof input.virtual_hosts === 'string' ? [input.virtual_hosts] : input.virtual_hosts;
  const virtualHosts = [...new Set(vhosts.map((h) => h.toLowerCase()))];
  if (virtualHosts.length > 0 && tcp) httpOnly(['virtual_hosts'], 'virtual hosts');

  const gwBalance = balance(c, ['balance'], input.balance, mode, defaultBalance(mode));

  // Routes: document order, names unique regardless of case (derived names included).
  const entries = expandRoutes(c, input.routes, opts.routeOrder);
  if (entries.length > MAX_ROUTES) c.add('routes', `${entries.length} routes, at most ${MAX_ROUTES} are allowed`);
  const lowerNames = new Map<string, RouteEntry>();
  for (const e of entries) {
    const other = lowerNames.get(e.name.toLowerCase());
    if (other === undefined) lowerNames.set(e.name.toLowerCase(), e);
    else if (other.key === e.key) c.add(e.at, `route ${quote(e.key)} is given twice`);
    else {
      const named = [other, e].filter((x) => x.name !== x.key).map((x) => `${quote(x.key)} is named ${quote(x.name)}; `).join('');
      c.add(e.at, `route names ${quote(other.key)} and ${quote(e.key)} collide after normalisation (${named}names are compared ignoring case)`);
    }
  }

  const routes: Route[] = [];
  for (const e of entries) {
    const r = e.route;
    const at = (...rest: PathSegment[]): PathSegment[] => [...e.at, ...rest];
    vampOnlyFields(c, e.at, r, VAMP_ROUTE_FIELDS);
    let cond: CompiledCondition | null = null;
    const condSrc = r.condition === undefined || r.condition === null ? undefined : typeof r.condition === 'string' ? r.condition : r.condition.condition;
    const hasCondition = condSrc !== undefined && condSrc.trim() !== '';
    const strengthGiven = percent(r.condition_strength);
    if (hasCondition && tcp) httpOnly(at('condition'), 'conditions');
    else if (hasCondition) cond = condition(c, at('condition'), condSrc);
    if (tcp && hasCondition && strengthGiven !== undefined) httpOnly(at('condition_strength'), 'condition_strength');
    else if (!hasCondition && strengthGiven !== undefined && strengthGiven !== 0) c.add(at('condition_strength'), 'condition_strength needs a condition');
    const strength = hasCondition ? (strengthGiven ?? 100) : 0;
    const rewriteList = r.rewrites === undefined || r.rewrites === null ? [] : Array.isArray(r.rewrites) ? r.rewrites : [r.rewrites];
    const rewritesAt = (i: number): PathSegment[] => (Array.isArray(r.rewrites) ? at('rewrites', i) : at('rewrites'));
    const rewrites: Rewrite[] = [];
    if (rewriteList.length > 0 && tcp) httpOnly(at('rewrites'), 'rewrites');
    else
      rewriteList.forEach((rw, i) => {
        const out = rewrite(c, rewritesAt(i), rw);
        if (out) rewrites.push(out);
      });
    const list: TargetInputParsed[] = [...(e.implied ? [e.implied.target] : []), ...(r.targets ?? [])];
    const paths = [...(e.implied ? [e.implied.at] : []), ...(r.targets ?? []).map((_, i) => at('targets', i))];
    routes.push({
      name: e.name,
      weight: 0,
      condition: cond,
      conditionStrength: strength,
      rewrites,
      balance: balance(c, at('balance'), r.balance, mode, gwBalance),
      targets: targets(c, list, paths),
    });
  }

  const filled = fillWeights(entries.map((e) => ({ name: e.name, weight: percent(e.route.weight), at: e.at })));
  if (filled.ok) filled.weights.forEach((w, i) => ((routes[i] as Route).weight = w));
  else c.add(filled.at, filled.message);

  if (c.errors.length > 0 || name === undefined) return { ok: false, errors: c.errors };
  return { ok: true, gateway: { name, port, mode, sticky, virtualHosts, balance: gwBalance, metadata: input.metadata ?? {}, routes } };
}
