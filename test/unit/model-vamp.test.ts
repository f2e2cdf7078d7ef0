// Vamp's spellings in, Weir's model and HAProxy ACLs out: every condition form of Vamp's
// ConditionDefinitionParser and its tests, the user-agent name table, every gateway form of
// its GatewayReader, and where Weir refuses what Vamp did unsafely.
import fc from 'fast-check';
import { suite, assert } from '../harness/uvu.js';
import { compileCondition, formatModelError, parseGateway, type AclLiteral, type Gateway } from '../../model/index.js';

const UA = (v: string) => `req.fhdr(User-Agent) -m sub '${v}'`;
const HOST = (v: string) => `req.hdr(host),field(1,:) -i '${v}'`;
const pos = (acl: string): AclLiteral => ({ negate: false, acl });
const neg = (acl: string): AclLiteral => ({ negate: true, acl });

function dnf(src: string): AclLiteral[][] {
  const r = compileCondition(src);
  if (!r.ok) throw new Error(`${src}: ${r.message}`);
  return r.condition.clauses;
}
function err(src: string): string {
  const r = compileCondition(src);
  if (r.ok) throw new Error(`expected an error for ${src}`);
  return r.message;
}

// ---------------------------------------------------------------------------------------------
const cond = suite('Vamp condition forms (ConditionDefinitionParserSpec, HaProxyAclResolverSpec)');
cond('user agent: every comparison and spelling', () => {
  for (const s of ['User-Agent==Firefox', 'User-Agent== Firefox ', ' User-Agent == Firefox ', 'User-Agent is Firefox', ' ( User-Agent == Firefox ) ', 'user-agent has Firefox', 'USER-AGENT CONTAINS Firefox', 'useragent = Firefox', 'user.agent = Firefox'])
    assert.equal(dnf(s), [[pos(UA('Firefox'))]], s);
  for (const s of [' User-Agent ! Firefox ', ' User-Agent != Firefox ', 'user.agent != Firefox', 'User-Agent not Firefox', 'user-agent misses Firefox', 'not user-agent == Firefox', '! user-agent = Firefox', 'NOT User-Agent is Firefox'])
    assert.equal(dnf(s), [[neg(UA('Firefox'))]], s);
  assert.equal(dnf('user-agent == a and user-agent != b'), [[pos(UA('a')), neg(UA('b'))]]);
  assert.equal(dnf('user-agent == a and not user-agent == b'), [[pos(UA('a')), neg(UA('b'))]]);
});
cond('host: every comparison (has and contains mean equal, as in Vamp)', () => {
  for (const s of ['host == localhost', 'host is localhost', 'host has localhost', 'host contains localhost', 'HOST = localhost']) assert.equal(dnf(s), [[pos(HOST('localhost'))]], s);
  for (const s of ['host != localhost', 'host not localhost', 'host misses localhost', '! host is localhost', 'not host is localhost', 'host ! localhost']) assert.equal(dnf(s), [[neg(HOST('localhost'))]], s);
  assert.equal(dnf('host = localhost:8080'), [[pos("req.hdr(host) -i 'localhost:8080'")]], 'a port compares the whole header');
});
cond('cookies and headers: has, contains, misses', () => {
  assert.equal(dnf('has cookie vamp'), [[pos('req.cook(vamp) -m found')]]);
  assert.equal(dnf('contains cookie vamp'), [[pos('req.cook(vamp) -m found')]]);
  assert.equal(dnf('misses cookie vamp'), [[neg('req.cook(vamp) -m found')]]);
  assert.equal(dnf('contains header vamp'), [[pos('req.hdr_cnt(vamp) gt 0')]]);
  assert.equal(dnf('misses header vamp'), [[neg('req.hdr_cnt(vamp) gt 0')]]);
  assert.equal(dnf('cookie vamp has 12345'), [[pos("req.cook(vamp) -m sub '12345'")]]);
  assert.equal(dnf('cookie vamp contains 12345'), [[pos("req.cook(vamp) -m sub '12345'")]]);
  assert.equal(dnf('cookie vamp misses 12345'), [[neg("req.cook(vamp) -m sub '12345'")]]);
  assert.equal(dnf('header page contains 1'), [[pos("req.fhdr(page) -m sub '1'")]]);
  assert.equal(dnf('header vamp misses 12345'), [[neg("req.fhdr(vamp) -m sub '12345'")]]);
});
cond('combinations from HaProxyAclResolverSpec', () => {
  assert.equal(dnf('<hdr_sub(user-agent) Android> or <hdr_sub(user-agent) Chrome>'), [[pos('hdr_sub(user-agent) Android')], [pos('hdr_sub(user-agent) Chrome')]]);
  assert.equal(dnf('not <hdr_sub(user-agent) Android> and User-Agent != Chrome'), [[neg('hdr_sub(user-agent) Android'), neg(UA('Chrome'))]]);
  assert.equal(dnf('not <hdr_sub(user-agent) Android> or User-Agent != Chrome'), [[neg('hdr_sub(user-agent) Android')], [neg(UA('Chrome'))]]);
  assert.equal(dnf('(User-Agent = Chrome OR User-Agent = Firefox) AND has cookie vamp'), [
    [pos(UA('Chrome')), pos('req.cook(vamp) -m found')],
    [pos(UA('Firefox')), pos('req.cook(vamp) -m found')],
  ]);
  assert.equal(dnf('User-Agent == "Mozilla/5.0 Macintosh"'), [[pos(UA('Mozilla/5.0 Macintosh'))]]);
  const long = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_5) AppleWebKit/602.2.14 (KHTML, like Gecko) Version/10.0.1 Safari/602.2.14';
  assert.equal(dnf(`User-Agent = '${long}'`), [[pos(UA(long))]]);
  assert.equal(dnf('  <  path_beg  /a  > '), [[pos('path_beg  /a')]], 'raw ACL trimmed as Vamp does');
});
cond("Vamp's quoting: a doubled quote is one; values with ' are quoted safely", () => {
  assert.equal(dnf("user-agent = 'it''s'"), [[pos("req.fhdr(User-Agent) -m sub 'it'\\''s'")]]);
  assert.equal(dnf('user-agent = "a ""b"" c"'), [[pos(`req.fhdr(User-Agent) -m sub 'a "b" c'`)]]);
  assert.equal(dnf("header x has \"o'neil\""), [[pos("req.fhdr(x) -m sub 'o'\\''neil'")]]);
});
cond("Vamp's user-agent names: any case, all substrings; unknown names one substring", () => {
  assert.equal(dnf('User-Agent is Safari'), [[pos(UA('Safari')), pos(UA('Version'))]]);
  assert.equal(dnf('user-agent = SAFARI'), [[pos(UA('Safari')), pos(UA('Version'))]]);
  assert.equal(dnf('user-agent != safari'), [[neg(UA('Safari'))], [neg(UA('Version'))]]);
  assert.equal(dnf('user-agent = ie'), [[pos(UA('MSIE'))]]);
  assert.equal(dnf('user-agent = chrome'), [[pos(UA('Chrome'))]]);
  assert.equal(dnf('user-agent = edge'), [[pos(UA('Edge'))]]);
  assert.equal(dnf('user-agent = firefox'), [[pos(UA('Firefox'))]]);
  assert.equal(dnf('user-agent = iPhone'), [[pos(UA('iPhone'))]]);
  assert.equal(dnf('user-agent = "Safari 17"'), [[pos(UA('Safari 17'))]]);
});
cond('a raw ACL without brackets is refused with the bracketed form (Vamp would pass it to HAProxy)', () => {
  const m = err('hdr_sub(user-agent) Android');
  assert.match(m, 'unexpected "hdr_sub" at column 1');
  assert.match(m, 'write it in brackets: "< hdr_sub(user-agent) Android >"');
  assert.match(err('has cookie a and path_beg /api'), '"< path_beg /api >"');
  assert.not.match(err('firefox'), 'brackets', 'a lone word is not taken for an ACL');
  assert.not.match(err('foo = bar'), 'brackets');
});
cond.run();

// ---------------------------------------------------------------------------------------------
// Property: Vamp's synonyms mean what the canonical forms mean.
type Leaf = { kind: 'ua' | 'host'; value: string; negated: boolean } | { kind: 'has'; what: 'cookie' | 'header'; name: string; negated: boolean } | { kind: 'contains'; what: 'cookie' | 'header'; name: string; value: string; negated: boolean };
type Tree = { kind: 'leaf'; leaf: Leaf } | { kind: 'not'; t: Tree } | { kind: 'and' | 'or'; a: Tree; b: Tree };

const word = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,7}$/);
const val = fc.oneof(word, fc.constantFrom('Safari', 'chrome', 'IE', 'Firefox', "it's", 'a b', 'x"y'));
const leafArb: fc.Arbitrary<Leaf> = fc.oneof(
  fc.record({ kind: fc.constantFrom('ua' as const, 'host' as const), value: val, negated: fc.boolean() }),
  fc.record({ kind: fc.constant('has' as const), what: fc.constantFrom('cookie' as const, 'header' as const), name: word, negated: fc.boolean() }),
  fc.record({ kind: fc.constant('contains' as const), what: fc.constantFrom('cookie' as const, 'header' as const), name: word, value: val, negated: fc.boolean() }),
);
const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb.map((leaf): Tree => ({ kind: 'leaf', leaf })),
    tie('t').map((t): Tree => ({ kind: 'not', t })),
    fc.tuple(fc.constantFrom('and' as const, 'or' as const), tie('t'), tie('t')).map(([kind, a, b]): Tree => ({ kind, a, b })),
  ),
})).t;

const quoted = (v: string) => (v.includes("'") ? `"${v.replace(/"/g, '""')}"` : `'${v}'`);
const canonicalLeaf = (l: Leaf): string => {
  switch (l.kind) {
    case 'ua':
      return `user-agent ${l.negated ? '!=' : '='} ${quoted(l.value)}`;
    case 'host':
      return `host ${l.negated ? '!=' : '='} ${quoted(l.value)}`;
    case 'has':
      return `${l.negated ? 'misses' : 'has'} ${l.what} ${l.name}`;
    case 'contains':
      return `${l.what} ${l.name} ${l.negated ? 'misses' : 'has'} ${quoted(l.value)}`;
  }
};
const pickFrom = <T>(xs: readonly T[], r: () => number): T => xs[r() % xs.length] as T;
const vampLeaf = (l: Leaf, r: () => number): string => {
  const caseOf = (s: string) => pickFrom([s, s.toUpperCase(), s[0]!.toUpperCase() + s.slice(1)], r);
  // A negation may also be written in front of the positive form.
  if (l.negated && r() % 3 === 0) return `${pickFrom(['not ', '!', '! ', 'NOT '], r)}${vampLeaf({ ...l, negated: false }, r)}`;
  switch (l.kind) {
    case 'ua':
    case 'host': {
      const subject = l.kind === 'ua' ? pickFrom(['user-agent', 'User-Agent', 'user.agent', 'useragent', 'USER.AGENT'], r) : caseOf('host');
      const op = l.negated ? pickFrom(['!=', '!', ' not ', ' misses ', ' NOT '], r) : pickFrom(['=', '==', ' is ', ' has ', ' contains ', ' IS '], r);
      const spaced = /^ /.test(op) ? op : pickFrom([op, ` ${op} `, `${op} `], r);
      const v = /^[A-Za-z0-9_-]+$/.test(l.value) && r() % 2 === 0 ? ` ${l.value}` : ` ${quoted(l.value)}`;
      return `${subject}${spaced}${v}`.replace(/ {2,}/g, ' ');
    }
    case 'has':
      return `${l.negated ? caseOf('misses') : caseOf(pickFrom(['has', 'contains'], r))} ${caseOf(l.what)} ${l.name}`;
    case 'contains':
      return `${caseOf(l.what)} ${l.name} ${l.negated ? caseOf('misses') : caseOf(pickFrom(['has', 'contains'], r))} ${quoted(l.value)}`;
  }
};
const write = (t: Tree, leafText: (l: Leaf) => string, r: () => number, vamp: boolean): string => {
  switch (t.kind) {
    case 'leaf':
      return leafText(t.leaf);
    case 'not':
      return `${vamp ? pickFrom(['not ', '!', 'NOT ', '! '], r) : 'not '}(${write(t.t, leafText, r, vamp)})`;
    default: {
      const ops = t.kind === 'and' ? ['and', '&&', '&', 'AND', 'And'] : ['or', '||', '|', 'OR', 'Or'];
      return `(${write(t.a, leafText, r, vamp)}) ${vamp ? pickFrom(ops, r) : t.kind} (${write(t.b, leafText, r, vamp)})`;
    }
  }
};
const canonicalDnf = (src: string): string[] => {
  const r = compileCondition(src);
  if (!r.ok) throw new Error(`${src}: ${r.message}`);
  return r.condition.clauses.map((c) => c.map((l) => `${l.negate ? '!' : ''}${l.acl}`).sort().join(' & ')).sort();
};

const prop = suite('property: synonyms mean what the canonical forms mean');
prop('generated conditions in Vamp spellings compile to the canonical form’s DNF', () => {
  fc.assert(
    fc.property(tree, fc.infiniteStream(fc.nat(1000)), (t, stream) => {
      const it = stream[Symbol.iterator]();
      const r = () => it.next().value as number;
      const canonical = write(t, canonicalLeaf, r, false);
      const vamp = write(t, (l) => vampLeaf(l, r), r, true);
      assert.equal(canonicalDnf(vamp), canonicalDnf(canonical), `${vamp}\n  vs ${canonical}`);
    }),
    { numRuns: 300 },
  );
});
prop.run();

// ---------------------------------------------------------------------------------------------
const source = 'shop.yaml';
function ok(yaml: string): Gateway {
  const r = parseGateway(yaml, { source, format: 'yaml', expectedName: 'shop' });
  if (!r.ok) throw new Error(`expected valid, got:\n${r.errors.map(formatModelError).join('\n')}`);
  return r.gateway;
}
function errs(yaml: string): string[] {
  const r = parseGateway(yaml, { source, format: 'yaml', expectedName: 'shop' });
  if (r.ok) throw new Error(`expected errors for:\n${yaml}`);
  return r.errors.map(formatModelError);
}
const has = (list: string[], expected: string) => assert.ok(list.includes(expected), `missing error:\n  ${expected}\ngot:\n  ${list.join('\n  ')}`);
const summary = (g: Gateway) => g.routes.map((r) => ({ name: r.name, weight: r.weight, targets: r.targets.map((t) => `${t.host}:${t.port}`) }));

const gw = suite('Vamp gateway forms (GatewayReaderSpec)');
gw('routes as a list of names, of one-route maps, or a single name', () => {
  assert.equal(summary(ok('port: 8080/http\nroutes: [localhost]\n')), [{ name: 'localhost', weight: 100, targets: [] }]);
  assert.equal(summary(ok('port: 8080\nroutes: web\n')), [{ name: 'web', weight: 100, targets: [] }]);
  assert.equal(summary(ok('port: 8080\nroutes:\n  - a\n  - b: {weight: 70%, targets: ["10.0.0.1:80"]}\n')), [
    { name: 'a', weight: 30, targets: [] },
    { name: 'b', weight: 70, targets: ['10.0.0.1:80'] },
  ]);
  has(errs('port: 8080\nroutes: [a, {a: {}}]\n'), 'shop.yaml:2:17: routes[1].a: route "a" is given twice');
});
gw('a route written as "host:port" or null; a string that is not a target is a Vamp reference', () => {
  assert.equal(summary(ok('port: 80\nroutes:\n  v1: "10.0.0.1:8080"\n  v2:\n')), [
    { name: 'v1', weight: 50, targets: ['10.0.0.1:8080'] },
    { name: 'v2', weight: 50, targets: [] },
  ]);
  assert.equal(summary(ok('port: 80\nroutes:\n  v1: "[::1]:81"\n'))[0]?.targets, ['::1:81']);
  assert.match(errs('port: 80\nroutes:\n  v1: my-stored-route\n').join(), 'shop.yaml:3:7: routes.v1: "my-stored-route" is not "host:port": a route written as a string is its one target (Vamp reads it as a reference to a stored route');
});
gw('"[host:port]" keys are routes to that target (Vamp external routes), quoted or as the first unquoted key', () => {
  const g = ok('port: 8080/http\nsticky: route\nroutes:\n  "[192.168.99.100:5050]": { weight: 50% }\n  "[localhost:5050]":      { weight: 50% }\n  "[[fd00::1]:80]": {weight: 0%}\n');
  assert.equal(summary(g), [
    { name: '192.168.99.100_5050', weight: 50, targets: ['192.168.99.100:5050'] },
    { name: 'localhost_5050', weight: 50, targets: ['localhost:5050'] },
    { name: 'fd00--1_80', weight: 0, targets: ['fd00::1:80'] },
  ]);
  assert.equal(summary(ok('port: 8080\nroutes:\n  [external.example:1]:\n    weight: 100%\n')), [{ name: 'external.example_1', weight: 100, targets: ['external.example:1'] }]);
  assert.match(errs('port: 8080\nroutes:\n  v1: {}\n  [a:1]: {}\n').join(), 'quote keys that start with "[", e.g. "[10.0.0.1:8080]":');
  has(errs('port: 80\nroutes:\n  "[a:1]": {targets: ["b:2"]}\n'), 'shop.yaml:3:22: routes["[a:1]"].targets: the route "[a:1]" is named by its target (Vamp\'s external route) and takes that one; remove targets, or name the route and list all its targets here');
  has(errs('port: 80\nroutes:\n  "[a:99999]": {}\n'), 'shop.yaml:3:16: routes["[a:99999]"]: port 99999 is out of range 1–65535');
  has(errs('port: 80\nroutes:\n  "[a:1]": {}\n  a_1: {}\n'), 'shop.yaml:4:8: routes.a_1: route names "[a:1]" and "a_1" collide after normalisation ("[a:1]" is named "a_1"; names are compared ignoring case)');
});
gw('weights: "50 %", all zero (conditions only), no routes; Vamp\'s 0-or-100 rule', () => {
  assert.equal(ok('port: 80\nroutes:\n  a: {weight: " 50 % "}\n  b: {weight: "50%"}\n').routes.map((r) => r.weight), [50, 50]);
  assert.equal(ok('port: 80\nroutes:\n  a: {weight: 0%, condition: has cookie a}\n  b: {weight: 0%}\n').routes.map((r) => r.weight), [0, 0]);
  assert.equal(ok('port: 80\nroutes: {}\n').routes, []);
  assert.equal(ok('port: 80\n').routes, []);
  assert.equal(ok('port: 80\nroutes: null\n').routes, []);
  has(errs('port: 80\nroutes:\n  a: {weight: 50%}\n'), 'shop.yaml:3:15: routes.a.weight: weights add up to 50%, must be 100% (or 0%, to route by conditions only)');
  has(errs('port: 80\nroutes:\n  a: {weight: "5 0%"}\n'), 'shop.yaml:3:15: routes.a.weight: expected a number or "NN%"');
});
gw('Vamp export fields: nulls and defaults accepted', () => {
  const g = ok(`port: '9050/http'
sticky: null
virtual_hosts: []
selector: null
service: {}
lookup_name: ""
internal: false
deployed: false
kind: null
routes:
  v1:
    lookup_name: null
    metadata: {}
    selector: null
    weight: "100%"
    balance: default
    condition: null
    condition_strength: "0%"
    rewrites: []
  v2:
    weight: null
    condition: {condition: ""}
    condition_strength: null
    rewrites: null
`);
  assert.equal(g.routes.map((r) => [r.weight, r.condition, r.conditionStrength, r.balance]), [
    [100, null, 0, 'roundrobin'],
    [0, null, 0, 'roundrobin'],
  ]);
});
gw('Vamp-only fields that are set are refused with the field and the reason', () => {
  const e = errs('port: 80\nselector: label(version)((.*))\nservice: {host: 10.0.0.1, port: 31234}\ndeployed: true\nroutes:\n  web:\n    selector: image(winter)\n    metadata: {a: 1}\n');
  has(e, 'shop.yaml:2:11: selector: Vamp\'s "selector" is not supported when set ("label(version)((.*))"): Vamp selectors discover targets on the container platform; Weir needs targets there: list them under routes.<name>.targets (weir import vamp writes the targets a Vamp export carries)');
  assert.ok(e.some((m) => m.startsWith('shop.yaml:3:10: service: Vamp\'s "service" is not supported when set')), e.join('\n'));
  assert.ok(e.some((m) => m.startsWith('shop.yaml:4:11: deployed: Vamp\'s "deployed" is not supported when set (true): a read-only Vamp output field')), e.join('\n'));
  assert.ok(e.some((m) => m.startsWith('shop.yaml:7:15: routes.web.selector: ')), e.join('\n'));
  assert.ok(e.some((m) => m.startsWith('shop.yaml:8:15: routes.web.metadata: Vamp\'s "metadata" is not supported when set ({"a":1}): Weir keeps metadata per gateway')), e.join('\n'));
});
gw('deployment-bound route paths are refused: Weir needs targets there', () => {
  for (const p of ['sava/sava:1.0.0/webport', 'sava/port', 'vamp/sava/sava:1.0.0/port', 'web/port1'])
    has(errs(`port: 80\nroutes:\n  ${p}: {weight: 100%}\n`), `shop.yaml:3:3: routes["${p}"]: "${p}" is a Vamp deployment route path, which Vamp resolves to the instances of its deployment; Weir needs targets there: name the route (letters, digits, ".", "_", "-") and list its targets, or convert a Vamp export with "weir import vamp"`);
});
gw('duplicate targets in a route are refused, across routes accepted', () => {
  has(errs('port: 80\nroutes:\n  v1: {targets: ["a:1", "A:1"]}\n'), 'shop.yaml:3:25: routes.v1.targets[1]: duplicate target "a:1" (also targets[0]): list each server of a route once (a target listed twice would take twice its share; Vamp would render two servers of one name, which HAProxy refuses)');
  assert.equal(summary(ok('port: 80\nroutes:\n  v1: {targets: ["a:1"]}\n  v2: {targets: ["a:1"]}\n')).map((r) => r.targets), [['a:1'], ['a:1']]);
});
gw('rewrites: Vamp\'s forms, raw conditions validated; one rewrite without a list', () => {
  const rw = (path: string) => ok(`port: 80\nroutes:\n  v1:\n    rewrites:\n      path: "${path}"\n`).routes[0]!.rewrites[0]!;
  assert.equal(rw('/images/%[path] if { path_beg /img }'), { kind: 'set-path', path: '/images/%[path]', condition: { source: '{ path_beg /img }', clauses: [[pos('path_beg /img')]] } });
  assert.equal(rw('/a IF path_end -i .jpg').condition?.clauses, [[pos('path_end -i .jpg')]]);
  assert.equal(rw('/img/%[path] if { path_end -i .jpg } !{ path_beg -i /images/ }').condition?.clauses, [[pos('path_end -i .jpg'), neg('path_beg -i /images/')]]);
  assert.equal(rw('/a if { path_beg /x } || { path_beg /y }').condition?.clauses, [[pos('path_beg /x')], [pos('path_beg /y')]]);
  assert.equal(rw('/a if has cookie beta').condition?.clauses, [[pos('req.cook(beta) -m found')]]);
  assert.match(errs('port: 80\nroutes:\n  v1:\n    rewrites: [{path: "/a if { path_beg /x # }"}]\n').join(), 'the raw ACL contains an unquoted "#", which starts a comment in HAProxy (in Vamp\'s raw condition "{ path_beg /x # }")');
  assert.match(errs('port: 80\nroutes:\n  v1:\n    rewrites: [{path: "/a if { path_beg /x } $HOME"}]\n').join(), 'shop.yaml:4:23: routes.v1.rewrites[0].path:');
});
gw('tcp gateways refuse every http-only field with its path (they were silently dropped)', () => {
  const e = errs('port: 5432/tcp\nsticky: route\nvirtual_hosts: [db.example.com]\nroutes:\n  a:\n    condition: has cookie x\n    condition_strength: 50%\n    rewrites: [{path: /x}]\n    balance: uri\n');
  for (const m of [
    'shop.yaml:2:9: sticky: sticky sessions need an http port (this gateway is tcp)',
    'shop.yaml:3:16: virtual_hosts: virtual hosts need an http port (this gateway is tcp)',
    'shop.yaml:6:16: routes.a.condition: conditions need an http port (this gateway is tcp)',
    'shop.yaml:7:25: routes.a.condition_strength: condition_strength needs an http port (this gateway is tcp)',
    'shop.yaml:8:15: routes.a.rewrites: rewrites need an http port (this gateway is tcp)',
    'shop.yaml:9:14: routes.a.balance: balance "uri" needs an http port (this gateway is tcp)',
  ])
    has(e, m);
  // What a Vamp export carries for a tcp route without a condition is fine.
  assert.ok(ok('port: 5432/tcp\nroutes:\n  a: {condition: null, condition_strength: 0%, rewrites: []}\n'));
});
gw('field errors carry the line and column of the value, in every route form', () => {
  has(errs('name: shop\nport: 80\nroutes:\n  v1:\n    weight: 60%\n  v2:\n    weight: 70%\n'), 'shop.yaml:7:13: routes.v2.weight: weights add up to 130%, must be 100% (or 0%, to route by conditions only)');
  has(errs('port: 80\nroutes:\n  - v1: {condition: "has biscuit"}\n'), 'shop.yaml:3:21: routes[0].v1.condition: unexpected "biscuit" at column 5, expected "cookie" or "header"');
  has(errs('port: 80\nroutes:\n  v1: {wieght: 1}\n'), 'shop.yaml:3:8: routes.v1: unknown field "wieght"');
  has(errs('routes: {}\n'), 'shop.yaml:1:1: port: required field is missing');
  const json = parseGateway('{\n  "port": 80,\n  "routes": {"v1": {"weight": 150}}\n}', { source: 'shop.json', format: 'json' });
  assert.ok(!json.ok && json.errors.map(formatModelError).includes('shop.json:3:31: routes.v1.weight: weight must be between 0% and 100%'), JSON.stringify(json));
});
gw.run();
