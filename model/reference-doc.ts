// Renders docs/GATEWAY-REFERENCE.md from the JSON Schema (itself from the zod descriptions),
// so the reference cannot drift from what the parser accepts. The examples are parsed here
// too: an example that stops validating breaks the generator (and the doc test).
import { gatewayJsonSchema, type JsonSchema } from './json-schema.js';
export type { JsonSchema };
import { parseGateway } from './parse.js';
import { formatModelError } from './errors.js';
import { USER_AGENT_NAMES } from './condition.js';

const EXAMPLES: Array<{ title: string; yaml: string }> = [
  {
    title: 'Weighted canary (Vamp style): the second weight is filled in as 10%',
    yaml: `name: shop
port: 9070/http
routes:
  v1:
    weight: 90%
    targets: ["10.0.0.1:8080", "10.0.0.2:8080"]
  v2:
    targets: [{host: shop-v2.internal, port: 8080}]
`,
  },
  {
    title: 'Conditions, condition strength, rewrites and virtual hosts',
    yaml: `name: shop
port: 8080
virtual_hosts: [shop.example.com, www.shop.example.com]
sticky: route
routes:
  stable:
    weight: 100%
    targets: ["10.0.0.1:8080"]
  beta:
    weight: 0%
    condition: user-agent == Firefox and (has cookie beta or header X-Beta has yes)
    condition_strength: 50%
    rewrites:
      - path: "/v2/ if < path_beg /api >"
      - match: "^/old/(.*)"
        replace: "/new/\\\\1"
    balance: leastconn
    targets: ["[fd00::5]:8080"]
`,
  },
  {
    title: 'Written the way Vamp writes it: all accepted unchanged',
    yaml: `name: mesos
port: 8080/http
sticky: route
selector: null
routes:
  "[10.0.0.1:5050]": { weight: 50 % }
  "[10.0.0.2:5050]":
    weight: 50%
    condition: User-Agent is Safari or (contains cookie beta && host not old.example.com)
    condition_strength: 100%
    rewrites:
      path: "/v2/%[path] if { path_beg /api } !{ hdr_cnt(X-Legacy) gt 0 }"
`,
  },
  {
    title: 'Routing by conditions only: all weights 0%, unmatched requests get 503',
    yaml: `name: beta
port: 8090
routes:
  ios: { weight: 0%, condition: user-agent = iPhone, targets: ["10.0.0.7:8080"] }
  android: { weight: 0%, condition: user-agent = Android, targets: ["10.0.0.8:8080"] }
`,
  },
  {
    title: 'TCP gateway',
    yaml: `name: db
port: 5432/tcp
routes:
  primary:
    targets: ["10.0.1.10:5432"]
`,
  },
];

function typeOf(s: JsonSchema): string {
  if (Array.isArray(s.anyOf)) return (s.anyOf as JsonSchema[]).map(typeOf).join(' \\| ');
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (typeof s.$ref === 'string') return 'any JSON';
  const t = s.type;
  if (t === 'integer' && typeof s.minimum === 'number') return `integer ${s.minimum}–${String(s.maximum)}`;
  if (t === 'array') {
    const inner = typeOf((s.items ?? {}) as JsonSchema);
    return `list of ${inner.includes(' \\| ') ? `(${inner})` : inner}`;
  }
  if (t === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) return 'map';
  return typeof t === 'string' ? t : 'any';
}

function rows(s: JsonSchema, path: string, out: string[]): void {
  const props = (s.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((s.required ?? []) as string[]);
  for (const [key, child] of Object.entries(props)) {
    const p = path === '' ? key : `${path}.${key}`;
    const desc = String(child.description ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
    out.push(`| \`${p}\` | ${typeOf(child)} | ${required.has(key) ? 'yes' : 'no'} | ${desc} |`);
    for (const nested of nestedObjects(child)) rows(nested.schema, `${p}${nested.suffix}`, out);
  }
}

/** The object schemas inside `x`, looking through anyOf (a field with several forms). */
function withProperties(x: unknown): JsonSchema[] {
  const o = x as JsonSchema | undefined;
  if (!o || typeof o !== 'object') return [];
  if (o.properties) return [o];
  return Array.isArray(o.anyOf) ? (o.anyOf as JsonSchema[]).flatMap(withProperties) : [];
}

/** Objects nested in a field: map values (`.<name>`) and list items (`[]`), in any of its forms. */
function nestedObjects(s: JsonSchema): Array<{ schema: JsonSchema; suffix: string }> {
  const out: Array<{ schema: JsonSchema; suffix: string }> = [];
  const visit = (alt: JsonSchema): void => {
    if (alt.type === 'object' && alt.additionalProperties && typeof alt.additionalProperties === 'object' && !alt.properties)
      for (const o of withProperties(alt.additionalProperties)) out.push({ schema: o, suffix: '.<name>' });
    if (alt.type === 'array') for (const o of withProperties(alt.items)) out.push({ schema: o, suffix: '[]' });
  };
  // [edge] A plain object field (`tls`, one form only) documents its own fields.
  if (s.type === 'object' && s.properties) out.push({ schema: s, suffix: '' });
  visit(s);
  if (Array.isArray(s.anyOf)) for (const alt of s.anyOf as JsonSchema[]) visit(alt);
  // The same object in several forms of a field is documented once; different objects (targets
  // {host, port}, {dns, port}, {srv}) each get their rows.
  const seen = new Set<string>();
  return out.filter((n) => {
    const key = `${n.suffix}\0${JSON.stringify(n.schema.properties)}`;
    return !seen.has(key) && (seen.add(key), true);
  });
}

/** The `| Field | Type | Required | Description |` rows of a JSON Schema's fields, nested ones included. */
export function fieldTable(schema: JsonSchema): string[] {
  const table: string[] = ['| Field | Type | Required | Description |', '| --- | --- | --- | --- |'];
  rows(schema, '', table);
  return table;
}

export function renderGatewayReference(): string {
  const schema = gatewayJsonSchema();
  const table = fieldTable(schema);
  const examples = EXAMPLES.map(({ title, yaml }) => {
    const r = parseGateway(yaml, { source: 'example', format: 'yaml' });
    if (!r.ok) throw new Error(`reference example "${title}" is invalid: ${r.errors.map(formatModelError).join('; ')}`);
    return `### ${title}\n\n\`\`\`yaml\n${yaml}\`\`\`\n`;
  });
  return [
    '# Gateway reference',
    '',
    '<!-- Generated by scripts/gen-gateway-docs.ts from model/schema.ts. Do not edit by hand. -->',
    '',
    String(schema.description ?? ''),
    '',
    'A gateway is a YAML or JSON document (at most 256 KiB; duplicate keys are errors). `<name>` stands for a route name.',
    '',
    ...table,
    '',
    '## Condition language',
    '',
    'Every spelling of Vamp\'s condition language is accepted with Vamp\'s meaning. Keywords are case-insensitive.',
    '',
    '| Condition | HAProxy ACL |',
    '| --- | --- |',
    "| `user-agent = X` | `req.fhdr(User-Agent) -m sub 'X'` (a Vamp user-agent name below: all of its substrings) |",
    "| `host = h` | `req.hdr(host),field(1,:) -i 'h'`; with a port or IPv6 literal (`h:8080`): `req.hdr(host) -i 'h:8080'` |",
    '| `has cookie c` / `misses cookie c` | `req.cook(c) -m found` / negated |',
    '| `has header h` / `misses header h` | `req.hdr_cnt(h) gt 0` / negated |',
    "| `cookie c has v` / `cookie c misses v` | `req.cook(c) -m sub 'v'` / negated |",
    "| `header h has v` / `header h misses v` | `req.fhdr(h) -m sub 'v'` / negated |",
    '| `< raw acl >` | the raw text, validated |',
    '| `true`, `false` | always, never |',
    '',
    'Synonyms (Vamp\'s parser):',
    '',
    '* `user-agent` is also written `user.agent`, `useragent`, `User-Agent`, ….',
    '* After `user-agent` and `host`: `=`, `==`, `is`, `has`, `contains` compare; `!=`, `!`, `not`, `misses` negate (`User-Agent ! Firefox`, `host not x`, `host misses x`). As in Vamp, `host has x` is `host = x`.',
    '* `contains` is `has` everywhere: `contains cookie c`, `cookie c contains v`, `header h contains v`.',
    '* Negation in front: `not`, `!` (`! host is localhost`, `not (a or b)`); `misses` in the term itself.',
    '* Operators: `and` / `&&` / `&`, `or` / `||` / `|`, parentheses; `not` binds tightest, then `and`, then `or`.',
    '* Values may be single- or double-quoted; a quote inside is doubled (`\'it\'\'s\'`, as in Vamp) and rendered safely (`\'it\'\\\'\'s\'`). Unquoted values run to the next operator (a spaced `and`/`or`, `&`, `|`) or parenthesis. Values: no control characters, no backslash, at most 256 characters.',
    '',
    'Vamp\'s user-agent names: `user-agent = <name>` with one of these (any case) means all of the substrings; any other value is one substring, case-sensitive, as written.',
    '',
    '| Name | ACL tests (all must match) |',
    '| --- | --- |',
    ...Object.entries(USER_AGENT_NAMES).map(([name, subs]) => `| \`${name}\` | ${subs.map((v) => `\`-m sub '${v}'\``).join(' and ')} |`),
    '',
    'Header names: letters, digits, `_`, `-`; cookie names also `.`.',
    'Raw ACLs start with a sample fetch name, have balanced quotes, and contain no control characters, unquoted `#`, `{`, `}`, `$` or pattern files (`-f`).',
    'Conditions are expanded to at most 64 alternatives of at most 32 tests each (HAProxy cannot nest parentheses).',
    '',
    '## Vamp compatibility',
    '',
    'Vamp gateway files are accepted unchanged, with these choices where Vamp and Weir differ:',
    '',
    '* **No raw fallback.** Vamp passes a condition it cannot parse to HAProxy as it is; that is a configuration-injection path, so Weir refuses it. A condition that reads as a raw ACL gets an error that shows the bracketed form: `hdr_sub(user-agent) Android` → write `< hdr_sub(user-agent) Android >`.',
    '* **`host = h`** compares the Host header without its port and ignoring case (what RFC 9110 says a host is), so `host = shop.example.com` also matches `Shop.Example.com:8080`. Vamp compares the whole header exactly (`req.hdr(host) h`). A value with a port compares the whole header, ignoring case.',
    '* **Rewrites**: Vamp\'s `path: "<new path> if <condition>"` is accepted; the condition may be Weir\'s language or Vamp\'s raw HAProxy forms — a bare ACL (`path_beg /img`), `{ acl }`, `!{ acl }`, several of them (all must match), or alternatives joined with `or`/`||`. Each raw ACL is validated as `< … >` is. Named ACLs defined elsewhere in a hand-written HAProxy config do not exist in Weir\'s.',
    '* **Weights**: `50%`, `50 %`, `50`; all given must add up to 100% or 0% (Vamp\'s rule). With 0%, only conditions route; other requests get 503.',
    '* **Routes**: a list of names, a single name, a route written as `"host:port"` or null, and `"[host:port]"` keys (the route gets the name `host_port`; error paths keep the key as written). In YAML, quote such keys: the YAML parser reads an unquoted `[…]:` key only as the first key of a map.',
    '* **Duplicate targets** within a route are refused (a target listed twice would take twice its share; Vamp would render two servers with one name, which HAProxy refuses). The same target in several routes is fine.',
    '* **No routes** (`routes: {}`, absent or null): the gateway binds its port and answers 503, like Vamp\'s gateway without routes.',
    '* **Vamp-only fields** (`selector`, `service`, `lookup_name`, `internal`, `deployed`, `kind`; per route `selector`, `lookup_name`, `metadata`) are accepted when empty (null, "", false, [], {}) and refused with the reason when set. Deployment-bound route paths (`sava/sava:1.0.0/webport`) and one-segment references to another gateway are resolved by Vamp from its deployments; Weir needs targets (`127.0.0.1:<port>` for another gateway on the same agent). `weir import vamp` converts a Vamp export, resolving them to the targets it carries.',
    '* **Ports**: a stored gateway needs a port. Written through the control API without one (or with Vamp\'s unassigned `0`), it gets a free port from `WEIR_PORT_RANGE` (default 40000-45000, Vamp\'s), and the response says which.',
    '* **Virtual hosts**: with `WEIR_VHOST_DOMAIN` set, the control API adds `<gateway>.<env>.<org>.<domain>` to every http gateway it writes (Vamp\'s `virtual-hosts` option).',
    '* **tcp gateways** refuse `condition`, `condition_strength`, `sticky`, `virtual_hosts`, `rewrites` and http-only balance algorithms with the field\'s path, instead of rendering without them.',
    '',
    '## Examples',
    '',
    ...examples,
  ].join('\n');
}
