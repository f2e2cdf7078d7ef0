// The normalized gateway: what `model/` hands to the agent and the control API after
// parsing and validation. Defaults are resolved, weights filled in, conditions compiled
// to HAProxy ACL text that is safe to place on one config line. The input shape (what
// users write) is defined once, by the zod schema in `schema.ts`.
import type { DiscoveredTarget } from './discovery.js';
import type { GatewayTls } from './tls.js';

export type PortMode = 'http' | 'tcp';
export type Sticky = 'route' | 'instance';

/** One ACL test, already rendered as the text after `acl <name> ` (fetch, flags, values). */
export interface AclLiteral {
  negate: boolean;
  acl: string;
}

/** A compiled condition in disjunctive normal form: OR over clauses, AND within a clause. */
export interface CompiledCondition {
  /** The condition as the user wrote it. */
  source: string;
  /** Empty list = never matches (`false`); a clause with no literals = always matches (`true`). */
  clauses: AclLiteral[][];
}

export interface Target {
  host: string;
  port: number;
  hostKind: 'ipv4' | 'ipv6' | 'dns';
}

export type Rewrite =
  | { kind: 'set-path'; path: string; condition: CompiledCondition | null }
  | { kind: 'replace-path'; match: string; replace: string; condition: CompiledCondition | null };

export interface Route {
  name: string;
  /** Integer percentage 0..100; the weights of a gateway add up to 100. */
  weight: number;
  condition: CompiledCondition | null;
  /** Integer percentage 0..100; 0 when there is no condition. */
  conditionStrength: number;
  rewrites: Rewrite[];
  /** Resolved balance algorithm (route's own, else the gateway's, else the mode default). */
  balance: string;
  targets: Target[];
  /** [edge] Servers HAProxy discovers through DNS at runtime (model/discovery.ts). */
  discovered: DiscoveredTarget[];
}

export interface Gateway {
  name: string;
  port: number;
  mode: PortMode;
  sticky: Sticky | null;
  /** Lower-cased, de-duplicated. */
  virtualHosts: string[];
  balance: string;
  metadata: Record<string, unknown>;
  /** [edge] TLS termination (model/tls.ts); absent: plain HTTP/TCP. */
  tls?: GatewayTls;
  /** In declaration order. */
  routes: Route[];
}
