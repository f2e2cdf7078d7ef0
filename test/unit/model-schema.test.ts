// Field-by-field accept/reject behaviour of parseGateway / validateGatewayInput.
import { suite, assert } from '../harness/uvu.js';
import { formatModelError, parseGateway, validateGatewayInput, type Gateway } from '../../model/index.js';

const source = 'shop.yaml';

function ok(yaml: string, expectedName = 'shop'): Gateway {
  const r = parseGateway(yaml, { source, format: 'yaml', expectedName });
  if (!r.ok) throw new Error(`expected valid, got:\n${r.errors.map(formatModelError).join('\n')}`);
  return r.gateway;
}

/** `expectedName: null` parses without a name from the file. */
function errs(yaml: string, expectedName: string | null = 'shop'): string[] {
  const r = parseGateway(yaml, { source, format: 'yaml', ...(expectedName !== null ? { expectedName } : {}) });
  if (r.ok) throw new Error(`expected errors for:\n${yaml}`);
  // Positions are checked in their own suite; the messages here read without them.
  return r.errors.map((e) => formatModelError({ ...e, line: undefined, column: undefined }));
}

/** A minimal valid document with `extra` lines added at top level. */
const doc = (extra: string, routes = 'routes:\n  v1: {}\n') => `port: 8080\n${extra}\n${routes}`;
const route = (body: string) => `port: 8080\nroutes:\n  v1: ${body}\n`;

const has = (list: string[], expected: string) => assert.ok(list.includes(expected), `missing error:\n  ${expected}\ngot:\n  ${list.join('\n  ')}`);

// ---------------------------------------------------------------------------------------------
const name = suite('name');
name('taken from expectedName when absent', () => assert.is(ok(doc('')).name, 'shop'));
name('matching name accepted', () => assert.is(ok(doc('name: shop')).name, 'shop'));
name('differing name rejected', () => has(errs(doc('name: other')), 'shop.yaml: name: name "other" differs from "shop", the name given by the file or key'));
name('upper case rejected with a lower-case hint', () =>
  has(errs(doc('name: Shop'), null), 'shop.yaml: name: "Shop" has upper-case letters: gateway names are lower-case DNS labels (a-z, 0-9, "-", at most 63 characters)'));
name('bad labels rejected', () => {
  for (const n of ['-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64), '""']) {
    const e = errs(doc(`name: ${n}`), null);
    assert.ok(e.some((m) => m.startsWith('shop.yaml: name: ') && m.includes('not a valid gateway name')), `${n}: ${e.join()}`);
  }
});
name('63 chars ok', () => assert.is(ok(doc(`name: ${'a'.repeat(63)}`), 'a'.repeat(63)).name.length, 63));
name('missing everywhere', () => has(errs(doc(''), null), 'shop.yaml: name: required field is missing'));
name('invalid expectedName', () => assert.match(errs(doc(''), 'Shop_1').join(), 'name taken from the file or key, "Shop_1", is not a valid gateway name'));
name.run();

// ---------------------------------------------------------------------------------------------
const port = suite('port');
port('forms', () => {
  assert.equal(ok(`port: 8080\nroutes: {v1: {}}`), { ...ok(`port: "8080/http"\nroutes: {v1: {}}`) });
  const g = ok(`port: "9000/tcp"\nroutes: {v1: {}}`);
  assert.is(g.port, 9000);
  assert.is(g.mode, 'tcp');
  assert.is(g.balance, 'leastconn');
  assert.is(ok(`port: "1"\nroutes: {v1: {}}`).port, 1);
  assert.is(ok(`port: 65535\nroutes: {v1: {}}`).port, 65535);
});
port('port 0 says auto-assign is unsupported', () => {
  has(errs(`port: 0\nroutes: {v1: {}}`), 'shop.yaml: port: port 0 (auto-assign) is not supported in a stored gateway: give a port between 1 and 65535 (the control API assigns one when a gateway is written without a port)');
  has(errs(`port: "0/http"\nroutes: {v1: {}}`), 'shop.yaml: port: port 0 (auto-assign) is not supported in a stored gateway: give a port between 1 and 65535 (the control API assigns one when a gateway is written without a port)');
});
port('out of range / bad forms', () => {
  has(errs(`port: 65536\nroutes: {v1: {}}`), 'shop.yaml: port: port must be between 1 and 65535');
  has(errs(`port: "70000/tcp"\nroutes: {v1: {}}`), 'shop.yaml: port: port must be between 1 and 65535');
  for (const p of ['"8080/udp"', '"http"', '80.5', 'true', '"8080 "', '[80]'])
    has(errs(`port: ${p}\nroutes: {v1: {}}`), 'shop.yaml: port: expected a port such as 8080, "8080/http" or "8080/tcp"');
});
port('missing', () => has(errs(`routes: {v1: {}}`), 'shop.yaml: port: required field is missing'));
port.run();

// ---------------------------------------------------------------------------------------------
const sticky = suite('sticky');
sticky('values', () => {
  assert.is(ok(doc('sticky: route')).sticky, 'route');
  assert.is(ok(doc('sticky: instance')).sticky, 'instance');
  assert.is(ok(doc('sticky: none')).sticky, null);
  assert.is(ok(doc('sticky: null')).sticky, null);
  assert.is(ok(doc('')).sticky, null);
});
sticky('bad value', () => has(errs(doc('sticky: cookie')), 'shop.yaml: sticky: expected "route", "instance", "none" or null'));
sticky('http only', () => has(errs(`port: 1/tcp\nsticky: route\nroutes: {v1: {}}`), 'shop.yaml: sticky: sticky sessions need an http port (this gateway is tcp)'));
sticky('none allowed on tcp', () => assert.is(ok(`port: 1/tcp\nsticky: none\nroutes: {v1: {}}`).sticky, null));
sticky.run();

// ---------------------------------------------------------------------------------------------
const vh = suite('virtual_hosts');
vh('string or list, lower-cased and de-duplicated', () => {
  assert.equal(ok(doc('virtual_hosts: Shop.Example.com')).virtualHosts, ['shop.example.com']);
  assert.equal(ok(doc('virtual_hosts: [a.example.com, A.EXAMPLE.com, b]')).virtualHosts, ['a.example.com', 'b']);
  assert.equal(ok(doc('')).virtualHosts, []);
});
vh('wildcards rejected', () => has(errs(doc('virtual_hosts: ["*.example.com"]')), 'shop.yaml: virtual_hosts[0]: wildcard host names ("*.example.com") are not supported: list exact host names'));
vh('invalid names', () => {
  for (const h of ['"a b"', 'a..b', '-a.com', 'a.com.', '"a:80"', 'a_b.com', `${'a'.repeat(64)}.com`])
    assert.ok(errs(doc(`virtual_hosts: [${h}]`)).some((m) => m.startsWith('shop.yaml: virtual_hosts[0]: ') && m.includes('is not a valid host name')), h);
});
vh('length cap 253', () => {
  const long = Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'); // 255
  has(errs(doc(`virtual_hosts: ${long}`)), 'shop.yaml: virtual_hosts: host name is longer than 253 characters');
  const ok253 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  assert.is(ok(doc(`virtual_hosts: ${ok253}`)).virtualHosts[0]?.length, 253);
});
vh('http only', () => has(errs(`port: 1/tcp\nvirtual_hosts: a.com\nroutes: {v1: {}}`), 'shop.yaml: virtual_hosts: virtual hosts need an http port (this gateway is tcp)'));
vh('wrong type', () => has(errs(doc('virtual_hosts: 5')), 'shop.yaml: virtual_hosts: expected a host name or a list of host names'));
vh.run();

// ---------------------------------------------------------------------------------------------
const bal = suite('balance');
bal('allowed values', () => {
  for (const b of ['roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'random', 'uri', 'url_param userid', 'hdr(X-User)', 'rdp-cookie(mstshash)'])
    assert.is(ok(doc(`balance: "${b}"`)).balance, b);
});
bal('defaults per mode', () => {
  assert.is(ok(doc('balance: default')).balance, 'roundrobin');
  assert.is(ok(`port: 1/tcp\nbalance: default\nroutes: {v1: {}}`).balance, 'leastconn');
});
bal('route balance falls back to gateway', () => {
  const g = ok(`port: 80\nbalance: source\nroutes:\n  a: {}\n  b: {balance: default}\n  c: {balance: first}\n`);
  assert.equal(g.routes.map((r) => r.balance), ['source', 'source', 'first']);
});
bal('rejected values', () => {
  for (const b of ['RoundRobin', 'url_param', 'hdr(a b)', 'hdr()', `hdr(${'x'.repeat(65)})`, 'url_param a;b', 'roundrobin ', 'random(2)'])
    assert.ok(errs(doc(`balance: "${b}"`)).some((m) => m.startsWith('shop.yaml: balance: ') && m.includes('is not a supported balance algorithm')), b);
});
bal('http-only algorithms rejected for tcp', () => {
  has(errs(`port: 1/tcp\nbalance: uri\nroutes: {v1: {}}`), 'shop.yaml: balance: balance "uri" needs an http port (this gateway is tcp)');
  has(errs(`port: 1/tcp\nroutes: {v1: {balance: "hdr(x)"}}`), 'shop.yaml: routes.v1.balance: balance "hdr(x)" needs an http port (this gateway is tcp)');
  has(errs(`port: 1/tcp\nroutes: {v1: {balance: "url_param x"}}`), 'shop.yaml: routes.v1.balance: balance "url_param x" needs an http port (this gateway is tcp)');
  assert.is(ok(`port: 1/tcp\nroutes: {v1: {balance: "rdp-cookie(x)"}}`).routes[0]?.balance, 'rdp-cookie(x)');
});
bal.run();

// ---------------------------------------------------------------------------------------------
const meta = suite('metadata');
meta('kept as is', () => assert.equal(ok(doc('metadata: {team: web, n: 1, nested: {list: [1, null, true]}}')).metadata, { team: 'web', n: 1, nested: { list: [1, null, true] } }));
meta('default empty', () => assert.equal(ok(doc('')).metadata, {}));
meta('key count cap', () => {
  const m = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
  has(errs(doc(`metadata: ${JSON.stringify(m)}`)), 'shop.yaml: metadata: metadata has 65 keys, at most 64 are allowed');
});
meta('size cap', () => assert.match(errs(doc(`metadata: {a: "${'x'.repeat(17000)}"}`)).join(), 'at most 16384 are allowed'));
meta('wrong type', () => has(errs(doc('metadata: [1]')), 'shop.yaml: metadata: expected a map'));
meta.run();

// ---------------------------------------------------------------------------------------------
const routes = suite('routes');
routes('declaration order kept, including numeric names', () => {
  const g = ok(`port: 80\nroutes:\n  b: {}\n  "20": {}\n  a: {}\n`);
  assert.equal(g.routes.map((r) => r.name), ['b', '20', 'a']);
});
routes('names', () => {
  assert.ok(ok(`port: 80\nroutes:\n  A.b_c-1: {}\n`));
  for (const n of ['"-a"', '".a"', '"a b"', '"a:1"', `${'a'.repeat(64)}`, '"[1.2.3.4]"', '"[a b:80]"'])
    assert.ok(errs(`port: 80\nroutes:\n  ${n}: {}\n`).some((m) => m.includes('invalid route name')), n);
  has(errs(`port: 80\nroutes:\n  "a b": {}\n`), 'shop.yaml: routes["a b"]: invalid route name "a b": use letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63 characters, or "[host:port]" for a route to that one target');
});
routes('case collisions', () =>
  has(errs(`port: 80\nroutes:\n  Blue: {}\n  blue: {}\n`), 'shop.yaml: routes.blue: route names "Blue" and "blue" collide after normalisation (names are compared ignoring case)'));
routes('count 0..64', () => {
  assert.equal(ok(`port: 80\nroutes: {}\n`).routes, []);
  const many = Array.from({ length: 65 }, (_, i) => `  r${i}: {weight: 0}`).join('\n');
  has(errs(`port: 80\nroutes:\n${many}\n`), 'shop.yaml: routes: 65 routes, at most 64 are allowed');
});
routes('duplicate keys (YAML and JSON)', () => {
  has(errs(`port: 80\nroutes:\n  a: {}\n  a: {}\n`), 'shop.yaml: invalid YAML at line 4, column 3: Map keys must be unique');
  const r = parseGateway('{"port": 80, "port": 81, "routes": {"a": {}}}', { source: 'x.json', format: 'json', expectedName: 'x' });
  assert.ok(!r.ok && formatModelError(r.errors[0]!).startsWith('x.json: invalid JSON at line 1, column'), JSON.stringify(r));
  assert.match(JSON.stringify(r), 'Map keys must be unique');
});
routes('unknown fields name the path', () => {
  has(errs(route('{wieght: 10}')), 'shop.yaml: routes.v1: unknown field "wieght"');
  has(errs(doc('foo: 1')), 'shop.yaml: unknown field "foo"');
  has(errs(doc('lookup_name: abc')), 'shop.yaml: lookup_name: Vamp\'s "lookup_name" is not supported when set ("abc"): a read-only Vamp output field: remove it (weir import vamp converts a Vamp export)');
  has(errs(route('{targets: [{host: a, port: 1, weight: 3}]}')), 'shop.yaml: routes.v1.targets[0]: unknown field "weight"');
  has(errs(route('{rewrites: [{path: /a, foo: 1}]}')), 'shop.yaml: routes.v1.rewrites[0]: unknown field "foo"');
});
routes('wrong types', () => {
  has(errs(`port: 80\nroutes: 5\n`), 'shop.yaml: routes: expected a map of route name to route');
  has(errs(route('5')), 'shop.yaml: routes.v1: expected a route object, "host:port" or null');
  has(errs('- 1\n'), 'shop.yaml: expected a gateway object (a YAML/JSON map)');
  has(errs(''), 'shop.yaml: expected a gateway object (a YAML/JSON map)');
});
routes.run();

// ---------------------------------------------------------------------------------------------
const weight = suite('weight & condition_strength');
weight('forms', () => {
  const g = ok(`port: 80\nroutes:\n  a: {weight: 90%}\n  b: {weight: 10}\n`);
  assert.equal(g.routes.map((r) => r.weight), [90, 10]);
});
weight('fractions and junk rejected', () => {
  has(errs(route('{weight: 90.5%}')), 'shop.yaml: routes.v1.weight: weight must be a whole percentage (0–100), got "90.5%"');
  has(errs(route('{weight: 90.5}')), 'shop.yaml: routes.v1.weight: weight must be a whole percentage (0–100), got 90.5');
  has(errs(route('{weight: "90"}')), 'shop.yaml: routes.v1.weight: expected a number or "NN%"');
  has(errs(route('{weight: [1]}')), 'shop.yaml: routes.v1.weight: expected a number or "NN%"');
  has(errs(route('{weight: 101%}')), 'shop.yaml: routes.v1.weight: weight must be between 0% and 100%');
  has(errs(route('{weight: -1}')), 'shop.yaml: routes.v1.weight: weight must be between 0% and 100%');
});
weight('sum must be 100 when all set', () =>
  has(errs(`port: 80\nroutes:\n  a: {weight: 90%}\n  v2: {weight: 20%}\n`), 'shop.yaml: routes.v2.weight: weights add up to 110%, must be 100% (or 0%, to route by conditions only)'));
weight('condition strength defaults', () => {
  const g = ok(`port: 80\nroutes:\n  a: {weight: 100%}\n  b: {weight: 0%, condition: has cookie x}\n  c: {weight: 0, condition: has cookie y, condition_strength: 25%}\n`);
  assert.equal(g.routes.map((r) => r.conditionStrength), [0, 100, 25]);
});
weight('strength without condition', () => has(errs(route('{condition_strength: 50%}')), 'shop.yaml: routes.v1.condition_strength: condition_strength needs a condition'));
weight('strength range', () => has(errs(route('{condition: has cookie x, condition_strength: 150}')), 'shop.yaml: routes.v1.condition_strength: condition_strength must be between 0% and 100%'));
weight.run();

// ---------------------------------------------------------------------------------------------
const cond = suite('route condition');
cond('string and object form', () => {
  const g = ok(`port: 80\nroutes:\n  a: {condition: "user-agent == Firefox"}\n  b: {condition: {condition: "has cookie beta"}}\n`);
  assert.equal(g.routes[0]?.condition?.clauses, [[{ negate: false, acl: "req.fhdr(User-Agent) -m sub 'Firefox'" }]]);
  assert.equal(g.routes[1]?.condition, { source: 'has cookie beta', clauses: [[{ negate: false, acl: 'req.cook(beta) -m found' }]] });
});
cond('syntax errors carry path and column', () => {
  has(errs(route('{condition: "has cookie a and and"}')), 'shop.yaml: routes.v1.condition: unexpected "and" at column 18, expected a condition');
  has(errs(route('{condition: {condition: "has cookie"}}')), 'shop.yaml: routes.v1.condition: unexpected end of condition at column 11, expected a cookie name');
});
cond('object form is strict', () => has(errs(route('{condition: {condition: "true", name: x}}')), 'shop.yaml: routes.v1.condition: unknown field "name"'));
cond.run();

// ---------------------------------------------------------------------------------------------
const rw = suite('rewrites');
rw('Vamp form, explicit form, regex form', () => {
  const g = ok(`port: 80\nroutes:\n  a:\n    rewrites:\n      - path: "/new if has cookie x"\n      - {path: /p, condition: "< path_beg /api >"}\n      - {match: "^/old/(.*)", replace: "/n/\\\\1"}\n      - {path: "/v2%[path]%%"}\n`);
  assert.equal(g.routes[0]?.rewrites, [
    { kind: 'set-path', path: '/new', condition: { source: 'has cookie x', clauses: [[{ negate: false, acl: 'req.cook(x) -m found' }]] } },
    { kind: 'set-path', path: '/p', condition: { source: '< path_beg /api >', clauses: [[{ negate: false, acl: 'path_beg /api' }]] } },
    { kind: 'replace-path', match: '^/old/(.*)', replace: '/n/\\1', condition: null },
    { kind: 'set-path', path: '/v2%[path]%%', condition: null },
  ]);
});
rw('rejections', () => {
  const at = (body: string) => errs(route(`{rewrites: [${body}]}`));
  has(at('{path: "new"}'), 'shop.yaml: routes.v1.rewrites[0].path: path "new" must start with "/"');
  has(at(`{path: "/a'b"}`), `shop.yaml: routes.v1.rewrites[0].path: path "/a'b" may only contain printable ASCII without spaces, quotes (' ") and "#"`);
  has(at('{path: "/a#b"}'), 'shop.yaml: routes.v1.rewrites[0].path: path "/a#b" may only contain printable ASCII without spaces, quotes (\' ") and "#"');
  has(at('{path: "/a%20"}'), 'shop.yaml: routes.v1.rewrites[0].path: path "/a%20" has a "%" that is neither "%%" (a literal %) nor "%[fetch]": HAProxy reads it as log-format');
  has(at('{path: "/a if has cookie"}'), 'shop.yaml: routes.v1.rewrites[0].path: unexpected end of condition at column 11, expected a cookie name');
  has(at('{path: "/a if true", condition: "true"}'), 'shop.yaml: routes.v1.rewrites[0].condition: the path already has an "if <condition>" (Vamp form); give the condition once');
  assert.match(at('{match: "(", replace: "/"}').join('\n'), /^shop\.yaml: routes\.v1\.rewrites\[0\]\.match: invalid regular expression: \/\(\/: Unterminated group$/m);
  has(at('{match: "^/a"}'), 'shop.yaml: routes.v1.rewrites[0]: a regex rewrite needs both "match" and "replace"');
  has(at('{path: /a, match: x, replace: y}'), 'shop.yaml: routes.v1.rewrites[0]: a rewrite has either "path" or "match" + "replace", not both');
  has(at('{}'), 'shop.yaml: routes.v1.rewrites[0]: a rewrite needs "path" or "match" + "replace"');
  has(at(`{path: "/${'a'.repeat(1024)}"}`), 'shop.yaml: routes.v1.rewrites[0].path: path is longer than 1024 characters');
  has(errs(`port: 1/tcp\nroutes:\n  v1: {rewrites: [{path: /a}]}\n`), 'shop.yaml: routes.v1.rewrites: rewrites need an http port (this gateway is tcp)');
});
rw.run();

// ---------------------------------------------------------------------------------------------
const tg = suite('targets');
tg('forms and host kinds', () => {
  const g = ok(route('{targets: ["10.0.0.1:80", "[::1]:81", "[0:0::2]:82", {host: "fd00::1", port: 83}, {host: "[fd00::2]", port: 84}, "Svc.Example.com:85"]}'));
  assert.equal(g.routes[0]?.targets, [
    { host: '10.0.0.1', port: 80, hostKind: 'ipv4' },
    { host: '::1', port: 81, hostKind: 'ipv6' },
    { host: '::2', port: 82, hostKind: 'ipv6' },
    { host: 'fd00::1', port: 83, hostKind: 'ipv6' },
    { host: 'fd00::2', port: 84, hostKind: 'ipv6' },
    { host: 'svc.example.com', port: 85, hostKind: 'dns' },
  ]);
});
tg('empty list allowed', () => {
  assert.equal(ok(route('{targets: []}')).routes[0]?.targets, []);
  assert.equal(ok(route('{}')).routes[0]?.targets, []);
});
tg('rejections', () => {
  const at = (t: string) => errs(route(`{targets: [${t}]}`));
  has(at('"::1:80"'), 'shop.yaml: routes.v1.targets[0]: IPv6 targets need brackets, e.g. "[::1]:80"');
  has(at('"a.com"'), 'shop.yaml: routes.v1.targets[0]: expected "host:port" (IPv6 as "[::1]:80"), got "a.com"');
  has(at('"a.com:0"'), 'shop.yaml: routes.v1.targets[0]: port 0 is out of range 1–65535');
  has(at('"a.com:65536"'), 'shop.yaml: routes.v1.targets[0]: port 65536 is out of range 1–65535');
  has(at('"256.1.1.1:80"'), 'shop.yaml: routes.v1.targets[0]: "256.1.1.1" is not a valid IPv4 address');
  has(at('"[fe80::1%eth0]:80"'), 'shop.yaml: routes.v1.targets[0]: "[fe80::1%eth0]" is not a valid IPv6 address');
  has(at('{host: "a_b", port: 80}'), 'shop.yaml: routes.v1.targets[0].host: "a_b" is not a valid host name (RFC 1123: letters, digits and "-" in dot-separated labels of at most 63 characters)');
  has(at('{host: "a", port: 0}'), 'shop.yaml: routes.v1.targets[0].port: port must be between 1 and 65535');
  has(at('{host: "a", port: "80"}'), 'shop.yaml: routes.v1.targets[0].port: expected a port number');
  has(at('{host: "a"}'), 'shop.yaml: routes.v1.targets[0].port: required field is missing');
  has(at('5'), 'shop.yaml: routes.v1.targets[0]: expected "host:port" or {host, port}');
});
tg('duplicates rejected after canonicalisation', () => {
  has(errs(route('{targets: ["A.com:80", {host: a.com, port: 80}]}')), 'shop.yaml: routes.v1.targets[1]: duplicate target "a.com:80" (also targets[0]): list each server of a route once (a target listed twice would take twice its share; Vamp would render two servers of one name, which HAProxy refuses)');
  has(errs(route('{targets: ["[::1]:80", "[0::1]:80"]}')), 'shop.yaml: routes.v1.targets[1]: duplicate target "[::1]:80" (also targets[0]): list each server of a route once (a target listed twice would take twice its share; Vamp would render two servers of one name, which HAProxy refuses)');
  assert.is(ok(route('{targets: ["a.com:80", "a.com:81"]}')).routes[0]?.targets.length, 2);
});
tg('at most 1000', () => {
  const list = JSON.stringify(Array.from({ length: 1001 }, (_, i) => `10.0.${Math.floor(i / 250)}.${i % 250}:80`));
  has(errs(route(`{targets: ${list}}`)), 'shop.yaml: routes.v1.targets: at most 1000 targets per route');
});
tg.run();

// ---------------------------------------------------------------------------------------------
const doc2 = suite('document');
doc2('size cap', () => assert.match(errs(`# ${'x'.repeat(256 * 1024)}\n${doc('')}`).join(), 'at most 262144 (256 KiB) are allowed'));
doc2('YAML syntax errors carry line and column', () => has(errs('port: 80\nroutes: [\n'), 'shop.yaml: invalid YAML at line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]'));
doc2('JSON syntax errors carry line and column', () => {
  const r = parseGateway('{\n "port": 80,\n}', { source: 'g.json', format: 'json', expectedName: 'g' });
  assert.ok(!r.ok);
  assert.match(formatModelError(r.errors[0]!), /^g\.json: invalid JSON at line 3, column 1: /);
});
doc2('JSON accepted', () => {
  const r = parseGateway('{"name": "g", "port": "81/tcp", "routes": {"a": {"targets": ["h:1"]}}}', { source: 'g.json', format: 'json' });
  assert.ok(r.ok && r.gateway.mode === 'tcp' && r.gateway.routes[0]?.weight === 100);
});
doc2('validateGatewayInput for parsed JSON', () => {
  const r = validateGatewayInput({ port: 80, routes: { a: { weight: '100%' } } }, { source: 'control API', expectedName: 'api' });
  assert.ok(r.ok && r.gateway.name === 'api');
  const bad = validateGatewayInput({ port: 80, routes: { a: { weight: '100%', x: 1 } } }, { source: 'control API', expectedName: 'api' });
  assert.equal(bad.ok ? [] : bad.errors, [{ source: 'control API', path: 'routes.a', message: 'unknown field "x"' }]);
  const notObj = validateGatewayInput('x', { source: 'control API' });
  assert.equal(notObj.ok ? [] : notObj.errors.map(formatModelError), ['control API: expected a gateway object (a YAML/JSON map)']);
});
doc2('YAML aliases bounded', () => {
  const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
  assert.match(errs(bomb).join(), 'invalid YAML');
});
doc2('Vamp docs example parses', () => {
  const g = ok(`name: sava\nport: 9070/http\nroutes:\n  sava-1.0:\n    weight: 90%\n  sava-1.1:\n    weight: 10%\n`, 'sava');
  assert.equal(g.routes.map((r) => [r.name, r.weight]), [['sava-1.0', 90], ['sava-1.1', 10]]);
});
doc2('full normalized output', () => {
  const g = ok(`name: shop\nport: 8080\nsticky: route\nvirtual_hosts: Shop.example.com\nmetadata: {a: 1}\nroutes:\n  a: {targets: ["10.0.0.1:80"]}\n  b: {weight: 0%, condition: "!has cookie x", condition_strength: 40%}\n`);
  assert.equal(g, {
    name: 'shop', port: 8080, mode: 'http', sticky: 'route', virtualHosts: ['shop.example.com'], balance: 'roundrobin', metadata: { a: 1 },
    routes: [
      { name: 'a', weight: 100, condition: null, conditionStrength: 0, rewrites: [], balance: 'roundrobin', targets: [{ host: '10.0.0.1', port: 80, hostKind: 'ipv4' }] },
      { name: 'b', weight: 0, condition: { source: '!has cookie x', clauses: [[{ negate: true, acl: 'req.cook(x) -m found' }]] }, conditionStrength: 40, rewrites: [], balance: 'roundrobin', targets: [] },
    ],
  });
});
doc2.run();
