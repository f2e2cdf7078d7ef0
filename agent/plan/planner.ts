// Planning one change: which parts the runtime API applies now, and whether a reload is
// still needed afterwards. Pure functions over two HAProxy models, so they are unit-tested
// without HAProxy.
import { gatewayStructuralKey, runtimeAddressable, type HaproxyModel, type Slot } from './haproxy-model.js';
import { planTls, type TlsRuntimeOp } from './tls-plan.js';

export type RuntimeOp =
  | { kind: 'replace-map'; path: string; entries: Array<[string, string]> }
  | { kind: 'set-server-addr'; backend: string; server: string; address: string; port: number }
  | { kind: 'set-server-state'; backend: string; server: string; state: 'ready' | 'maint' }
  /** A slot leaving maintenance keeps its old check result (often DOWN); start it UP like a freshly loaded server, checks correct it. */
  | { kind: 'set-server-health-up'; backend: string; server: string }
  /** [edge] certificate contents and crt-list membership (tls-plan.ts). */
  | TlsRuntimeOp;

export interface Plan {
  /** Changes the runtime API applies to the running HAProxy, in order. */
  runtime: RuntimeOp[];
  /** The model HAProxy runs once `runtime` succeeded. */
  afterRuntime: HaproxyModel;
  /** Whether the desired model still differs in ways only a reload can apply. */
  reload: boolean;
  reloadReasons: string[];
}

const sameEntries = (a: Array<[string, string]> | undefined, b: Array<[string, string]>): boolean =>
  a === b || (a !== undefined && a.length === b.length && a.every(([k, v], i) => b[i]?.[0] === k && b[i]?.[1] === v));

function backendsOf(model: HaproxyModel): Set<string> {
  return new Set(model.gateways.flatMap((g) => g.routes.map((r) => r.backend)));
}

function slotOps(backend: string, running: Slot, desired: Slot): { ops: RuntimeOp[]; applied: Slot } | null {
  const ops: RuntimeOp[] = [];
  const moved = running.address !== desired.address || running.port !== desired.port;
  if (moved && desired.enabled) {
    if (!runtimeAddressable(desired.address)) return null; // DNS names are resolved by HAProxy at load time
    ops.push({ kind: 'set-server-addr', backend, server: desired.name, address: desired.address, port: desired.port });
  }
  if (running.enabled !== desired.enabled) {
    ops.push({ kind: 'set-server-state', backend, server: desired.name, state: desired.enabled ? 'ready' : 'maint' });
    if (desired.enabled) ops.push({ kind: 'set-server-health-up', backend, server: desired.name });
  } else if (moved && desired.enabled) {
    ops.push({ kind: 'set-server-health-up', backend, server: desired.name });
  }
  // An emptied slot keeps its old address in the running model: only its state changed.
  const applied = desired.enabled || !moved ? desired : { ...desired, address: running.address, port: running.port };
  return { ops, applied };
}

export function plan(running: HaproxyModel | null, desired: HaproxyModel): Plan {
  if (!running) {
    return { runtime: [], afterRuntime: running ?? desired, reload: true, reloadReasons: ['no running configuration'] };
  }
  const runtime: RuntimeOp[] = [];
  const afterMaps: HaproxyModel['maps'] = { ...running.maps };
  const live = backendsOf(running);

  for (const [path, entries] of Object.entries(desired.maps)) {
    if (!(path in running.maps) || sameEntries(running.maps[path], entries)) continue;
    // Never point traffic at a backend the running config does not have yet; the reload will.
    if (path.endsWith('.weights.map') && !entries.every(([, be]) => live.has(be))) continue;
    runtime.push({ kind: 'replace-map', path, entries });
    afterMaps[path] = entries;
  }

  const desiredGw = new Map(desired.gateways.map((g) => [g.name, g]));
  // Objects are kept where nothing changed, so per-gateway caches (structural keys) stay valid.
  const afterGateways = running.gateways.map((rg) => {
    const dg = desiredGw.get(rg.name);
    if (!dg || dg === rg) return rg;
    const desiredRoutes = new Map(dg.routes.map((r) => [r.name, r]));
    let gwChanged = false;
    const routes = rg.routes.map((rr) => {
      const dr = desiredRoutes.get(rr.name);
      if (!dr) return rr;
      let routeChanged = dr.weight !== rr.weight;
      const slots = rr.slots.map((rs, i) => {
        const ds = dr.slots[i];
        if (!ds || ds.name !== rs.name || ds.cookie !== rs.cookie) return rs;
        if (rs.address === ds.address && rs.port === ds.port && rs.enabled === ds.enabled) return rs;
        const change = slotOps(rr.backend, rs, ds);
        if (!change) return rs;
        runtime.push(...change.ops);
        routeChanged = true;
        return change.applied;
      });
      if (!routeChanged) return rr;
      gwChanged = true;
      return { ...rr, weight: dr.weight, slots };
    });
    return gwChanged ? { ...rg, routes } : rg;
  });

  // Bring new targets up before taking old ones down, so a route is never left empty mid-change.
  const isDisable = (op: RuntimeOp): boolean => op.kind === 'set-server-state' && op.state === 'maint';
  runtime.sort((a, b) => Number(isDisable(a)) - Number(isDisable(b)));
  // [edge] Certificates rotate and join or leave crt-lists in place.
  const tls = planTls(running, desired, afterGateways);
  runtime.push(...tls.ops);
  const afterRuntime: HaproxyModel = { ...running, gateways: tls.gateways, maps: afterMaps, certificates: tls.certificates };
  const reloadReasons = describeStructuralChange(afterRuntime, desired);
  return { runtime, afterRuntime, reload: reloadReasons.length > 0, reloadReasons };
}

/** Short reasons for a reload, for logs and the status endpoint. Empty when none is needed. */
export function describeStructuralChange(running: HaproxyModel, desired: HaproxyModel): string[] {
  const reasons: string[] = [];
  const rByName = new Map(running.gateways.map((g) => [g.name, g]));
  const dNames = new Set(desired.gateways.map((g) => g.name));
  for (const dg of desired.gateways) {
    const rg = rByName.get(dg.name);
    if (!rg) reasons.push(`gateway ${dg.name} added`);
    else if (rg !== dg && gatewayStructuralKey(rg) !== gatewayStructuralKey(dg)) reasons.push(`gateway ${dg.name} changed structurally`);
  }
  for (const n of rByName.keys()) if (!dNames.has(n)) reasons.push(`gateway ${n} removed`);
  if (running.vhostPort !== desired.vhostPort || running.bindAddress !== desired.bindAddress) reasons.push('listener settings changed');
  if (reasons.length === 0) {
    // Same gateways and structure: a map that could not be swapped at runtime is left to a reload.
    for (const [path, entries] of Object.entries(desired.maps)) {
      if (!sameEntries(running.maps[path], entries)) {
        reasons.push(`map ${path} changed`);
        break;
      }
    }
  }
  return reasons;
}
