// The user-facing gateway document (YAML or JSON): the single source of truth for what is
// accepted. The descriptions generate docs/GATEWAY-REFERENCE.md and the OpenAPI schema.
// Field syntax is checked here; cross-field rules (http-only fields, weights, conditions)
// are checked in normalize.ts, which produces the `Gateway` of gateway.ts.
import { z } from 'zod';
import { MAX_CONDITION_LENGTH } from './condition.js';
import { checkHostname } from './hosts.js';
import { DnsTargetSchema, SrvTargetSchema } from './discovery.js';
import { TlsSchema } from './tls.js';

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

export const PortSchema = z
  .union(
    [
      z.int().min(1, { error: 'port 0 (auto-assign) is not supported: give a port between 1 and 65535' }).max(65535, { error: 'port must be between 1 and 65535' }),
      z
        .string()
        .regex(/^[0-9]{1,5}(?:\/(?:http|tcp))?$/, { error: 'expected a port such as 8080, "8080/http" or "8080/tcp"', abort: true })
        .refine((s) => Number.parseInt(s, 10) !== 0, { error: 'port 0 (auto-assign) is not supported: give a port between 1 and 65535', abort: true })
        .refine((s) => Number.parseInt(s, 10) <= 65535, { error: 'port must be between 1 and 65535' }),
    ],
    { error: 'expected a port such as 8080, "8080/http" or "8080/tcp"' },
  )
  .describe('Listening port: an integer 1–65535 or a string "8080", "8080/http" or "8080/tcp". The type sets the HAProxy mode; the default is http. Port 0 (auto-assign) is not supported.');

export const StickySchema = z
  .enum(['route', 'instance', 'none'], { error: 'expected "route", "instance", "none" or null' })
  .nullable()
  .describe('Sticky sessions (http only): "route" keeps a client on one route (cookie on the weight and condition backends), "instance" also on one target. "none" or null: off.');

const VirtualHostSchema = str('a host name').superRefine((v, ctx) => {
  const problem = checkHostname(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const VirtualHostsSchema = z
  .union([VirtualHostSchema, z.array(VirtualHostSchema).max(MAX_VIRTUAL_HOSTS, { error: `at most ${MAX_VIRTUAL_HOSTS} virtual hosts` })], {
    error: 'expected a host name or a list of host names',
  })
  .describe(`Virtual hosts (http only): a host name or a list of them (RFC 1123 exact names, no wildcards, ≤ 253 characters, ≤ ${MAX_VIRTUAL_HOSTS}). Requests on the shared virtual-host frontend with a matching Host header go to this gateway. Lower-cased and de-duplicated.`);

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
        .regex(/^[0-9]{1,10}%$/, { error: (iss) => percentMessage(what, iss.input), abort: true })
        .refine((s) => Number.parseInt(s, 10) <= 100, { error: `${what} must be between 0% and 100%` }),
    ],
    { error: (iss) => percentMessage(what, iss.input) },
  );

function percentMessage(what: string, input: unknown): string {
  if (typeof input === 'number' || (typeof input === 'string' && /^[0-9]*\.[0-9]*%?$/.test(input)))
    return `${what} must be a whole percentage (0–100), got ${JSON.stringify(input)}`;
  return `expected a number or "NN%"`;
}

export const WeightSchema = percentage('weight').describe(
  'Share of traffic (not taken by conditions) for this route: "90%" or 90, whole numbers 0–100. Routes without a weight share what is left (floor((100 − sum) / n) each, the last one takes the remainder); if every route has one they must add up to 100%.',
);

export const ConditionSchema = z
  .union([str().max(MAX_CONDITION_LENGTH), z.strictObject({ condition: str().max(MAX_CONDITION_LENGTH) })], {
    error: 'expected a condition string or {condition: "..."}',
  })
  .describe(
    'Condition: Vamp DSL (`user-agent = Firefox`, `host = example.com`, `has cookie c`, `misses header h`, `cookie c has v`, `header h misses v`, combined with and/&&/&, or/||/|, not/!, parentheses, true, false) or a raw HAProxy ACL in `< ... >`. Vamp\'s object form `{condition: "..."}` is accepted.',
  );

export const ConditionStrengthSchema = percentage('condition_strength').describe(
  'Share of the requests matching the condition that go to this route: "50%" or 50, whole numbers 0–100. Default 100% with a condition; not allowed without one.',
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
  // [edge] {dns, port} and {srv}: servers discovered through DNS at runtime (discovery.ts).
  .union([TargetObjectSchema, DnsTargetSchema, SrvTargetSchema, str()], { error: 'expected "host:port", {host, port}, {dns, port} or {srv}' })
  .describe('A server: "host:port" ("[::1]:80" for IPv6) or {host, port}; or servers discovered through DNS: {dns: <name>, port} (A/AAAA records) or {srv: <_service._proto.name>} (SRV records).');

export const RouteSchema = z
  .strictObject(
    {
      weight: WeightSchema.optional(),
      condition: ConditionSchema.optional(),
      condition_strength: ConditionStrengthSchema.optional(),
      rewrites: z.array(RewriteSchema, { error: 'expected a list of rewrites' }).max(MAX_REWRITES, { error: `at most ${MAX_REWRITES} rewrites` }).optional().describe(`Path rewrites (http only), applied in order; ≤ ${MAX_REWRITES}.`),
      balance: BalanceSchema.optional().describe('Balance algorithm across this route\'s targets; default: the gateway\'s balance.'),
      targets: z
        .array(TargetSchema, { error: 'expected a list of targets' })
        .max(MAX_TARGETS, { error: `at most ${MAX_TARGETS} targets per route` })
        .optional()
        .describe(`Servers of this route (≤ ${MAX_TARGETS}, no duplicate host:port). Empty or absent: the route answers 503.`),
    },
    { error: 'expected a route object' },
  )
  .describe('One route: a backend with its share of traffic, an optional condition, rewrites and targets.');

export const RoutesSchema = z
  .record(
    str().regex(ROUTE_NAME, {
      error: (iss) =>
        `invalid route name ${JSON.stringify(String(iss.input).slice(0, 80))}: use letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63 characters`,
    }),
    RouteSchema,
    { error: 'expected a map of route name to route' },
  )
  .describe(
    `Routes by name, in declaration order (1–${MAX_ROUTES}). Names: letters, digits, ".", "_", "-", starting with a letter or digit, ≤ 63 characters; names equal apart from case are rejected.`,
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
      // [edge] TLS termination with certificates from the store (tls.ts).
      tls: TlsSchema.optional(),
      routes: RoutesSchema,
    },
    { error: 'expected a gateway object (a YAML/JSON map)' },
  )
  .describe(
    'A gateway: one listening port whose traffic is split over routes by weight and condition. Unknown fields are errors, including Vamp\'s read-only output fields (lookup_name, internal, deployed, service, kind) and selectors.',
  );

export type GatewayInput = z.input<typeof GatewayInputSchema>;
export type GatewayInputParsed = z.output<typeof GatewayInputSchema>;
export type RouteInputParsed = z.output<typeof RouteSchema>;
export type RewriteInputParsed = z.output<typeof RewriteSchema>;
export type TargetInputParsed = z.output<typeof TargetSchema>;
