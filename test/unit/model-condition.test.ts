import { suite, assert } from '../harness/uvu.js';
import { compileCondition, parseCondition, type AclLiteral } from '../../model/index.js';

const UA = (v: string) => `req.fhdr(User-Agent) -m sub '${v}'`;
const CK = (c: string) => `req.cook(${c}) -m found`;
const pos = (acl: string): AclLiteral => ({ negate: false, acl });
const neg = (acl: string): AclLiteral => ({ negate: true, acl });

function dnf(src: string): AclLiteral[][] {
  const r = compileCondition(src);
  if (!r.ok) throw new Error(`${src}: ${r.message}`);
  assert.is(r.condition.source, src);
  return r.condition.clauses;
}
function err(src: string): string {
  const r = compileCondition(src);
  if (r.ok) throw new Error(`expected an error for ${src}`);
  return r.message;
}

// ---------------------------------------------------------------------------------------------
const terms = suite('terms');
terms('user-agent', () => {
  assert.equal(dnf('user-agent = Firefox'), [[pos(UA('Firefox'))]]);
  assert.equal(dnf('user-agent == Firefox'), [[pos(UA('Firefox'))]]);
  assert.equal(dnf('user-agent != Firefox'), [[neg(UA('Firefox'))]]);
  assert.equal(dnf('User-Agent=Firefox'), [[pos(UA('Firefox'))]]);
});
terms('host', () => {
  assert.equal(dnf('host = shop.example.com'), [[pos("req.hdr(host),field(1,:) -i 'shop.example.com'")]]);
  assert.equal(dnf('HOST != a'), [[neg("req.hdr(host),field(1,:) -i 'a'")]]);
});
terms('cookies and headers', () => {
  assert.equal(dnf('has cookie beta.x'), [[pos(CK('beta.x'))]]);
  assert.equal(dnf('misses cookie beta'), [[neg(CK('beta'))]]);
  assert.equal(dnf('has header X-Beta'), [[pos('req.hdr_cnt(X-Beta) gt 0')]]);
  assert.equal(dnf('misses header X-Beta'), [[neg('req.hdr_cnt(X-Beta) gt 0')]]);
  assert.equal(dnf('cookie group has admin'), [[pos("req.cook(group) -m sub 'admin'")]]);
  assert.equal(dnf('cookie group misses admin'), [[neg("req.cook(group) -m sub 'admin'")]]);
  assert.equal(dnf('header X-Group has admin'), [[pos("req.fhdr(X-Group) -m sub 'admin'")]]);
  assert.equal(dnf('header X-Group misses admin'), [[neg("req.fhdr(X-Group) -m sub 'admin'")]]);
  assert.equal(dnf('HAS COOKIE a'), [[pos(CK('a'))]]);
});
terms('values: quotes, spaces, unquoted runs to the next operator', () => {
  assert.equal(dnf('user-agent = "Mozilla Firefox"'), [[pos(UA('Mozilla Firefox'))]]);
  assert.equal(dnf("user-agent = 'a \"b\" (c) and d'"), [[pos(UA('a "b" (c) and d'))]]);
  assert.equal(dnf('user-agent = Mozilla Firefox and has cookie a'), [[pos(UA('Mozilla Firefox')), pos(CK('a'))]]);
  assert.equal(dnf('user-agent = brand-and-co'), [[pos(UA('brand-and-co'))]]);
  assert.equal(dnf('user-agent = Android|user-agent = iOS'), [[pos(UA('Android'))], [pos(UA('iOS'))]]);
  assert.equal(dnf('user-agent = a#b$c!'), [[pos(UA('a#b$c!'))]]);
  assert.equal(dnf('(user-agent = x)'), [[pos(UA('x'))]]);
});
terms('raw ACLs', () => {
  assert.equal(dnf('< path_beg /api >'), [[pos('path_beg /api')]]);
  assert.equal(dnf("<req.hdr(x) -m reg 'a>b'> and !< hdr_cnt(y) gt 0 >"), [[pos("req.hdr(x) -m reg 'a>b'"), neg('hdr_cnt(y) gt 0')]]);
  assert.equal(dnf('< req.hdr(host),lower,field(1,:) -m str a.com >'), [[pos('req.hdr(host),lower,field(1,:) -m str a.com')]]);
  assert.equal(dnf('< hdr(x) -m reg "a\\"b" >'), [[pos('hdr(x) -m reg "a\\"b"')]]);
});
terms.run();

// ---------------------------------------------------------------------------------------------
const logic = suite('operators, precedence, DNF');
const a = pos(CK('a'));
const b = pos(CK('b'));
const c = pos(CK('c'));
const d = pos(CK('d'));
logic('operator spellings', () => {
  for (const op of ['and', 'AND', '&&', '&']) assert.equal(dnf(`has cookie a ${op} has cookie b`), [[a, b]], op);
  for (const op of ['or', 'Or', '||', '|']) assert.equal(dnf(`has cookie a ${op} has cookie b`), [[a], [b]], op);
  for (const op of ['not ', 'NOT ', '!', '! ']) assert.equal(dnf(`${op}has cookie a`), [[neg(CK('a'))]], op);
});
logic('and binds tighter than or', () => {
  assert.equal(dnf('has cookie a or has cookie b and has cookie c'), [[a], [b, c]]);
  assert.equal(dnf('has cookie a and has cookie b or has cookie c'), [[a, b], [c]]);
});
logic('not binds tighter than and', () => assert.equal(dnf('not has cookie a and has cookie b'), [[neg(CK('a')), b]]));
logic('parentheses distribute', () => {
  assert.equal(dnf('(has cookie a or has cookie b) and (has cookie c or has cookie d)'), [[a, c], [a, d], [b, c], [b, d]]);
  assert.equal(dnf('has cookie a and (has cookie b or has cookie c)'), [[a, b], [a, c]]);
  assert.equal(dnf('((((has cookie a))))'), [[a]]);
});
logic('De Morgan', () => {
  assert.equal(dnf('not (has cookie a or has cookie b)'), [[neg(CK('a')), neg(CK('b'))]]);
  assert.equal(dnf('!(has cookie a && has cookie b)'), [[neg(CK('a'))], [neg(CK('b'))]]);
  assert.equal(dnf('!(has cookie a and !(has cookie b or misses cookie c))'), [[neg(CK('a'))], [b], [neg(CK('c'))]]);
});
logic('double negation', () => {
  assert.equal(dnf('!!has cookie a'), [[a]]);
  assert.equal(dnf('not not not has cookie a'), [[neg(CK('a'))]]);
  assert.equal(dnf('not misses cookie a'), [[a]]);
  assert.equal(dnf('!(user-agent != x)'), [[pos(UA('x'))]]);
});
logic('constants fold', () => {
  assert.equal(dnf('true'), [[]]);
  assert.equal(dnf('false'), []);
  assert.equal(dnf('TRUE'), [[]]);
  assert.equal(dnf('not true'), []);
  assert.equal(dnf('true and has cookie a'), [[a]]);
  assert.equal(dnf('false or has cookie a'), [[a]]);
  assert.equal(dnf('false and has cookie a'), []);
  assert.equal(dnf('true or has cookie a'), [[]]);
  assert.equal(dnf('has cookie a or not false'), [[]]);
});
logic('duplicates and contradictions simplified', () => {
  assert.equal(dnf('has cookie a and has cookie a'), [[a]]);
  assert.equal(dnf('has cookie a or has cookie a'), [[a]]);
  assert.equal(dnf('has cookie a and misses cookie a'), []);
  assert.equal(dnf('(has cookie a and misses cookie a) or has cookie b'), [[b]]);
});
logic('AST shape', () => {
  const r = parseCondition('has cookie a or not has cookie b and true');
  assert.equal(r, {
    ok: true,
    ast: { kind: 'or', operands: [{ kind: 'literal', acl: CK('a') }, { kind: 'and', operands: [{ kind: 'not', operand: { kind: 'literal', acl: CK('b') } }, { kind: 'const', value: true }] }] },
  });
});
logic('complexity caps', () => {
  // 7 binary ORs ANDed together: 2^7 = 128 alternatives.
  const big = Array.from({ length: 7 }, (_, i) => `(has cookie a${i} or has cookie b${i})`).join(' and ');
  assert.is(err(big), 'the condition is too complex: it expands to more than 64 alternatives or 32 tests in one alternative');
  assert.is(dnf(Array.from({ length: 6 }, (_, i) => `(has cookie a${i} or has cookie b${i})`).join(' and ')).length, 64);
  const wide = Array.from({ length: 33 }, (_, i) => `has cookie c${i}`).join(' and ');
  assert.match(err(wide), 'too complex');
  assert.is(dnf(Array.from({ length: 32 }, (_, i) => `has cookie c${i}`).join(' and '))[0]?.length, 32);
  assert.match(err(`${'('.repeat(40)}true${')'.repeat(40)}`), 'nests deeper than 32 levels');
  assert.match(err(`${'!'.repeat(40)}true`), 'nests deeper than 32 levels');
  assert.is(err('x'.repeat(4097)), 'the condition is longer than 4096 characters');
});
logic.run();

// ---------------------------------------------------------------------------------------------
const errors = suite('errors name the column');
errors('syntax', () => {
  assert.is(err('has cookie a and and'), 'unexpected "and" at column 18, expected a condition');
  assert.is(err('has cookie a has cookie b'), 'unexpected "has" at column 14, expected "and", "or" or the end of the condition');
  assert.is(err('(has cookie a'), 'unexpected end of condition at column 14, expected ")"');
  assert.is(err('has cookie a)'), 'unexpected ")" at column 13');
  assert.is(err('has biscuit a'), 'unexpected "biscuit" at column 5, expected "cookie" or "header"');
  assert.is(err('cookie a equals b'), 'unexpected "equals" at column 10, expected "has", "contains" or "misses"');
  assert.is(err('user-agent ~ x'), 'unexpected "~" at column 12');
  assert.is(err('user-agent ~= x'), 'unexpected "~" at column 12');
  assert.is(err('user-agent equals x'), 'unexpected "equals" at column 12, expected "=", "==", "!=", "is", "not", "has", "contains" or "misses"');
  assert.is(err('user-agent ='), 'missing value at column 13');
  assert.is(err('user-agent = "abc'), 'unterminated quoted value at column 14');
  assert.is(err('< path_beg /a'), 'unterminated raw ACL: "<" without a closing ">" at column 1');
  assert.match(err('foo = bar'), 'unexpected "foo" at column 1, expected a condition');
  assert.is(err('   '), 'the condition is empty');
  assert.is(err('has cookie a\nor true'), 'control character (newline, tab, NUL, ...) at column 13');
});
errors('names and values', () => {
  assert.match(err('has header X/Y'), 'unexpected "/" at column 13');
  assert.is(err('has header X.Y'), 'invalid header name "X.Y" at column 12: use letters, digits, "_" and "-", at most 128 characters');
  assert.is(err(`has cookie ${'a'.repeat(129)}`).slice(0, 25), 'invalid cookie name "aaaa');
  assert.is(err('user-agent = a\\b'), 'the value contains a backslash, which is not allowed at column 14');
  assert.is(err(`user-agent = ${'x'.repeat(257)}`), 'the value is longer than 256 characters at column 14');
  assert.is(err('user-agent = ""'), 'the value is empty at column 14');
});
errors('raw ACL validation', () => {
  const raw = (s: string) => err(`<${s}>`);
  assert.is(raw(' '), 'the raw ACL is empty at column 1');
  assert.is(raw(' Path_beg /a'), 'the raw ACL must start with a sample fetch name such as req.hdr(...) or path_beg at column 1');
  assert.is(raw(" hdr(x) -m str 'a "), 'the raw ACL has an unbalanced single quote at column 1');
  assert.is(raw(' hdr(x) -m str "a '), 'the raw ACL has an unbalanced double quote at column 1');
  assert.is(raw(' path_beg /a #x'), 'the raw ACL contains an unquoted "#", which starts a comment in HAProxy at column 1');
  assert.is(dnf("< path_beg '/a#x' >")[0]?.[0]?.acl, "path_beg '/a#x'");
  assert.is(raw(' path_beg { /a }'), 'the raw ACL contains "{" or "}", which is not allowed at column 1');
  assert.is(raw(' path_beg /a\\'), 'the raw ACL ends with a backslash at column 1');
  assert.is(raw(' hdr(x) -m str "${HOME}"'), 'the raw ACL contains "$" inside double quotes, which HAProxy expands as an environment variable at column 1');
  assert.is(raw(' hdr(x) -m str $HOME'), 'the raw ACL contains an unquoted "$", which is not allowed at column 1');
  assert.is(raw(' hdr(x) -f /etc/passwd'), 'pattern files (-f / -M) are not allowed in a raw ACL at column 1');
  assert.is(raw(' hdr(x'), 'the raw ACL has an unbalanced "(" in its sample fetch at column 1');
  assert.is(raw(' hdr(x -m found'), 'the raw ACL has a space inside the parentheses of its sample fetch; quote the argument at column 1');
  assert.is(raw(' hdr(x)) -m found'), 'the raw ACL has an unbalanced ")" in its sample fetch at column 1');
  assert.is(raw(` path_beg /${'a'.repeat(1024)}`), 'the raw ACL is longer than 1024 characters at column 1');
  assert.is(err('has cookie a and < path_beg /a #>'), 'the raw ACL contains an unquoted "#", which starts a comment in HAProxy at column 18');
});
errors.run();

const dash = suite('values starting with "-"');
dash('get "--" so HAProxy does not read them as flags', () => {
  assert.equal(dnf('user-agent = -x'), [[pos("req.fhdr(User-Agent) -m sub -- '-x'")]]);
  assert.equal(dnf('host != "-.a"'), [[neg("req.hdr(host),field(1,:) -i -- '-.a'")]]);
  assert.equal(dnf('cookie c has -'), [[pos("req.cook(c) -m sub -- '-'")]]);
});
dash.run();
