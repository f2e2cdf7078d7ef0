// The HAProxy model: an intermediate, template-ready description of the whole config,
// built from validated gateways. Rendering reads it; planning compares two of them to
// decide what the runtime API can change in place and what needs a reload.
//
// What lives where (see docs/ARCHITECTURE.md "Runtime-changeable state"):
// - route weights: a per-gateway map file of 100 buckets → backend name, swapped
//   atomically with `prepare map`/`commit map`;
// - condition strengths: a per-gateway map file route → percent;
// - targets: pre-allocated server slots per route backend, filled with `set server addr`
//   and `set server state ready|maint` (slots accept `cookie`, dynamic servers do not).
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Gateway, Route, Rewrite, CompiledCondition } from '../../model/gateway.js';
import { discoveryModels, resolversModel, type DiscoveryModel, type DnsModelSettings, type ResolversModel } from './discovery-model.js';
import { certificatePath, tlsBindModel, type CertificateFile, type TlsBindModel } from './tls-model.js';

export interface ModelSettings {
  bindAddress: string;
  /** Directory of the map files (inside the state directory). */
  mapsDir: string;
  /** Minimum slots per route backend; slot counts grow in powers of two above it. */
  minSlots: number;
  /** Port of the shared virtual-host frontend; 0 disables it. */
  vhostPort: number;
  /** [edge] DNS servers and hold time of the `resolvers` section (default: /etc/resolv.conf, 1h). */
  dns?: DnsModelSettings;
  /** [edge] Where crt-lists and certificate PEMs live (default: `tls/` next to the maps directory). */
  tlsDir?: string;
}

export interface AclDef {
  name: string;
  acl: string;
}

export interface Slot {
  name: string;
  /** IP literal, DNS name, or the placeholder 127.0.0.1 for an empty slot. */
  address: string;
  port: number;
  enabled: boolean;
  /** Persistence cookie value (instance stickiness). */
  cookie: string | null;
}

export interface RewriteModel {
  directive: 'set-path' | 'replace-path';
  /** Already single-quoted arguments. */
  args: string;
  /** `if ...` suffix (empty when unconditional). */
  condition: string;
}

export interface RouteModel {
  name: string;
  backend: string;
  balance: string;
  weight: number;
  rewriteAcls: AclDef[];
  rewrites: RewriteModel[];
  /** Cookie name for instance stickiness; null otherwise. */
  instanceCookie: string | null;
  slots: Slot[];
  /** [edge] `server-template` slots HAProxy fills from DNS at runtime. */
  discovery: DiscoveryModel[];
  /** [edge] With discovered servers and instance stickiness: their cookies are derived from address and port with this key. */
  dynamicCookieKey: string | null;
}

export interface ConditionalRouteModel {
  route: string;
  backend: string;
  /** Variable holding this route's random draw for condition strength. */
  drawVar: string;
  strengthAcl: string;
  /** The `if` expression without the guard, e.g. `a !b or c` (each clause gets the strength ACL appended). */
  clauses: string[];
}

export interface GatewayModel {
  name: string;
  mode: 'http' | 'tcp';
  port: number;
  bind: string;
  sticky: 'route' | 'instance' | null;
  virtualHosts: string[];
  /** ACL definitions used by the frontend rules (conditions, strength, stickiness). */
  acls: AclDef[];
  conditionalRoutes: ConditionalRouteModel[];
  weightsMap: string;
  strengthMap: string | null;
  stickyMap: string | null;
  stickyCookie: string | null;
  stickyAcl: string | null;
  routes: RouteModel[];
  /** [edge] TLS termination: the bind options and the crt-list (tls-model.ts); null: plain. */
  tls: TlsBindModel | null;
}

export interface HaproxyModel {
  gateways: GatewayModel[];
  vhostPort: number;
  bindAddress: string;
  /** Map file path → ordered entries. Map contents are runtime-changeable. */
  maps: Record<string, Array<[string, string]>>;
  /** [edge] The `resolvers` section, when a route discovers servers through DNS. */
  resolvers: ResolversModel | null;
  /** [edge] Certificate PEM path → what HAProxy loads (contents change at runtime). */
  certificates: Record<string, CertificateFile>;
}

const PLACEHOLDER_ADDRESS = '127.0.0.1';
const PLACEHOLDER_PORT = 1;
export const WEIGHT_BUCKETS = 100;

export const backendName = (gateway: string, route: string): string => `${gateway}:${route}`;

function quote(value: string): string {
  // Values were validated by model/ to contain no single quote or control character;
  // inside single quotes HAProxy applies no escaping at all.
  return `'${value}'`;
}

/** Renders a compiled condition's clauses with ACLs named `<prefix>_<i>`; returns defs and clause strings. */
function conditionToAcls(condition: CompiledCondition, prefix: string): { acls: AclDef[]; clauses: string[] } {
  const acls: AclDef[] = [];
  const byText = new Map<string, string>();
  const clauses = condition.clauses.map((clause) =>
    clause
      .map((lit) => {
        let name = byText.get(lit.acl);
        if (!name) {
          name = `${prefix}_${acls.length}`;
          byText.set(lit.acl, name);
          acls.push({ name, acl: lit.acl });
        }
        return lit.negate ? `!${name}` : name;
      })
      .join(' '),
  );
  return { acls, clauses };
}

function slotCount(targets: number, minSlots: number, previous: number): number {
  if (targets <= previous) return previous; // never shrink while running: shrinking would force a reload
  let n = Math.max(1, minSlots);
  while (n < targets) n *= 2;
  return n;
}

function targetKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/** Assigns targets to slots, keeping every target that is still present in the slot it had. */
function assignSlots(route: Route, minSlots: number, previous: Slot[] | undefined, withCookies: boolean): Slot[] {
  const count = slotCount(route.targets.length, minSlots, previous?.length ?? 0);
  const slots: Array<Slot | null> = Array.from({ length: count }, () => null);
  const wanted = new Map(route.targets.map((t) => [targetKey(t.host, t.port), t]));
  if (previous) {
    previous.forEach((s, i) => {
      const key = targetKey(s.address, s.port);
      if (s.enabled && wanted.has(key) && i < count) {
        slots[i] = { ...s, cookie: withCookies ? `s${i}` : null };
        wanted.delete(key);
      }
    });
  }
  const free = slots.map((s, i) => (s === null ? i : -1)).filter((i) => i >= 0);
  for (const t of wanted.values()) {
    const i = free.shift();
    if (i === undefined) throw new Error('slot assignment overflow'); // unreachable: count >= targets
    slots[i] = { name: `s${i}`, address: t.host, port: t.port, enabled: true, cookie: withCookies ? `s${i}` : null };
  }
  return slots.map((s, i) => {
    if (s) return s;
    // Keep the address of a slot that just emptied: only its state changes, which the runtime API can do.
    const prev = previous?.[i];
    return {
      name: `s${i}`,
      address: prev?.address ?? PLACEHOLDER_ADDRESS,
      port: prev?.port ?? PLACEHOLDER_PORT,
      enabled: false,
      cookie: withCookies ? `s${i}` : null,
    };
  });
}

function rewriteModels(route: Route, prefix: string): { acls: AclDef[]; rewrites: RewriteModel[] } {
  const acls: AclDef[] = [];
  const rewrites: RewriteModel[] = route.rewrites.map((rw: Rewrite, i) => {
    let condition = '';
    if (rw.condition) {
      const compiled = conditionToAcls(rw.condition, `${prefix}_rw${i}`);
      acls.push(...compiled.acls);
      // An empty clause list means "never"; HAProxy has no literal false, so use an always-false ACL.
      condition = compiled.clauses.length === 0 ? 'if FALSE' : `if ${compiled.clauses.map((c) => c || 'TRUE').join(' or ')}`;
    }
    // set-path/replace-path take log-format strings; model/ admits `%` only as `%%` or `%[fetch]`.
    const args = rw.kind === 'set-path' ? quote(rw.path) : `${quote(rw.match)} ${quote(rw.replace)}`;
    return { directive: rw.kind, args, condition };
  });
  return { acls, rewrites };
}

/** Which gateway definition (object identity) and settings each model was built from. */
const builtFrom = new WeakMap<GatewayModel, { gw: Gateway; settings: ModelSettings }>();

export function buildGatewayModel(gw: Gateway, settings: ModelSettings, previous?: GatewayModel): GatewayModel {
  // The parse cache hands back the same Gateway object for an unchanged entry, and a model
  // depends only on it, the settings and the previous slots: reuse it, so 5,000 unchanged
  // gateways cost nothing on a sync.
  const origin = previous ? builtFrom.get(previous) : undefined;
  if (previous && origin && origin.gw === gw && origin.settings === settings) return previous;
  const model = buildFreshGatewayModel(gw, settings, previous);
  builtFrom.set(model, { gw, settings });
  return model;
}

function buildFreshGatewayModel(gw: Gateway, settings: ModelSettings, previous?: GatewayModel): GatewayModel {
  const mapBase = join(settings.mapsDir, gw.name);
  const prevRoutes = new Map(previous?.routes.map((r) => [r.name, r]) ?? []);
  const routes: RouteModel[] = gw.routes.map((r, idx) => {
    const backend = backendName(gw.name, r.name);
    const rw = rewriteModels(r, `r${idx}`);
    const discovery = discoveryModels(r);
    return {
      name: r.name,
      backend,
      balance: r.balance,
      weight: r.weight,
      rewriteAcls: rw.acls,
      rewrites: rw.rewrites,
      instanceCookie: gw.sticky === 'instance' ? `weir_${gw.name}_${r.name}` : null,
      slots: assignSlots(r, settings.minSlots, prevRoutes.get(r.name)?.slots, gw.sticky === 'instance'),
      discovery,
      dynamicCookieKey: gw.sticky === 'instance' && discovery.length > 0 ? `weir-${gw.name}-${r.name}` : null,
    };
  });

  const acls: AclDef[] = [];
  const conditionalRoutes: ConditionalRouteModel[] = [];
  gw.routes.forEach((r, idx) => {
    if (!r.condition || r.condition.clauses.length === 0 || r.conditionStrength === 0) return;
    const compiled = conditionToAcls(r.condition, `${gw.name}_c${idx}`);
    acls.push(...compiled.acls);
    const drawVar = `txn.weir_d${idx}`;
    const strengthAcl = `${gw.name}_s${idx}`;
    // strength − draw > 0  ⇔  draw < strength: the strength lives in a map, so it changes at runtime.
    acls.push({ name: strengthAcl, acl: `str(${r.name}),map_str_int(${mapBase}.strength.map,0),sub(${drawVar}) -m int gt 0` });
    conditionalRoutes.push({
      route: r.name,
      backend: backendName(gw.name, r.name),
      drawVar,
      strengthAcl,
      clauses: compiled.clauses,
    });
  });

  const sticky = gw.mode === 'http' ? gw.sticky : null;
  let stickyAcl: string | null = null;
  if (sticky) {
    stickyAcl = `${gw.name}_sticky`;
    acls.push({ name: stickyAcl, acl: `req.cook(weir_${gw.name}),map_str(${mapBase}.sticky.map) -m found` });
  }

  return {
    name: gw.name,
    mode: gw.mode,
    port: gw.port,
    bind: `${formatBindHost(settings.bindAddress)}:${gw.port}`,
    sticky,
    virtualHosts: gw.virtualHosts,
    acls,
    conditionalRoutes,
    weightsMap: `${mapBase}.weights.map`,
    strengthMap: conditionalRoutes.length > 0 ? `${mapBase}.strength.map` : null,
    stickyMap: sticky ? `${mapBase}.sticky.map` : null,
    stickyCookie: sticky ? `weir_${gw.name}` : null,
    stickyAcl,
    routes,
    tls: tlsBindModel(gw, tlsDirOf(settings)),
  };
}

export const tlsDirOf = (settings: ModelSettings): string => settings.tlsDir ?? join(settings.mapsDir, '..', 'tls');

function formatBindHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

const bucketCache = new WeakMap<object, Array<[string, string]>>();

/** Bucket b (0..99) → backend: routes take consecutive runs of buckets in declaration order. */
export function weightBuckets(gw: Pick<GatewayModel, 'routes'>): Array<[string, string]> {
  const hit = bucketCache.get(gw.routes);
  if (hit) return hit;
  const entries: Array<[string, string]> = [];
  for (const r of gw.routes) {
    for (let i = 0; i < r.weight && entries.length < WEIGHT_BUCKETS; i++) entries.push([String(entries.length), r.backend]);
  }
  bucketCache.set(gw.routes, entries);
  return entries;
}

const sideMapCache = new WeakMap<GatewayModel, { strength: Array<[string, string]> | null; sticky: Array<[string, string]> | null }>();

export function buildMaps(gateways: Gateway[], models: GatewayModel[]): Record<string, Array<[string, string]>> {
  const maps: Record<string, Array<[string, string]>> = {};
  models.forEach((m, i) => {
    const gw = gateways[i];
    if (!gw) return;
    maps[m.weightsMap] = weightBuckets(m);
    let side = sideMapCache.get(m);
    if (!side) {
      side = {
        strength: m.strengthMap
          ? gw.routes.filter((r) => m.conditionalRoutes.some((c) => c.route === r.name)).map((r) => [r.name, String(r.conditionStrength)])
          : null,
        sticky: m.stickyMap ? m.routes.map((r) => [r.name, r.backend]) : null,
      };
      sideMapCache.set(m, side);
    }
    if (m.strengthMap && side.strength) maps[m.strengthMap] = side.strength;
    if (m.stickyMap && side.sticky) maps[m.stickyMap] = side.sticky;
  });
  return maps;
}

/**
 * `certificates`: [edge] the certificate documents TLS gateways reference, by name (the agent
 * resolves them from the store); a gateway referencing one that is missing gets no file for it.
 */
export function buildHaproxyModel(gateways: Gateway[], settings: ModelSettings, previous?: HaproxyModel, certificates?: ReadonlyMap<string, Omit<CertificateFile, 'name'>>): HaproxyModel {
  const prev = new Map(previous?.gateways.map((g) => [g.name, g]) ?? []);
  const sorted = [...gateways].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const models = sorted.map((gw) => buildGatewayModel(gw, settings, prev.get(gw.name)));
  return {
    gateways: models,
    vhostPort: settings.vhostPort,
    bindAddress: formatBindHost(settings.bindAddress),
    maps: buildMaps(sorted, models),
    resolvers: resolversModel(models, settings.dns),
    certificates: certificateFiles(sorted, settings, certificates),
  };
}

function certificateFiles(gateways: Gateway[], settings: ModelSettings, certs: ReadonlyMap<string, Omit<CertificateFile, 'name'>> | undefined): Record<string, CertificateFile> {
  const out: Record<string, CertificateFile> = {};
  for (const g of gateways) {
    for (const name of g.tls?.certificates ?? []) {
      const c = certs?.get(name);
      if (c) out[certificatePath(tlsDirOf(settings), name)] = { name, pem: c.pem, contentHash: c.contentHash };
    }
  }
  return out;
}

/** True when HAProxy's runtime API can point a slot at this address (`set server addr` takes IPs only). */
export const runtimeAddressable = (address: string): boolean => isIP(address) !== 0;

const gatewayKeyCache = new WeakMap<GatewayModel, string>();

/**
 * The part of a gateway's model that only a reload can change. Map contents, the addresses of
 * slots holding IP literals and slot states are left out: those go through the runtime API.
 */
export function gatewayStructuralKey(g: GatewayModel): string {
  let key = gatewayKeyCache.get(g);
  if (key === undefined) {
    key = JSON.stringify({
      ...g,
      // [edge] Certificates after the default join and leave a crt-list at runtime.
      tls: g.tls ? { ...g.tls, certificates: g.tls.certificates.slice(0, 1) } : null,
      routes: g.routes.map((r) => ({
        ...r,
        weight: undefined,
        slots: r.slots.map((s) => ({
          name: s.name,
          cookie: s.cookie,
          address: runtimeAddressable(s.address) ? '*' : s.address,
          port: runtimeAddressable(s.address) ? '*' : s.port,
        })),
      })),
    });
    gatewayKeyCache.set(g, key);
  }
  return key;
}
