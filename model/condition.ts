// The condition language: Vamp's DSL (`user-agent = Firefox and has cookie beta`) and raw
// HAProxy ACLs (`< path_beg /api >`), compiled to disjunctive normal form because an HAProxy
// `if` cannot nest parentheses: `use_backend b if a !b or c` is all it can say.
// Every spelling Vamp's ConditionDefinitionParser accepts is accepted here with its meaning
// (comparison synonyms, `user.agent`, `contains`, `is`, `!`/`not`/`misses` negations, the
// user-agent name table); where Weir means something else it is said in GATEWAY-REFERENCE.md.
// Public entry points (stable, shared with release policies): parseCondition -> ConditionAst,
// compileCondition -> CompiledCondition (DNF of ACL literals).
import type { AclLiteral, CompiledCondition } from './gateway.js';
import { checkQuotedValue, checkRawAcl, COOKIE_NAME, HEADER_NAME, quoteAclValue } from './acl-text.js';

export const MAX_CONDITION_LENGTH = 4096;
export const MAX_CLAUSES = 64;
export const MAX_LITERALS_PER_CLAUSE = 32;
const MAX_DEPTH = 32;

/**
 * Vamp's user-agent names (its `user-agents.yml`): `user-agent = <name>` with one of these names,
 * in any case, means all of the substrings; any other value is one substring, as written.
 */
export const USER_AGENT_NAMES: Readonly<Record<string, readonly string[]>> = {
  chrome: ['Chrome'],
  firefox: ['Firefox'],
  safari: ['Safari', 'Version'],
  edge: ['Edge'],
  ie: ['MSIE'],
};

/** `user-agent`, `user.agent`, `useragent` in any case (Vamp: "user" ["-" | "."] "agent"). */
const USER_AGENT_WORD = /^user[-.]?agent$/i;

export type ConditionAst =
  | { kind: 'const'; value: boolean }
  | { kind: 'literal'; acl: string }
  | { kind: 'not'; operand: ConditionAst }
  | { kind: 'and' | 'or'; operands: ConditionAst[] };

export type CompileResult = { ok: true; condition: CompiledCondition } | { ok: false; message: string };

class ConditionSyntaxError extends Error {}

type Token =
  | { kind: 'and' | 'or' | 'not' | 'lparen' | 'rparen' | 'eof'; text: string; col: number }
  | { kind: 'word'; text: string; col: number }
  | { kind: 'raw'; text: string; col: number };

const WORD_CHAR = /[A-Za-z0-9_.:-]/;

/**
 * Tokenizer with two modes: `next()` for the expression level and `readValue()` after a
 * comparison, where an unquoted value runs to the next operator or parenthesis.
 */
class Lexer {
  pos = 0;
  constructor(readonly src: string) {}

  private fail(message: string, col: number): never {
    throw new ConditionSyntaxError(`${message} at column ${col}`);
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && this.src[this.pos] === ' ') this.pos++;
  }

  peek(): Token {
    const save = this.pos;
    const t = this.next();
    this.pos = save;
    return t;
  }

  next(): Token {
    this.skipSpace();
    const col = this.pos + 1;
    const s = this.src;
    if (this.pos >= s.length) return { kind: 'eof', text: 'end of condition', col };
    const c = s[this.pos] as string;
    const two = s.slice(this.pos, this.pos + 2);
    if (two === '&&' || two === '||') {
      this.pos += 2;
      return { kind: two === '&&' ? 'and' : 'or', text: two, col };
    }
    if (c === '&' || c === '|') {
      this.pos++;
      return { kind: c === '&' ? 'and' : 'or', text: c, col };
    }
    if (c === '(' || c === ')') {
      this.pos++;
      return { kind: c === '(' ? 'lparen' : 'rparen', text: c, col };
    }
    if (two === '!=' || two === '==') {
      this.pos += 2;
      return { kind: 'word', text: two, col };
    }
    if (c === '!') {
      this.pos++;
      return { kind: 'not', text: c, col };
    }
    if (c === '=') {
      this.pos++;
      return { kind: 'word', text: c, col };
    }
    if (c === '<') return this.readRaw(col);
    if (WORD_CHAR.test(c)) {
      const start = this.pos;
      while (this.pos < s.length && WORD_CHAR.test(s[this.pos] as string)) this.pos++;
      const text = s.slice(start, this.pos);
      const lower = text.toLowerCase();
      if (lower === 'and' || lower === 'or' || lower === 'not') return { kind: lower, text, col };
      return { kind: 'word', text, col };
    }
    this.fail(`unexpected ${JSON.stringify(c)}`, col);
  }

  /** `< raw acl >`: ends at the first `>` outside quotes (HAProxy quoting: `\` escapes outside single quotes). */
  private readRaw(col: number): Token {
    const s = this.src;
    let quote = '';
    for (let i = this.pos + 1; i < s.length; i++) {
      const c = s[i] as string;
      if (c === '\\' && quote !== "'") i++;
      else if (quote !== '') {
        if (c === quote) quote = '';
      } else if (c === "'" || c === '"') quote = c;
      else if (c === '>') {
        const text = s.slice(this.pos + 1, i).trim();
        this.pos = i + 1;
        const problem = checkRawAcl(text);
        if (problem) this.fail(problem, col);
        return { kind: 'raw', text, col };
      }
    }
    // No closing `>` outside quotes: report what is wrong with the text up to the last `>`.
    const last = s.lastIndexOf('>');
    if (last > this.pos) {
      const problem = checkRawAcl(s.slice(this.pos + 1, last).trim());
      if (problem) this.fail(problem, col);
    }
    this.fail('unterminated raw ACL: "<" without a closing ">"', col);
  }

  /** A value after `=`, `has`, ...: quoted, or unquoted up to the next operator/parenthesis. */
  readValue(): { text: string; col: number } {
    this.skipSpace();
    const s = this.src;
    const col = this.pos + 1;
    const q = s[this.pos];
    if (q === "'" || q === '"') {
      // A doubled quote inside the quotes stands for one: 'it''s' and "a ""b"" c" (Vamp).
      let text = '';
      let i = this.pos + 1;
      for (;;) {
        const end = s.indexOf(q, i);
        if (end < 0) this.fail(`unterminated quoted value`, col);
        text += s.slice(i, end);
        if (s[end + 1] === q) {
          text += q;
          i = end + 2;
          continue;
        }
        this.pos = end + 1;
        return { text, col };
      }
    }
    let end = this.pos;
    while (end < s.length) {
      const c = s[end] as string;
      if (c === '&' || c === '|' || c === '(' || c === ')') break;
      // `and` / `or` end the value only as whole words.
      if (c === ' ') {
        const m = /^ +(and|or)(?=[ (!<]|$)/i.exec(s.slice(end));
        if (m) break;
      }
      end++;
    }
    const text = s.slice(this.pos, end).trim();
    if (text === '') this.fail('missing value', col);
    this.pos = end;
    return { text, col };
  }
}

function describe(t: Token): string {
  return t.kind === 'eof' ? 'end of condition' : JSON.stringify(t.text.length > 40 ? `${t.text.slice(0, 40)}…` : t.text);
}

class Parser {
  private depth = 0;
  constructor(private readonly lx: Lexer) {}

  private unexpected(t: Token, expected?: string): never {
    throw new ConditionSyntaxError(`unexpected ${describe(t)} at column ${t.col}${expected ? `, expected ${expected}` : ''}`);
  }

  parse(): ConditionAst {
    const ast = this.parseOr();
    const t = this.lx.next();
    if (t.kind !== 'eof') this.unexpected(t, t.kind === 'rparen' ? undefined : '"and", "or" or the end of the condition');
    return ast;
  }

  private enter(t: Token): void {
    if (++this.depth > MAX_DEPTH) throw new ConditionSyntaxError(`the condition nests deeper than ${MAX_DEPTH} levels at column ${t.col}`);
  }

  private parseOr(): ConditionAst {
    const operands = [this.parseAnd()];
    while (this.lx.peek().kind === 'or') {
      this.lx.next();
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? (operands[0] as ConditionAst) : { kind: 'or', operands };
  }

  private parseAnd(): ConditionAst {
    const operands = [this.parseUnary()];
    while (this.lx.peek().kind === 'and') {
      this.lx.next();
      operands.push(this.parseUnary());
    }
    return operands.length === 1 ? (operands[0] as ConditionAst) : { kind: 'and', operands };
  }

  private parseUnary(): ConditionAst {
    const t = this.lx.peek();
    if (t.kind === 'not') {
      this.lx.next();
      this.enter(t);
      const operand = this.parseUnary();
      this.depth--;
      return { kind: 'not', operand };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): ConditionAst {
    const t = this.lx.next();
    switch (t.kind) {
      case 'lparen': {
        this.enter(t);
        const inner = this.parseOr();
        this.depth--;
        const close = this.lx.next();
        if (close.kind !== 'rparen') this.unexpected(close, '")"');
        return inner;
      }
      case 'raw':
        return { kind: 'literal', acl: t.text };
      case 'word':
        return this.parseTerm(t);
      default:
        this.unexpected(t, 'a condition');
    }
  }

  private expectWord(what: string): Token {
    const t = this.lx.next();
    if (t.kind !== 'word') this.unexpected(t, what);
    return t;
  }

  /** The value as read, checked for what may be quoted on a config line. */
  private rawValue(): string {
    const v = this.lx.readValue();
    const problem = checkQuotedValue(v.text);
    if (problem) throw new ConditionSyntaxError(`${problem} at column ${v.col}`);
    return v.text;
  }

  private name(kind: 'cookie' | 'header'): string {
    // A header may be called "and", "or" or "not": here they are names, not operators.
    const t = this.lx.next();
    if (t.kind !== 'word' && t.kind !== 'and' && t.kind !== 'or' && t.kind !== 'not') this.unexpected(t, `a ${kind} name`);
    const re = kind === 'cookie' ? COOKIE_NAME : HEADER_NAME;
    if (!re.test(t.text)) {
      const allowed = kind === 'cookie' ? 'letters, digits, "_", "-" and "."' : 'letters, digits, "_" and "-"';
      throw new ConditionSyntaxError(`invalid ${kind} name ${describe(t)} at column ${t.col}: use ${allowed}, at most 128 characters`);
    }
    return t.text;
  }

  /**
   * After `user-agent` or `host`: true for a negation. Vamp's ComparisonOperator:
   * `=`, `==`, `is`, `has`, `contains` compare; `!=`, `!`, `not`, `misses` negate.
   */
  private comparison(): boolean {
    const op = this.lx.next();
    if (op.kind === 'not') return true;
    if (op.kind === 'word') {
      const o = op.text.toLowerCase();
      if (o === '=' || o === '==' || o === 'is' || o === 'has' || o === 'contains') return false;
      if (o === '!=' || o === 'misses') return true;
    }
    this.unexpected(op, '"=", "==", "!=", "is", "not", "has", "contains" or "misses"');
  }

  /** After a cookie or header name: `has` / `contains` (true) or `misses` (false). */
  private contains(): boolean {
    const op = this.expectWord('"has", "contains" or "misses"');
    const o = op.text.toLowerCase();
    if (o === 'has' || o === 'contains') return true;
    if (o === 'misses') return false;
    this.unexpected(op, '"has", "contains" or "misses"');
  }

  private parseTerm(t: Token): ConditionAst {
    const kw = t.text.toLowerCase();
    const maybeNot = (negate: boolean, ast: ConditionAst): ConditionAst => (negate ? { kind: 'not', operand: ast } : ast);
    if (USER_AGENT_WORD.test(t.text)) {
      const negate = this.comparison();
      return maybeNot(negate, userAgent(this.rawValue()));
    }
    switch (kw) {
      case 'true':
      case 'false':
        return { kind: 'const', value: kw === 'true' };
      case 'host': {
        const negate = this.comparison();
        return maybeNot(negate, { kind: 'literal', acl: hostAcl(this.rawValue()) });
      }
      case 'has':
      case 'contains':
      case 'misses': {
        const what = this.expectWord('"cookie" or "header"');
        const w = what.text.toLowerCase();
        if (w !== 'cookie' && w !== 'header') this.unexpected(what, '"cookie" or "header"');
        const n = this.name(w);
        const acl = w === 'cookie' ? `req.cook(${n}) -m found` : `req.hdr_cnt(${n}) gt 0`;
        return maybeNot(kw === 'misses', { kind: 'literal', acl });
      }
      case 'cookie':
      case 'header': {
        const n = this.name(kw);
        const has = this.contains();
        const fetch = kw === 'cookie' ? `req.cook(${n})` : `req.fhdr(${n})`;
        return maybeNot(!has, { kind: 'literal', acl: `${fetch} -m sub ${pattern(this.rawValue())}` });
      }
      default:
        this.notATerm(t);
    }
  }

  /** An unknown word: when the text from here reads as a raw HAProxy ACL, say how to write one. */
  private notATerm(t: Token): never {
    const expected = 'a condition ("user-agent", "host", "has", "misses", "cookie", "header", "true", "false", "<...>")';
    const rest = this.lx.src.slice(t.col - 1);
    const candidate = (/^.*?(?= +(?:and|or)(?=[ (!<]|$)| *(?:&&|\|\|)|$)/i.exec(rest)?.[0] ?? rest).trim();
    if (looksLikeRawAcl(candidate)) {
      throw new ConditionSyntaxError(
        `unexpected ${describe(t)} at column ${t.col}, expected ${expected}; if ${quoteText(candidate)} is a raw HAProxy ACL, write it in brackets: "< ${candidate} >" (Weir never passes unbracketed text to HAProxy)`,
      );
    }
    this.unexpected(t, expected);
  }
}

const BARE_FETCHES = new Set(['src', 'dst', 'method', 'path', 'url', 'base', 'query', 'hdr', 'cook', 'ssl_fc', 'always_true', 'always_false']);
const WEIR_KEYWORD = /^(?:not|has|contains|misses|cookie|header|host|true|false|user[-.]?agent)$/i;

/**
 * Whether unbracketed text reads as a raw HAProxy ACL (what Vamp passed on unparsed): a fetch
 * name with arguments, "_" or "." (hdr_sub(...), path_beg, req.hdr) or a common bare one (src,
 * method, ...), then a pattern, and valid as `< … >`. Used for hints and by `weir import vamp`.
 */
export function looksLikeRawAcl(text: string): boolean {
  const t = text.trim();
  const fetch = /^[a-z][a-z0-9_.]*/.exec(t)?.[0] ?? '';
  if (fetch === '' || WEIR_KEYWORD.test(fetch)) return false;
  const fetchLike = /[_.]/.test(fetch) || t[fetch.length] === '(' || BARE_FETCHES.has(fetch);
  return fetchLike && / |\(/.test(t) && !/[<>]/.test(t) && checkRawAcl(t) === null;
}

function quoteText(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}

/** An ACL pattern: HAProxy-quoted, after `--` when it starts with "-" (HAProxy would take it for a flag, quotes or not). */
function pattern(value: string): string {
  return `${value.startsWith('-') ? '-- ' : ''}${quoteAclValue(value)}`;
}

/** `user-agent = v`: Vamp's name table, else one case-sensitive substring. */
function userAgent(value: string): ConditionAst {
  const key = value.toLowerCase();
  const subs = Object.hasOwn(USER_AGENT_NAMES, key) ? (USER_AGENT_NAMES[key] as readonly string[]) : [value];
  const lits: ConditionAst[] = subs.map((v) => ({ kind: 'literal', acl: `req.fhdr(User-Agent) -m sub ${pattern(v)}` }));
  return lits.length === 1 ? (lits[0] as ConditionAst) : { kind: 'and', operands: lits };
}

/**
 * `host = h`: the Host header without its port, case-insensitively (RFC 9110: host names are
 * case-insensitive; clients add the port only when it is not the scheme's default). A value with
 * a ":" (a port, an IPv6 literal) compares the whole header, still ignoring case.
 */
function hostAcl(value: string): string {
  return value.includes(':') ? `req.hdr(host) -i ${pattern(value)}` : `req.hdr(host),field(1,:) -i ${pattern(value)}`;
}

/** Parses the DSL to an AST; throws ConditionSyntaxError. */
function parseAst(source: string): ConditionAst {
  return new Parser(new Lexer(source)).parse();
}

class TooComplex extends Error {}

type Clause = AclLiteral[];

function literalKey(l: AclLiteral): string {
  return `${l.negate ? '!' : ' '}${l.acl}`;
}

/** Drops duplicate literals; returns null for a contradiction (`a and not a`). */
function tidyClause(clause: Clause): Clause | null {
  const seen = new Map<string, AclLiteral>();
  for (const l of clause) {
    if (seen.has((l.negate ? ' ' : '!') + l.acl)) return null;
    seen.set(literalKey(l), l);
  }
  if (seen.size > MAX_LITERALS_PER_CLAUSE) throw new TooComplex();
  return [...seen.values()];
}

function tidyClauses(clauses: Clause[]): Clause[] {
  const out: Clause[] = [];
  const keys = new Set<string>();
  for (const c of clauses) {
    const t = tidyClause(c);
    if (!t) continue;
    const key = t.map(literalKey).sort().join('\n');
    if (keys.has(key)) continue;
    keys.add(key);
    out.push(t);
    // A clause with no literals is `true`: nothing else matters.
    if (t.length === 0) return [t];
  }
  if (out.length > MAX_CLAUSES) throw new TooComplex();
  return out;
}

/** DNF of `ast` (negated when `negate`), pushing negation inward with De Morgan's laws. */
function toDnf(ast: ConditionAst, negate: boolean): Clause[] {
  switch (ast.kind) {
    case 'const':
      return ast.value !== negate ? [[]] : [];
    case 'literal':
      return [[{ negate, acl: ast.acl }]];
    case 'not':
      return toDnf(ast.operand, !negate);
    case 'and':
    case 'or': {
      const isOr = (ast.kind === 'or') !== negate;
      const parts = ast.operands.map((o) => toDnf(o, negate));
      if (isOr) return tidyClauses(parts.flat());
      let acc: Clause[] = [[]];
      for (const part of parts) {
        const next: Clause[] = [];
        for (const a of acc) for (const b of part) next.push([...a, ...b]);
        acc = tidyClauses(next);
      }
      return acc;
    }
  }
}

/** Compiles a condition; the message names the column for syntax errors. */
export function compileCondition(source: string): CompileResult {
  if (source.length > MAX_CONDITION_LENGTH) return { ok: false, message: `the condition is longer than ${MAX_CONDITION_LENGTH} characters` };
  const ctl = /[\p{Cc}\u2028\u2029]/u.exec(source);
  if (ctl) return { ok: false, message: `control character (newline, tab, NUL, ...) at column ${ctl.index + 1}` };
  if (source.trim() === '') return { ok: false, message: 'the condition is empty' };
  try {
    const ast = parseAst(source);
    const clauses = toDnf(ast, false);
    return { ok: true, condition: { source, clauses } };
  } catch (err) {
    if (err instanceof TooComplex)
      return { ok: false, message: `the condition is too complex: it expands to more than ${MAX_CLAUSES} alternatives or ${MAX_LITERALS_PER_CLAUSE} tests in one alternative` };
    if (err instanceof ConditionSyntaxError) return { ok: false, message: err.message };
    throw err;
  }
}

/** Exposed for tests and tooling: the parse tree before DNF conversion. */
export function parseCondition(source: string): { ok: true; ast: ConditionAst } | { ok: false; message: string } {
  try {
    return { ok: true, ast: parseAst(source) };
  } catch (err) {
    if (err instanceof ConditionSyntaxError) return { ok: false, message: err.message };
    throw err;
  }
}
