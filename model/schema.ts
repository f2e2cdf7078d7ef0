// The user-facing gateway document (YAML or JSON): the single source of truth for what is
// accepted. The descriptions generate docs/GATEWAY-REFERENCE.md and the OpenAPI schema.
// Field syntax is checked here; cross-field rules (http-only fields, weights, conditions)
// are checked in normalize.ts, which produces the `Gateway` of gateway.ts.
import { z } from 'zod';
import { MAX_CONDITION_LENGTH } from './condition.js';
import { checkHostname } from './hosts.js';

export const GATEWAY_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const ROUTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const MAX_ROUTES = 64;
export const MAX_TARGETS = 1000;
export const MAX_VIRTUAL_HOSTS = 100;
export const MAX_REWRITES = 32;
export const MAX_METADATA_KEYS = 64;
export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_REWRITE_LENGTH = 1024;

const ARG = '[A-Za-z0-9_-]{1,64}';
export const BALANCE = new RegExp(
  `^(?:roundrobin|static-rr|leastconn|first|source|random|uri|default|url_param ${ARG}|hdr\\(${ARG}\\)|rdp-cookie\\(${ARG}\\))$`,
);
/** Algorithms HAProxy only accepts in http mode. */
export const HTTP_ONLY_BALANCE = /^(?:uri|url_param |hdr\()/;
/** Printable ASCII without space, `"`, `#` and `'`: safe inside single quotes on a config line. */
export const REWRITE_TEXT = /^[!$-&(-~]+$/;

const str = (what = 'a string') => z.string({ error: `expected ${what}` });

export const GatewayNameSchema = str()
  .regex(GATEWAY_NAME, {
    error: (iss) =>
      typeof iss.input === 'string' && /[A-Z]/.test(iss.input)
        ? `${JSON.stringify(iss.input.slice(0, 80))} has upper-case letters: gateway names are lower-case DNS labels (a-z, 0-9, "-", at most 63 characters)`
        : `${JSON.stringify(String(iss.input).slice(0, 80))} is not a valid gateway name: use a lower-case DNS label (a-z, 0-9 and "-", 1–63 characters, starting and ending with a letter or digit)`,
  })
  .describe('Gateway name: a lower-case DNS label (a-z, 0-9, "-"; 1–63 characters; starts and ends with a letter or digit). Optional in a file named after the gateway (`shop.yaml` → `shop`); if both are given they must match.');

const PORT_ZERO = 'port 0 (auto-assign) is not supported in a stored gateway: give a port between 1 and 65535 (the control API assigns one when a gateway is written without a port)';

export const PortSchema = z
  .union(
    [
      z.int().min(1, { error: PORT_ZERO }).max(65535, { error: 'port must be between 1 and 65535' }),
      z
        .string()
        .regex(/^[0-9]{1,5}(?:\/(?:http|tcp))?$/, { error: 'expected a port such as 8080, "8080/http" or "8080/tcp"', abort: true })
        .refine((s) => Number.parseInt(s, 10) !== 0, { error: PORT_ZERO, abort: true })
        .refine((s) => Number.parseInt(s, 10) <= 65535, { error: 'port must be between 1 and 65535' }),
    ],
    { error: 'expected a port such as 8080, "8080/http" or "8080/tcp"' },
  )
  .describe('Listening port: an integer 1–65535 or a string "8080", "8080/http" or "8080/tcp". The type sets the HAProxy mode; the default is http. Required in a stored gateway; a gateway written through the control API without a port (or with port 0, "0/tcp", as Vamp writes "unassigned") gets a free one from WEIR_PORT_RANGE.');

export const StickySchema = z
  .enum(['route', 'instance', 'none'], { error: 'expected "route", "instance", "none" or null' })
  .nullable()
  .describe('Sticky sessions (http only): "route" keeps a client on one route (cookie on the weight and condition backends), "instance" also on one target. "none" or null: off.');

const VirtualHostSchema = str('a host name').superRefine((v, ctx) => {
  const problem = checkHostname(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const VirtualHostsSchema = z
  .union([VirtualHostSchema, z.array(VirtualHostSchema).max(MAX_VIRTUAL_HOSTS, { error: `at most ${MAX_VIRTUAL_HOSTS} virtual hosts` }), z.null()], {
    error: 'expected a host name or a list of host names',
  })
  .describe(`Virtual hosts (http only): a host name or a list of them (RFC 1123 exact names, no wildcards, ≤ 253 characters, ≤ ${MAX_VIRTUAL_HOSTS}). Requests on the shared virtual-host frontend with a matching Host header go to this gateway. Lower-cased and de-duplicated; null = none.`);

export const BalanceSchema = str()
  .regex(BALANCE, {
    error: (iss) =>
      `${JSON.stringify(String(iss.input).slice(0, 80))} is not a supported balance algorithm: use roundrobin, static-rr, leastconn, first, source, random, uri, "url_param <name>", "hdr(<name>)", "rdp-cookie(<name>)" or default (names: letters, digits, "_", "-", at most 64)`,
  })
  .describe('HAProxy balance algorithm: roundrobin, static-rr, leastconn, first, source, random, uri, "url_param <name>", "hdr(<name>)", "rdp-cookie(<name>)", or default (http: roundrobin, tcp: leastconn). uri, url_param and hdr() need an http port.');

export const MetadataSchema = z
  .record(str().max(253, { error: 'metadata keys are at most 253 characters' }), z.json(), { error: 'expected a map' })
  .superRefine((m, ctx) => {
    const keys = Object.keys(m).length;
    if (keys > MAX_METADATA_KEYS) ctx.addIssue({ code: 'custom', message: `metadata has ${keys} keys, at most ${MAX_METADATA_KEYS} are allowed` });
    const bytes = Buffer.byteLength(JSON.stringify(m));
    if (bytes > MAX_METADATA_BYTES) ctx.addIssue({ code: 'custom', message: `metadata is ${bytes} bytes as JSON, at most ${MAX_METADATA_BYTES} are allowed` });
  })
  .describe(`Free-form map of string keys to JSON values, kept as is and never rendered into the HAProxy config (≤ ${MAX_METADATA_KEYS} keys, keys ≤ 253 characters, ≤ 16 KiB as JSON).`);

/** `90`, `"90%"`: a whole percentage. */
const percentage = (what: string) =>
  z.union(
    [
      z.int().min(0, { error: `${what} must be between 0% and 100%` }).max(100, { error: `${what} must be between 0% and 100%` }),
      z
        .string()
        // Vamp's Percentage: digits, "%", spaces allowed around both ("50 %").
        .regex(/^ *[0-9]{1,10} *% *$/, { error: (iss) => percentMessage(what, iss.input), abort: true })
        .refine((s) => Number.parseInt(s, 10) <= 100, { error: `${what} must be between 0% and 100%` }),
    ],
    { error: (iss) => percentMessage(what, iss.input) },
  );

function percentMessage(what: string, input: unknown): string {
  if (typeof input === 'number' || (typeof input === 'string' && /^[0-9]*\.[0-9]*%?$/.test(input)))
    return `${what} must be a whole percentage (0–100), got ${JSON.stringify(input)}`;
  return `expected a number or "NN%"`;
}

export const WeightSchema = percentage('weight').nullable().describe(
  'Share of traffic (not taken by conditions) for this route: "90%", "90 %" or 90, whole numbers 0–100; null = not given. Routes without a weight share what is left (floor((100 − sum) / n) each, the last one takes the remainder); if every route has one they must add up to 100%, or to 0%: then only conditions route, and requests no condition takes get the 503 answer.',
);

export const ConditionSchema = z
  .union([str().max(MAX_CONDITION_LENGTH), z.strictObject({ condition: str().max(MAX_CONDITION_LENGTH) })], {
    error: 'expected a condition string or {condition: "..."}',
  })
  .nullable()
  .describe(
    'Condition: Vamp DSL (`user-agent = Firefox`, `host = example.com`, `has cookie c`, `misses header h`, `cookie c has v`, `header h misses v`, with every Vamp synonym, combined with and/&&/&, or/||/|, not/!, parentheses, true, false) or a raw HAProxy ACL in `< ... >`; see "Condition language" below. Vamp\'s object form `{condition: "..."}` is accepted; null, "" and {condition: ""} mean no condition, as in Vamp.',
  );

export const ConditionStrengthSchema = percentage('condition_strength').nullable().describe(
  'Share of the requests matching the condition that go to this route: "50%" or 50, whole numbers 0–100. Default 100% with a condition; without one only 0% or null (what Vamp exports) is allowed.',
);

export const RewriteSchema = z
  .strictObject(
    {
      path: str()
        .max(MAX_REWRITE_LENGTH + MAX_CONDITION_LENGTH + 4)
        .optional()
        .describe('New path (set-path). Vamp form: "<new path> if <condition>". A literal "%" is written "%%" (HAProxy log-format; "%[fetch]" inserts a sample).'),
      match: str().optional().describe('Regular expression matched against the path (replace-path); checked with the JavaScript regex engine, which is close to HAProxy\'s PCRE2.'),
      replace: str().optional().describe('Replacement for `match` (\\1 refers to a group); HAProxy log-format like `path`.'),
      condition: str().max(MAX_CONDITION_LENGTH).optional().describe('Apply the rewrite only when this condition (same language as a route condition) matches.'),
    },
    { error: 'expected a rewrite object such as {path: "/new"} or {match: "^/old/(.*)", replace: "/new/\\1"}' },
  )
  .describe(
    `Path rewrite (http only): {path: "/new", condition?} sets the path; {path: "/new if <condition>"} is Vamp's form; {match, replace, condition?} replaces with a regex. Text: printable ASCII without spaces, quotes or "#", ≤ ${MAX_REWRITE_LENGTH} characters.`,
  );

const TargetObjectSchema = z.strictObject({
  host: str().describe('IPv4 address, IPv6 address (brackets optional) or DNS name (RFC 1123, ≤ 253 characters).'),
  port: z.int({ error: 'expected a port number' }).min(1, { error: 'port must be between 1 and 65535' }).max(65535, { error: 'port must be between 1 and 65535' }).describe('Port 1–65535.'),
});

export const TargetSchema = z
  .union([TargetObjectSchema, str()], { error: 'expected "host:port" or {host, port}' })
  .describe('A server: "host:port" ("[::1]:80" for IPv6) or {host, port}.');

// ---- Vamp-only fields --------------------------------------------------------------------------
// Fields a Vamp gateway or export carries that have no Weir meaning. They are accepted when
// empty (null, "", false, [], {}), which is also what they mean to Weir; anything else is
// refused in normalize.ts with the reason and what to write instead.

/** `[10.0.0.1:8080]`, `[[::1]:80]`, `[shop.internal:80]`: Vamp's external route path. */
export const TARGET_ROUTE_KEY = /^\[[^\s[\]]+:[0-9]{1,5}\]$|^\[\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}\]$/;

const vampOnly = (what: string) => z.unknown().optional().describe(`Vamp-only (${what}): accepted when empty (null, "", false, [], {}); refused otherwise.`);

export const VAMP_GATEWAY_FIELDS = {
  selector: vampOnly('route selector; Weir needs targets listed in routes.<name>.targets'),
  service: vampOnly('the address Vamp\'s container driver exposed the gateway on; Weir gateways are reached on their port on every agent node'),
  lookup_name: vampOnly('read-only output'),
  internal: vampOnly('read-only output'),
  deployed: vampOnly('read-only output'),
  kind: vampOnly('API envelope field'),
};

export const VAMP_ROUTE_FIELDS = {
  selector: vampOnly('route selector; Weir needs targets listed in targets'),
  lookup_name: vampOnly('read-only output'),
  metadata: vampOnly('route metadata; Weir keeps metadata per gateway'),
};

export const VAMP_ONLY_HINTS: Readonly<Record<string, string>> = {
  selector: 'Vamp selectors discover targets on the container platform; Weir needs targets there: list them under routes.<name>.targets (weir import vamp writes the targets a Vamp export carries)',
  service: 'this is where Vamp\'s container driver exposed the gateway; Weir gateways are reached on their port on every agent node: remove it',
  lookup_name: 'a read-only Vamp output field: remove it (weir import vamp converts a Vamp export)',
  internal: 'a read-only Vamp output field: remove it (weir import vamp converts a Vamp export)',
  deployed: 'a read-only Vamp output field: remove it (weir import vamp converts a Vamp export)',
  kind: 'a Vamp API field: remove it (weir import vamp converts a Vamp export)',
  metadata: 'Weir keeps metadata per gateway, not per route: move it to the gateway\'s metadata',
};

export const RouteSchema = z
  .strictObject(
    {
      weight: WeightSchema.optional(),
      condition: ConditionSchema.optional(),
      condition_strength: ConditionStrengthSchema.optional(),
      rewrites: z
        .union([z.array(RewriteSchema).max(MAX_REWRITES, { error: `at most ${MAX_REWRITES} rewrites` }), RewriteSchema, z.null()], { error: 'expected a list of rewrites' })
        .optional()
        .describe(`Path rewrites (http only), applied in order; ≤ ${MAX_REWRITES}. A single rewrite may be given without the list, as in Vamp; null = none.`),
      balance: BalanceSchema.optional().describe('Balance algorithm across this route\'s targets; default: the gateway\'s balance.'),
      targets: z
        .array(TargetSchema, { error: 'expected a list of targets' })
        .max(MAX_TARGETS, { error: `at most ${MAX_TARGETS} targets per route` })
        .optional()
        .describe(`Servers of this route (≤ ${MAX_TARGETS}). A host:port listed twice in one route is refused (it would get twice the share of its route; Vamp would render two servers of one name, which HAProxy refuses); the same target in several routes is fine. Empty or absent: the route answers 503.`),
      ...VAMP_ROUTE_FIELDS,
    },
    { error: 'expected a route object' },
  )
  .describe('One route: a backend with its share of traffic, an optional condition, rewrites and targets.');

/**
 * A route key: a Weir route name, or Vamp's `[host:port]` (a route named by its one target).
 * Vamp's deployment-bound paths (`sava/sava:1.0.0/webport`) name instances only Vamp knows.
 */
export const RouteKeySchema = str().regex(new RegExp(`${ROUTE_NAME.source}|${TARGET_ROUTE_KEY.source}`), {
  error: (iss) => {
    const key = String(iss.input);
    const q = JSON.stringify(key.slice(0, 80));
    return key.includes('/')
      ? `${q} is a Vamp deployment route path, which Vamp resolves to the instances of its deployment; Weir needs targets there: name the route (letters, digits, ".", "_", "-") and list its targets, or convert a Vamp export with "weir import vamp"`
      : `invalid route name ${q}: use letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63 characters, or "[host:port]" for a route to that one target`;
  },
});

/** What a route key maps to: a route, a target shorthand ("host:port"), or nothing (null). */
const RouteValueSchema = z.union([RouteSchema, str(), z.null()], { error: 'expected a route object, "host:port" or null' });
const RouteMapSchema = z.record(RouteKeySchema, RouteValueSchema, { error: 'expected a map of route name to route' });

export const RoutesSchema = z
  .union([RouteMapSchema, z.array(z.union([RouteKeySchema, RouteMapSchema], { error: 'expected a route name or a map of route name to route' })), RouteKeySchema, z.null()], {
    error: 'expected a map of route name to route',
  })
  .describe(
    `Routes by name, in declaration order (0–${MAX_ROUTES}). Names: letters, digits, ".", "_", "-", starting with a letter or digit, ≤ 63 characters; names equal apart from case are rejected. Vamp's forms are accepted: a list of names or of one-route maps, or a single name; a route written as "host:port" (a route with that one target) or null (a route with no targets); a key "[host:port]" (a route named after its one target, e.g. "10.0.0.1_8080"). No routes (absent, null, {}): the gateway listens and answers 503 (Vamp's gateway with no routes).`,
  );

export const GatewayInputSchema = z
  .strictObject(
    {
      name: GatewayNameSchema.optional(),
      port: PortSchema,
      sticky: StickySchema.optional(),
      virtual_hosts: VirtualHostsSchema.optional(),
      balance: BalanceSchema.optional().describe('Default balance algorithm for the routes: roundrobin, static-rr, leastconn, first, source, random, uri, "url_param <name>", "hdr(<name>)", "rdp-cookie(<name>)" (names: letters, digits, "_", "-", ≤ 64). default or absent: roundrobin for http, leastconn for tcp. uri, url_param and hdr() need an http port.'),
      metadata: MetadataSchema.optional(),
      routes: RoutesSchema.optional(),
      ...VAMP_GATEWAY_FIELDS,
    },
    { error: 'expected a gateway object (a YAML/JSON map)' },
  )
  .describe(
    'A gateway: one listening port whose traffic is split over routes by weight and condition. Unknown fields are errors. Vamp-only fields (selector, service and the read-only lookup_name, internal, deployed, kind) are accepted when empty and refused, with the reason, when not.',
  );

export type GatewayInput = z.input<typeof GatewayInputSchema>;
export type GatewayInputParsed = z.output<typeof GatewayInputSchema>;
export type RouteInputParsed = z.output<typeof RouteSchema>;
export type RewriteInputParsed = z.output<typeof RewriteSchema>;
export type TargetInputParsed = z.output<typeof TargetSchema>;
