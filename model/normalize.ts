// From the schema-checked input to the normalized `Gateway`: defaults, cross-field rules,
// weight filling, condition compilation. Collects every error instead of stopping at the first.
import type { CompiledCondition, Gateway, PortMode, Rewrite, Route, Sticky, Target } from './gateway.js';
import type { GatewayInputParsed, RewriteInputParsed, RouteInputParsed, TargetInputParsed } from './schema.js';
import { GATEWAY_NAME, HTTP_ONLY_BALANCE, MAX_REWRITE_LENGTH, MAX_ROUTES, REWRITE_TEXT } from './schema.js';
import { compileCondition } from './condition.js';
import { classifyHost, splitHostPort } from './hosts.js';
import { fillWeights } from './weights.js';
import { isDiscoveryInput, MAX_DISCOVERY_TARGETS, normalizeDiscovery, discoveryLabel } from './discovery.js';
import type { DiscoveredTarget } from './discovery.js';
import { normalizeTls } from './tls.js';
import type { GatewayTls } from './tls.js';
import { formatPath, quote, type ModelError, type PathSegment } from './errors.js';

export interface NormalizeOptions {
  source: string;
  expectedName?: string;
  /** Route names in document order (YAML); JS objects put integer-like keys first. */
  routeOrder?: readonly string[];
}

export type ParseResult = { ok: true; gateway: Gateway } | { ok: false; errors: ModelError[] };

export function defaultBalance(mode: PortMode): string {
  return mode === 'http' ? 'roundrobin' : 'leastconn';
}

class Collector {
  readonly errors: ModelError[] = [];
  constructor(private readonly source: string) {}
  add(path: readonly PathSegment[] | string, message: string): void {
    this.errors.push({ source: this.source, path: typeof path === 'string' ? path : formatPath(path), message });
  }
}

function parsePort(port: number | string): { port: number; mode: PortMode } {
  if (typeof port === 'number') return { port, mode: 'http' };
  const [num, mode] = port.split('/');
  return { port: Number.parseInt(num as string, 10), mode: mode === 'tcp' ? 'tcp' : 'http' };
}

function percent(v: number | string | undefined): number | undefined {
  return v === undefined ? undefined : typeof v === 'number' ? v : Number.parseInt(v, 10);
}

function condition(c: Collector, path: PathSegment[], src: string): CompiledCondition | null {
  const r = compileCondition(src);
  if (r.ok) return r.condition;
  c.add(path, r.message);
  return null;
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
    const vamp = /^(\S*) +if +(.*)$/s.exec(r.path);
    if (vamp) {
      if (condSrc !== undefined) {
        c.add([...path, 'condition'], 'the path already has an "if <condition>" (Vamp form); give the condition once');
        return null;
      }
      newPath = vamp[1] as string;
      condSrc = vamp[2] as string;
    }
    if (condSrc !== undefined) cond = condition(c, [...path, vamp ? 'path' : 'condition'], condSrc);
    if (!rewriteText(c, [...path, 'path'], 'path', newPath, true)) return null;
    if (!newPath.startsWith('/')) return (c.add([...path, 'path'], `path ${quote(newPath)} must start with "/"`), null);
    if (condSrc !== undefined && cond === null) return null;
    return { kind: 'set-path', path: newPath, condition: cond };
  }
  if (r.match === undefined || r.replace === undefined) {
    c.add(path, `a regex rewrite needs both "match" and "replace"`);
    return null;
  }
  if (condSrc !== undefined) cond = condition(c, [...path, 'condition'], condSrc);
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

function targets(c: Collector, path: PathSegment[], list: readonly TargetInputParsed[], discovered: DiscoveredTarget[] = []): Target[] {
  const out: Target[] = [];
  const seen = new Map<string, number>();
  list.forEach((t, i) => {
    // [edge] {dns, port} / {srv}: HAProxy resolves these at runtime.
    if (isDiscoveryInput(t)) {
      const d = normalizeDiscovery(t);
      if (!d.ok) return c.add([...path, i, d.field], d.message);
      const key = `${d.target.kind} ${discoveryLabel(d.target)}`;
      const first = seen.get(key);
      if (first !== undefined) return c.add([...path, i], `duplicate target ${JSON.stringify(discoveryLabel(d.target))} (also targets[${first}])`);
      seen.set(key, i);
      if (discovered.length >= MAX_DISCOVERY_TARGETS) return c.add([...path, i], `at most ${MAX_DISCOVERY_TARGETS} DNS/SRV targets per route`);
      discovered.push(d.target);
      return;
    }
    let host: string;
    let port: number;
    let hostPath: PathSegment[] = [...path, i];
    if (typeof t === 'string') {
      const split = splitHostPort(t);
      if (!split.ok) return c.add(hostPath, split.message);
      ({ host, port } = split);
    } else {
      ({ host, port } = t);
      hostPath = [...path, i, 'host'];
    }
    const h = classifyHost(host);
    if (!h.ok) return c.add(hostPath, h.message);
    const key = h.hostKind === 'ipv6' ? `[${h.host}]:${port}` : `${h.host}:${port}`;
    const first = seen.get(key);
    if (first !== undefined) return c.add([...path, i], `duplicate target "${key}" (also targets[${first}])`);
    seen.set(key, i);
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

export function normalizeGateway(input: GatewayInputParsed, opts: NormalizeOptions): ParseResult {
  const c = new Collector(opts.source);

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

  const { port, mode } = parsePort(input.port);
  const sticky: Sticky | null = input.sticky === undefined || input.sticky === null || input.sticky === 'none' ? null : input.sticky;
  if (sticky !== null && mode === 'tcp') c.add('sticky', 'sticky sessions need an http port (this gateway is tcp)');

  const vhosts = input.virtual_hosts === undefined ? [] : typeof input.virtual_hosts === 'string' ? [input.virtual_hosts] : input.virtual_hosts;
  const virtualHosts = [...new Set(vhosts.map((h) => h.toLowerCase()))];
  if (virtualHosts.length > 0 && mode === 'tcp') c.add('virtual_hosts', 'virtual hosts need an http port (this gateway is tcp)');

  const gwBalance = balance(c, ['balance'], input.balance, mode, defaultBalance(mode));

  let tls: GatewayTls | undefined;
  if (input.tls !== undefined) {
    const t = normalizeTls(input.tls, mode, virtualHosts);
    if (t.ok) tls = t.tls;
    else for (const e of t.errors) c.add(['tls', ...e.field], e.message);
  }

  // Routes: document order, names unique regardless of case.
  const entries = Object.entries(input.routes);
  if (opts.routeOrder) {
    const rank = new Map(opts.routeOrder.map((n, i) => [n, i]));
    entries.sort((a, b) => (rank.get(a[0]) ?? Infinity) - (rank.get(b[0]) ?? Infinity));
  }
  if (entries.length === 0) c.add('routes', 'at least one route is required');
  if (entries.length > MAX_ROUTES) c.add('routes', `${entries.length} routes, at most ${MAX_ROUTES} are allowed`);
  const lowerNames = new Map<string, string>();
  for (const [routeName] of entries) {
    const other = lowerNames.get(routeName.toLowerCase());
    if (other !== undefined) c.add(['routes', routeName], `route names ${quote(other)} and ${quote(routeName)} collide after normalisation (names are compared ignoring case)`);
    else lowerNames.set(routeName.toLowerCase(), routeName);
  }

  const routes: Route[] = [];
  for (const [routeName, r] of entries as Array<[string, RouteInputParsed]>) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['routes', routeName, ...rest];
    let cond: CompiledCondition | null = null;
    const condSrc = r.condition === undefined ? undefined : typeof r.condition === 'string' ? r.condition : r.condition.condition;
    if (condSrc !== undefined) cond = condition(c, at('condition'), condSrc);
    if (r.condition_strength !== undefined && condSrc === undefined) c.add(at('condition_strength'), 'condition_strength needs a condition');
    const strength = condSrc === undefined ? 0 : (percent(r.condition_strength) ?? 100);
    const rewrites: Rewrite[] = [];
    if (r.rewrites !== undefined && r.rewrites.length > 0 && mode === 'tcp') c.add(at('rewrites'), 'rewrites need an http port (this gateway is tcp)');
    else
      (r.rewrites ?? []).forEach((rw, i) => {
        const out = rewrite(c, at('rewrites', i), rw);
        if (out) rewrites.push(out);
      });
    const discovered: DiscoveredTarget[] = [];
    routes.push({
      name: routeName,
      weight: 0,
      condition: cond,
      conditionStrength: strength,
      rewrites,
      balance: balance(c, at('balance'), r.balance, mode, gwBalance),
      targets: targets(c, at('targets'), r.targets ?? [], discovered),
      discovered,
    });
  }

  const filled = fillWeights(entries.map(([routeName, r]) => ({ name: routeName, weight: percent(r.weight) })));
  if (filled.ok) filled.weights.forEach((w, i) => ((routes[i] as Route).weight = w));
  else c.add(filled.path, filled.message);

  if (c.errors.length > 0 || name === undefined) return { ok: false, errors: c.errors };
  return { ok: true, gateway: { name, port, mode, sticky, virtualHosts, balance: gwBalance, metadata: input.metadata ?? {}, ...(tls ? { tls } : {}), routes } };
}
