// Property tests: (a) control characters never get through any rendered string field,
// (b) generated valid gateways always parse and their ACL text is one-line and well quoted,
// DNF is equivalent to the written condition, (c) compiled conditions pass `haproxy -c`.
import { suite, assert } from '../harness/uvu.js';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { compileCondition, formatPath, parseGateway, validateGatewayInput, type AclLiteral, type Gateway, type ParseResult } from '../../model/index.js';
import { USER_AGENT_NAMES } from '../../model/condition.js';
import { quoteAclValue } from '../../model/acl-text.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { tempDir } from '../harness/tmp.js';

const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 200);

// ---------------------------------------------------------------------------------------------
// Generators for valid pieces.

const chars = (s: string) => fc.constantFrom(...s.split(''));
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** DSL value characters: printable, including spaces, double quotes and HAProxy specials; no `'` or `\`. */
const VALUE_CHARS = `${ALNUM} "'#$%&()*+,-./:;<=>?@[]^_\`{|}~!é日`;
const REWRITE_CHARS = `${ALNUM}!$&()*+,-./:;<=>?@[]^_\`{|}~`;

const gatewayName = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const routeName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/);
const headerName = fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/);
const cookieName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,16}$/);
const value = fc.string({ unit: chars(VALUE_CHARS), minLength: 1, maxLength: 24 }).filter((v) => v.trim() !== '' || v.length > 0);
const argName = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);

/** A DSL value as written: quoted, a quote inside doubled (Vamp's escape). */
const writeValue = (v: string) => (v.includes('"') && !v.includes("'") ? `'${v}'` : `"${v.replace(/"/g, '""')}"`);
/** How the compiler writes a value into the ACL. */
const aclValue = (v: string) => `${v.startsWith('-') ? '-- ' : ''}${quoteAclValue(v)}`;
/** Values that are not one of Vamp's user-agent names (those expand to several tests). */
const uaValue = value.filter((v) => !Object.hasOwn(USER_AGENT_NAMES, v.toLowerCase()));

interface Leaf {
  dsl: string;
  acl: string;
  negated: boolean;
}
type Cond = { kind: 'leaf'; leaf: Leaf } | { kind: 'const'; value: boolean } | { kind: 'not'; c: Cond } | { kind: 'and' | 'or'; a: Cond; b: Cond };

const leaf: fc.Arbitrary<Leaf> = fc.oneof(
  fc.tuple(fc.constantFrom('=', '==', '!='), uaValue, fc.constantFrom('user-agent', 'User-Agent')).map(([op, v, kw]) => ({
    dsl: `${kw} ${op} ${writeValue(v)}`,
    acl: `req.fhdr(User-Agent) -m sub ${aclValue(v)}`,
    negated: op === '!=',
  })),
  fc.tuple(fc.constantFrom('=', '!='), value).map(([op, v]) => ({ dsl: `host ${op} ${writeValue(v)}`, acl: `req.hdr(host)${v.includes(':') ? '' : ',field(1,:)'} -i ${aclValue(v)}`, negated: op === '!=' })),
  fc.tuple(fc.constantFrom('has', 'misses', 'HAS'), cookieName).map(([op, n]) => ({ dsl: `${op} cookie ${n}`, acl: `req.cook(${n}) -m found`, negated: op === 'misses' })),
  fc.tuple(fc.constantFrom('has', 'misses'), headerName).map(([op, n]) => ({ dsl: `${op} header ${n}`, acl: `req.hdr_cnt(${n}) gt 0`, negated: op === 'misses' })),
  fc.tuple(cookieName, fc.constantFrom('has', 'misses'), value).map(([n, op, v]) => ({ dsl: `cookie ${n} ${op} ${writeValue(v)}`, acl: `req.cook(${n}) -m sub ${aclValue(v)}`, negated: op === 'misses' })),
  fc.tuple(headerName, fc.constantFrom('has', 'misses'), value).map(([n, op, v]) => ({ dsl: `header ${n} ${op} ${writeValue(v)}`, acl: `req.fhdr(${n}) -m sub ${aclValue(v)}`, negated: op === 'misses' })),
  // Raw ACLs that HAProxy 2.6 accepts.
  fc.stringMatching(/^\/[A-Za-z0-9_.\/-]{0,12}$/).map((p) => ({ dsl: `< path_beg ${p} >`, acl: `path_beg ${p}`, negated: false })),
  fc.tuple(headerName, value.filter((v) => !v.includes("'"))).map(([h, v]) => ({ dsl: `<req.hdr(${h}) -m str -- '${v}'>`, acl: `req.hdr(${h}) -m str -- '${v}'`, negated: false })),
  fc.tuple(headerName, fc.nat(9)).map(([h, n]) => ({ dsl: `< hdr_cnt(${h}) gt ${n} >`, acl: `hdr_cnt(${h}) gt ${n}`, negated: false })),
  fc.constant({ dsl: '< method GET POST >', acl: 'method GET POST', negated: false }),
  fc.constant({ dsl: '< src 10.0.0.0/8 >', acl: 'src 10.0.0.0/8', negated: false }),
  fc.constant({ dsl: '< req.hdr(host),lower -m end .example.com >', acl: 'req.hdr(host),lower -m end .example.com', negated: false }),
);

const cond: fc.Arbitrary<Cond> = fc.letrec<{ c: Cond }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf.map((l): Cond => ({ kind: 'leaf', leaf: l })),
    fc.boolean().map((v): Cond => ({ kind: 'const', value: v })),
    tie('c').map((c): Cond => ({ kind: 'not', c })),
    fc.tuple(fc.constantFrom('and' as const, 'or' as const), tie('c'), tie('c')).map(([kind, a, b]): Cond => ({ kind, a, b })),
  ),
})).c;

/** Renders with random operator spellings; binary operands are parenthesised, extra parens sometimes. */
function render(c: Cond, pick: (n: number) => number): string {
  switch (c.kind) {
    case 'leaf':
      return c.leaf.dsl;
    case 'const':
      return [c.value ? 'true' : 'false', c.value ? 'TRUE' : 'False'][pick(2)] as string;
    case 'not':
      return `${['not ', '!', 'NOT ', '! '][pick(4)]}(${render(c.c, pick)})`;
    default: {
      const ops = c.kind === 'and' ? ['and', '&&', '&', 'AND'] : ['or', '||', '|', 'Or'];
      const op = ops[pick(4)] as string;
      const side = (x: Cond) => (x.kind === 'and' || x.kind === 'or' || pick(3) === 0 ? `(${render(x, pick)})` : render(x, pick));
      return `${side(c.a)} ${op} ${side(c.b)}`;
    }
  }
}

function evalCond(c: Cond, env: (acl: string) => boolean): boolean {
  switch (c.kind) {
    case 'leaf':
      return env(c.leaf.acl) !== c.leaf.negated;
    case 'const':
      return c.value;
    case 'not':
      return !evalCond(c.c, env);
    case 'and':
      return evalCond(c.a, env) && evalCond(c.b, env);
    case 'or':
      return evalCond(c.a, env) || evalCond(c.b, env);
  }
}

function leaves(c: Cond): Leaf[] {
  if (c.kind === 'leaf') return [c.leaf];
  if (c.kind === 'not') return leaves(c.c);
  if (c.kind === 'and' || c.kind === 'or') return [...leaves(c.a), ...leaves(c.b)];
  return [];
}

const writtenCondition = fc.tuple(cond, fc.infiniteStream(fc.nat(11))).map(([c, stream]) => {
  const it = stream[Symbol.iterator]();
  const pick = (n: number) => (it.next().value as number) % n;
  return { c, src: render(c, pick) };
});

/** HAProxy-style tokenizer check: quotes balanced, no control characters. */
function wellQuoted(text: string): boolean {
  if (/[\p{Cc}\u2028\u2029]/u.test(text)) return false;
  let q = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (q === "'") {
      if (ch === "'") q = '';
    } else if (ch === '\\') i++;
    else if (q === '"') {
      if (ch === '"') q = '';
    } else if (ch === "'" || ch === '"') q = ch;
  }
  return q === '';
}

const allLiterals = (g: Gateway): AclLiteral[] =>
  g.routes.flatMap((r) => [...(r.condition?.clauses.flat() ?? []), ...r.rewrites.flatMap((rw) => rw.condition?.clauses.flat() ?? [])]);

// A valid gateway input object.
const port = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }).map((p) => `${p}/http`));
const dnsName = fc.domain().filter((d) => d.length <= 253);
const balance = fc.oneof(fc.constantFrom('roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'random', 'uri', 'default'), argName.map((a) => `url_param ${a}`), argName.map((a) => `hdr(${a})`), argName.map((a) => `rdp-cookie(${a})`));
const rewritePath = fc.string({ unit: chars(REWRITE_CHARS), maxLength: 30 }).map((p) => `/${p}`);
const rewrite = fc.oneof(
  fc.record({ path: rewritePath }),
  fc.tuple(rewritePath, writtenCondition).map(([p, w]) => ({ path: `${p} if ${w.src}` })),
  fc.tuple(rewritePath, writtenCondition).map(([p, w]) => ({ path: p, condition: w.src })),
  fc.tuple(fc.constantFrom('^/old/(.*)', '^/a', '/x(y|z)?$'), rewritePath).map(([match, replace]) => ({ match, replace: `${replace}\\1` })),
);
const target = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `[${h}]:${p}`),
  fc.record({ host: fc.oneof(fc.ipV4(), fc.ipV6(), dnsName), port: fc.integer({ min: 1, max: 65535 }) }),
);
const targetKey = (t: string | { host: string; port: number }): string => {
  const [host, p] = typeof t === 'string' ? [t.slice(0, t.lastIndexOf(':')), t.slice(t.lastIndexOf(':') + 1)] : [t.host, String(t.port)];
  const bare = host.replace(/^\[|\]$/g, '');
  return `${bare.includes(':') ? new URL(`http://[${bare}]/`).hostname : bare.toLowerCase()}:${p}`;
};
const routeBody = fc.record(
  {
    condition: fc.oneof(writtenCondition.map((w) => w.src), writtenCondition.map((w) => ({ condition: w.src }))),
    condition_strength: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`)),
    rewrites: fc.array(rewrite, { maxLength: 3 }),
    balance,
    targets: fc.uniqueArray(target, { maxLength: 5, selector: targetKey }),
  },
  { requiredKeys: [] },
).map((r) => {
  const { condition_strength, ...rest } = r;
  return r.condition !== undefined && condition_strength !== undefined ? r : rest;
});
const validInput = fc
  .record({
    name: gatewayName,
    port,
    sticky: fc.constantFrom('route', 'instance', 'none', null),
    virtual_hosts: fc.oneof(dnsName, fc.array(dnsName, { maxLength: 4 })),
    balance,
    metadata: fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
    routes: fc.uniqueArray(fc.tuple(routeName, routeBody), { minLength: 1, maxLength: 5, selector: ([n]) => n.toLowerCase() }),
    firstWeight: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
  })
  .map(({ routes, firstWeight, ...gw }) => {
    const entries = routes.map(([n, body], i) => [n, i === 0 && firstWeight !== undefined && routes.length > 1 ? { ...body, weight: `${firstWeight}%` } : body] as const);
    return { ...gw, routes: Object.fromEntries(entries) };
  });

// ---------------------------------------------------------------------------------------------
const valid = suite('(b) generated valid input');

valid('conditions compile; DNF is equivalent; ACL text is one line and well quoted', () => {
  fc.assert(
    fc.property(writtenCondition, fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }), ({ c, src }, bits) => {
      const r = compileCondition(src);
      if (!r.ok) throw new Error(`${src}: ${r.message}`);
      const acls = [...new Set(leaves(c).map((l) => l.acl))];
      const env = (acl: string) => bits[acls.indexOf(acl) % 64] ?? false;
      const dnfValue = r.condition.clauses.some((clause) => clause.every((l) => env(l.acl) !== l.negate));
      assert.is(dnfValue, evalCond(c, env), src);
      for (const l of r.condition.clauses.flat()) assert.ok(wellQuoted(l.acl) && !l.acl.includes('\n'), l.acl);
    }),
    { numRuns: NUM_RUNS * 5 },
  );
});

valid('gateways parse from objects, JSON and YAML alike', () => {
  fc.assert(
    fc.property(validInput, (input) => {
      const results: ParseResult[] = [
        validateGatewayInput(input, { source: 'fuzz' }),
        parseGateway(JSON.stringify(input), { source: 'fuzz.json', format: 'json' }),
        parseGateway(stringify(input), { source: 'fuzz.yaml', format: 'yaml' }),
      ];
      for (const r of results) {
        if (!r.ok) throw new Error(`${JSON.stringify(input)}\n${JSON.stringify(r.errors)}`);
        assert.equal(r.gateway.routes.reduce((s, x) => s + x.weight, 0), 100);
        for (const l of allLiterals(r.gateway)) assert.ok(wellQuoted(l.acl) && !/[\r\n]/.test(l.acl), l.acl);
      }
      const [a, b, y] = results.map((r) => (r.ok ? r.gateway : null));
      assert.equal(b, a);
      assert.equal(y, a);
    }),
    { numRuns: NUM_RUNS },
  );
});
valid.run();

// ---------------------------------------------------------------------------------------------
const control = suite('(a) control characters are rejected where they are placed');

const controlChar = fc.oneof(
  fc.constantFrom('\n', '\r', '\0', '\t', '\u007f', '\u0085', '\u2028', '\u2029'),
  fc.integer({ min: 0, max: 31 }).map((n) => String.fromCharCode(n)),
  fc.integer({ min: 127, max: 159 }).map((n) => String.fromCharCode(n)),
);
/** `good` with a control character inserted somewhere (start, middle or end). */
const poisoned = (good: fc.Arbitrary<string>) =>
  fc.tuple(good, controlChar, fc.nat()).map(([g, c, at]) => {
    const i = at % (g.length + 1);
    return g.slice(0, i) + c + g.slice(i);
  });

const base = (): Record<string, unknown> => ({ name: 'shop', port: 8080, routes: { v1: {} } });
type Placement = { field: string; build: (bad: string) => { input: unknown; path: string } };
const placements: Array<[Placement, fc.Arbitrary<string>]> = [
  [{ field: 'name', build: (bad) => ({ input: { ...base(), name: bad }, path: 'name' }) }, gatewayName],
  [{ field: 'virtual host', build: (bad) => ({ input: { ...base(), virtual_hosts: ['ok.com', bad] }, path: 'virtual_hosts[1]' }) }, dnsName],
  [{ field: 'route name', build: (bad) => ({ input: { ...base(), routes: { [bad]: {} } }, path: formatPath(['routes', bad]) }) }, routeName],
  [{ field: 'condition value', build: (bad) => ({ input: { ...base(), routes: { v1: { condition: `user-agent = "${bad}"` } } }, path: 'routes.v1.condition' }) }, value.filter((v) => !v.includes('"'))],
  [{ field: 'object condition', build: (bad) => ({ input: { ...base(), routes: { v1: { condition: { condition: `host = ${bad}` } } } }, path: 'routes.v1.condition' }) }, fc.stringMatching(/^[a-z]{1,10}$/)],
  [{ field: 'raw ACL', build: (bad) => ({ input: { ...base(), routes: { v1: { condition: `< path_beg /${bad} >` } } }, path: 'routes.v1.condition' }) }, fc.stringMatching(/^[a-z]{0,10}$/)],
  [{ field: 'header name', build: (bad) => ({ input: { ...base(), routes: { v1: { condition: `has header ${bad}` } } }, path: 'routes.v1.condition' }) }, headerName],
  [{ field: 'cookie name', build: (bad) => ({ input: { ...base(), routes: { v1: { condition: `cookie ${bad} has x` } } }, path: 'routes.v1.condition' }) }, cookieName],
  [{ field: 'rewrite path', build: (bad) => ({ input: { ...base(), routes: { v1: { rewrites: [{ path: `/${bad}` }] } } }, path: 'routes.v1.rewrites[0].path' }) }, fc.stringMatching(/^[a-z]{0,10}$/)],
  [{ field: 'rewrite condition', build: (bad) => ({ input: { ...base(), routes: { v1: { rewrites: [{ path: '/a', condition: `has cookie ${bad}` }] } } }, path: 'routes.v1.rewrites[0].condition' }) }, cookieName],
  [{ field: 'Vamp rewrite', build: (bad) => ({ input: { ...base(), routes: { v1: { rewrites: [{ path: `/a if has cookie ${bad}` }] } } }, path: 'routes.v1.rewrites[0].path' }) }, cookieName],
  [{ field: 'rewrite match', build: (bad) => ({ input: { ...base(), routes: { v1: { rewrites: [{ match: `^/${bad}`, replace: '/' }] } } }, path: 'routes.v1.rewrites[0].match' }) }, fc.stringMatching(/^[a-z]{0,10}$/)],
  [{ field: 'rewrite replace', build: (bad) => ({ input: { ...base(), routes: { v1: { rewrites: [{ match: '^/', replace: `/${bad}` }] } } }, path: 'routes.v1.rewrites[0].replace' }) }, fc.stringMatching(/^[a-z]{0,10}$/)],
  [{ field: 'target host', build: (bad) => ({ input: { ...base(), routes: { v1: { targets: [{ host: bad, port: 80 }] } } }, path: 'routes.v1.targets[0].host' }) }, fc.oneof(dnsName, fc.ipV4(), fc.ipV6())],
  [{ field: 'target string', build: (bad) => ({ input: { ...base(), routes: { v1: { targets: [`${bad}:80`] } } }, path: 'routes.v1.targets[0]' }) }, fc.oneof(dnsName, fc.ipV4())],
  [{ field: 'gateway balance arg', build: (bad) => ({ input: { ...base(), balance: `hdr(${bad})` }, path: 'balance' }) }, argName],
  [{ field: 'route balance arg', build: (bad) => ({ input: { ...base(), routes: { v1: { balance: `url_param ${bad}` } } }, path: 'routes.v1.balance' }) }, argName],
  [{ field: 'port string', build: (bad) => ({ input: { ...base(), port: `80${bad}` }, path: 'port' }) }, fc.constantFrom('', '/http')],
  [{ field: 'sticky', build: (bad) => ({ input: { ...base(), sticky: bad }, path: 'sticky' }) }, fc.constantFrom('route', 'instance')],
  [{ field: 'weight', build: (bad) => ({ input: { ...base(), routes: { v1: { weight: `${bad}%` } } }, path: 'routes.v1.weight' }) }, fc.constant('100')],
];

for (const [placement, good] of placements) {
  control(`${placement.field}`, () => {
    // The unpoisoned value is valid: the error must come from the control character.
    fc.assert(
      fc.property(good, (g) => {
        const { input } = placement.build(g);
        const r = validateGatewayInput(input, { source: 'fuzz' });
        if (!r.ok) throw new Error(`${JSON.stringify(g)} should be valid: ${JSON.stringify(r.errors)}`);
      }),
      { numRuns: 30 },
    );
    fc.assert(
      fc.property(poisoned(good), (bad) => {
        const { input, path } = placement.build(bad);
        for (const r of [validateGatewayInput(input, { source: 'fuzz' }), parseGateway(JSON.stringify(input), { source: 'fuzz.json', format: 'json' })]) {
          assert.ok(!r.ok, `${JSON.stringify(bad)} accepted`);
          if (!r.ok) assert.ok(r.errors.some((e) => e.path === path), `${JSON.stringify(bad)}: expected an error at ${path}, got ${JSON.stringify(r.errors)}`);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
}
control.run();

// ---------------------------------------------------------------------------------------------
const real = suite('(c) compiled conditions pass haproxy -c');

real('30 generated conditions and rewrites in one config', async () => {
  const conds = fc.sample(writtenCondition, { numRuns: 30, seed: Number(process.env.FUZZ_SEED ?? 42) });
  const rewrites = fc.sample(fc.tuple(rewritePath, rewritePath), { numRuns: 10, seed: 7 });
  const lines: string[] = [];
  rewrites.forEach(([p, q]) => {
    lines.push(`  http-request set-path '${p}'`);
    lines.push(`  http-request replace-path '^/old/(.*)' '${q}\\1'`);
  });
  conds.forEach(({ src }, i) => {
    const r = compileCondition(src);
    if (!r.ok) throw new Error(`${src}: ${r.message}`);
    const clauses = r.condition.clauses.map((clause, j) =>
      clause.map((l, k) => {
        lines.push(`  acl c${i}_${j}_${k} ${l.acl}`);
        return `${l.negate ? '!' : ''}c${i}_${j}_${k}`;
      }),
    );
    if (clauses.length === 0) return; // false: no rule
    if (clauses.some((c) => c.length === 0)) lines.push(`  use_backend b${i}`);
    else lines.push(`  use_backend b${i} if ${clauses.map((c) => c.join(' ')).join(' or ')}`);
  });
  const config = [
    'global',
    '  maxconn 10',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 1s',
    '  timeout server 1s',
    'frontend f',
    '  bind 127.0.0.1:48123',
    ...lines,
    '  default_backend b',
    'backend b',
    ...conds.map((_, i) => `backend b${i}`),
    '',
  ].join('\n');
  const dir = await tempDir();
  try {
    const file = join(dir.path, 'fuzz.cfg');
    writeFileSync(file, config);
    try {
      execFileSync(haproxyBin(), ['-c', '-f', file], { stdio: 'pipe' });
    } catch (err) {
      const e = err as { stderr?: Buffer; stdout?: Buffer };
      throw new Error(`haproxy -c failed:\n${e.stdout?.toString()}${e.stderr?.toString()}\n--- config ---\n${config}`);
    }
  } finally {
    await dir.remove();
  }
});
real.run();
