// The condition expression language of release policies: comparisons over both sides of the
// same measurement window, e.g. `target.errorRate <= source.errorRate * 1.2 + 0.001`,
// `target.p95 <= max(source.p95 * 1.25, 50ms)`, `health >= baselines.health` (Vamp's form; a bare
// metric is the target's). A small Pratt parser with type checking at parse time; evaluation
// walks the tree. Nothing is ever handed to `eval` or `Function`.

export const METRICS = ['requests', 'errors', 'errorRate', 'rate', 'p50', 'p95', 'p99', 'health'] as const;
export type MetricName = (typeof METRICS)[number];
export type Side = 'source' | 'target';

export const MAX_EXPRESSION_LENGTH = 1024;
const MAX_NODES = 256;
const MAX_DEPTH = 32;

type CompareOp = '<' | '<=' | '>' | '>=' | '==' | '!=';
type ArithOp = '+' | '-' | '*' | '/';
export type FunctionName = 'min' | 'max' | 'abs' | 'lower' | 'upper';

interface Span {
  /** 1-based column of the node's first character. */
  col: number;
  /** The node's source text (for "last values" in status). */
  text: string;
}

export type Expr =
  | (Span & { kind: 'number'; value: number })
  | (Span & { kind: 'bool'; value: boolean })
  | (Span & { kind: 'metric'; side: Side; metric: MetricName })
  | (Span & { kind: 'baseline'; name: string })
  | (Span & { kind: 'negate'; operand: Expr })
  | (Span & { kind: 'not'; operand: Expr })
  | (Span & { kind: 'arith'; op: ArithOp; left: Expr; right: Expr })
  | (Span & { kind: 'compare'; op: CompareOp; left: Expr; right: Expr })
  | (Span & { kind: 'logic'; op: 'and' | 'or'; left: Expr; right: Expr })
  | (Span & { kind: 'call'; fn: FunctionName; args: Expr[] });

export interface ExpressionError {
  /** 1-based column in the expression text. */
  column: number;
  message: string;
}

export type ParseExpressionResult = { ok: true; expr: Expr; sides: Side[]; baselines: string[] } | { ok: false; error: ExpressionError };

export interface ParseExpressionOptions {
  /** Baseline names the policy defines; `baselines.<other>` is an error. */
  baselines: ReadonlySet<string>;
}

type TokKind = 'number' | 'ident' | 'op' | 'lparen' | 'rparen' | 'comma' | 'eof';
interface Token {
  kind: TokKind;
  text: string;
  /** 0-based offset. */
  pos: number;
  value?: number;
}

class ExprSyntaxError extends Error {
  constructor(
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}

const OPS = ['<=', '>=', '==', '!=', '&&', '||', '<', '>', '+', '-', '*', '/', '!', '='];
const UNIT_SCALE: Record<string, number> = { ms: 0.001, s: 1, '%': 0.01 };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c < ' ' || c === '\u007f') throw new ExprSyntaxError(i + 1, 'control characters are not allowed');
    const start = i;
    if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
      if (!m) throw new ExprSyntaxError(i + 1, `unexpected ${JSON.stringify(c)}`);
      i += m[0].length;
      let value = Number(m[0]);
      const unit = /^(ms|s|%)(?![A-Za-z0-9_])/.exec(src.slice(i));
      if (unit) {
        value *= UNIT_SCALE[unit[1] as string] as number;
        i += (unit[1] as string).length;
      } else if (/^[A-Za-z_]/.test(src.slice(i))) {
        throw new ExprSyntaxError(i + 1, `unknown unit after the number ${m[0]}: use ms, s or % (or none)`);
      }
      if (!Number.isFinite(value)) throw new ExprSyntaxError(start + 1, `number ${m[0]} is out of range`);
      out.push({ kind: 'number', text: src.slice(start, i), pos: start, value });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const word = (/^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(src.slice(i)) as RegExpExecArray)[0];
      i += word.length;
      out.push({ kind: 'ident', text: word, pos: start });
      continue;
    }
    if (c === '(' || c === ')' || c === ',') {
      i++;
      out.push({ kind: c === '(' ? 'lparen' : c === ')' ? 'rparen' : 'comma', text: c, pos: start });
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ExprSyntaxError(i + 1, `unexpected character ${JSON.stringify(c)}`);
    if (op === '=') throw new ExprSyntaxError(i + 1, 'use == to compare (a single = is not an operator here)');
    i += op.length;
    out.push({ kind: 'op', text: op, pos: start });
  }
  out.push({ kind: 'eof', text: 'end of expression', pos: src.length });
  return out;
}

type Type = 'number' | 'boolean';

const COMPARE: readonly string[] = ['<', '<=', '>', '>=', '==', '!='];
const FUNCTIONS: readonly FunctionName[] = ['min', 'max', 'abs', 'lower', 'upper'];
/** Metrics that are a share of requests, for which lower()/upper() give a confidence bound. */
const RATIOS: readonly MetricName[] = ['errorRate', 'health'];
type Percentile = 'p50' | 'p95' | 'p99';
/** Latency percentiles, for which lower()/upper() give the bounds of their 95 % interval. */
const PERCENTILES: readonly MetricName[] = ['p50', 'p95', 'p99'];
/** z for the two-sided 95 % Wilson score interval of lower()/upper(). */
export const BOUND_Z = 1.96;

/** Binding powers: or < and < comparison < + - < * /; `not` and unary `-` are prefixes. */
function infixPower(t: Token): number {
  if (t.kind === 'op') {
    if (t.text === '||') return 1;
    if (t.text === '&&') return 2;
    if (COMPARE.includes(t.text)) return 4;
    if (t.text === '+' || t.text === '-') return 5;
    if (t.text === '*' || t.text === '/') return 6;
  }
  if (t.kind === 'ident') {
    const w = t.text.toLowerCase();
    if (w === 'or') return 1;
    if (w === 'and') return 2;
  }
  return 0;
}

class Parser {
  private i = 0;
  private nodes = 0;
  private readonly sides = new Set<Side>();
  private readonly baselinesUsed = new Set<string>();

  constructor(
    private readonly src: string,
    private readonly toks: Token[],
    private readonly opts: ParseExpressionOptions,
  ) {}

  run(): { expr: Expr; sides: Side[]; baselines: string[] } {
    const expr = this.expr(0, 0);
    const t = this.peek();
    if (t.kind !== 'eof') throw new ExprSyntaxError(t.pos + 1, `unexpected ${describe(t)}: expected an operator or the end of the expression`);
    if (typeOf(expr) !== 'boolean') throw new ExprSyntaxError(1, 'the expression must be a comparison (e.g. target.errorRate <= source.errorRate * 1.2), not a number');
    return { expr, sides: [...this.sides].sort(), baselines: [...this.baselinesUsed].sort() };
  }

  private peek(): Token {
    return this.toks[this.i] as Token;
  }

  private take(): Token {
    return this.toks[this.i++] as Token;
  }

  private node<E extends Expr>(e: E): E {
    if (++this.nodes > MAX_NODES) throw new ExprSyntaxError(e.col, `the expression is too complex (more than ${MAX_NODES} parts)`);
    return e;
  }

  private span(startPos: number, endPos: number): Span {
    return { col: startPos + 1, text: this.src.slice(startPos, endPos).trim() };
  }

  private endPos(): number {
    const prev = this.toks[this.i - 1];
    return prev ? prev.pos + prev.text.length : 0;
  }

  private expr(minPower: number, depth: number): Expr {
    if (depth > MAX_DEPTH) throw new ExprSyntaxError(this.peek().pos + 1, `the expression nests deeper than ${MAX_DEPTH} levels`);
    const start = this.peek().pos;
    let left = this.prefix(depth);
    for (;;) {
      const t = this.peek();
      const power = infixPower(t);
      if (power === 0 || power <= minPower) break;
      this.take();
      const right = this.expr(power, depth + 1);
      left = this.combine(t, left, right, start);
      // Comparisons do not chain: `a < b < c` is almost always a mistake.
      if (power === 4 && infixPower(this.peek()) === 4) throw new ExprSyntaxError(this.peek().pos + 1, 'comparisons cannot be chained: combine them with and / or');
    }
    return left;
  }

  private combine(t: Token, left: Expr, right: Expr, start: number): Expr {
    const span = this.span(start, this.endPos());
    const op = t.text.toLowerCase();
    if (op === '||' || op === '&&' || op === 'or' || op === 'and') {
      this.expect(left, 'boolean', t, 'the left side of');
      this.expect(right, 'boolean', t, 'the right side of');
      return this.node({ ...span, kind: 'logic', op: op === '||' || op === 'or' ? 'or' : 'and', left, right });
    }
    this.expect(left, 'number', t, 'the left side of');
    this.expect(right, 'number', t, 'the right side of');
    if (COMPARE.includes(op)) return this.node({ ...span, kind: 'compare', op: op as CompareOp, left, right });
    return this.node({ ...span, kind: 'arith', op: op as ArithOp, left, right });
  }

  private expect(e: Expr, want: Type, t: Token, where: string): void {
    if (typeOf(e) === want) return;
    const hint = want === 'boolean' ? 'a comparison' : 'a number';
    throw new ExprSyntaxError(e.col, `${where} ${JSON.stringify(t.text)} must be ${hint}, found ${JSON.stringify(e.text)}`);
  }

  private prefix(depth: number): Expr {
    const t = this.take();
    switch (t.kind) {
      case 'number':
        return this.node({ ...this.span(t.pos, t.pos + t.text.length), kind: 'number', value: t.value as number });
      case 'lparen': {
        const inner = this.expr(0, depth + 1);
        const close = this.take();
        if (close.kind !== 'rparen') throw new ExprSyntaxError(close.pos + 1, `expected ")" to close the "(" at column ${t.pos + 1}, found ${describe(close)}`);
        return { ...inner, ...this.span(t.pos, close.pos + 1) };
      }
      case 'op': {
        if (t.text === '-') {
          const operand = this.expr(6, depth + 1);
          if (typeOf(operand) !== 'number') throw new ExprSyntaxError(operand.col, `"-" needs a number, found ${JSON.stringify(operand.text)}`);
          return this.node({ ...this.span(t.pos, this.endPos()), kind: 'negate', operand });
        }
        if (t.text === '!') return this.not(t, depth);
        throw new ExprSyntaxError(t.pos + 1, `unexpected ${describe(t)}: expected a number, a metric, a baseline or "("`);
      }
      case 'ident':
        return this.identifier(t, depth);
      default:
        throw new ExprSyntaxError(t.pos + 1, `unexpected ${describe(t)}: expected a number, a metric, a baseline or "("`);
    }
  }

  private not(t: Token, depth: number): Expr {
    // `not` binds tighter than and/or but looser than comparisons: `not a < b` is `not (a < b)`.
    const operand = this.expr(3, depth + 1);
    if (typeOf(operand) !== 'boolean') throw new ExprSyntaxError(operand.col, `${JSON.stringify(t.text)} needs a comparison, found ${JSON.stringify(operand.text)}`);
    return this.node({ ...this.span(t.pos, this.endPos()), kind: 'not', operand });
  }

  private identifier(t: Token, depth: number): Expr {
    const word = t.text;
    const lower = word.toLowerCase();
    const span = this.span(t.pos, t.pos + word.length);
    if (lower === 'true' || lower === 'false') return this.node({ ...span, kind: 'bool', value: lower === 'true' });
    if (lower === 'not') return this.not(t, depth);
    if (lower === 'and' || lower === 'or') throw new ExprSyntaxError(t.pos + 1, `unexpected "${word}": expected a comparison before it`);
    if (this.peek().kind === 'lparen') return this.call(t, depth);
    const parts = word.split('.');
    if (parts[0] === 'baselines') {
      if (parts.length !== 2) throw new ExprSyntaxError(t.pos + 1, `${JSON.stringify(word)}: write baselines.<name>`);
      const name = parts[1] as string;
      if (!this.opts.baselines.has(name)) {
        const known = [...this.opts.baselines];
        throw new ExprSyntaxError(t.pos + 1, `unknown baseline ${JSON.stringify(name)}${known.length ? ` (the policy defines ${known.join(', ')})` : ' (the policy defines no baselines)'}`);
      }
      this.baselinesUsed.add(name);
      return this.node({ ...span, kind: 'baseline', name });
    }
    let side: Side = 'target';
    let metric = word;
    if (parts.length === 2 && (parts[0] === 'source' || parts[0] === 'target')) {
      side = parts[0];
      metric = parts[1] as string;
    } else if (parts.length > 1) {
      throw new ExprSyntaxError(t.pos + 1, `${JSON.stringify(word)}: write source.<metric>, target.<metric>, <metric> (the target's) or baselines.<name>`);
    }
    if (!(METRICS as readonly string[]).includes(metric)) {
      const near = METRICS.find((m) => m.toLowerCase() === metric.toLowerCase());
      throw new ExprSyntaxError(t.pos + 1 + (word.length - metric.length), `unknown metric ${JSON.stringify(metric)}${near ? ` (did you mean ${near}?)` : ''}: metrics are ${METRICS.join(', ')}`);
    }
    this.sides.add(side);
    return this.node({ ...span, kind: 'metric', side, metric: metric as MetricName });
  }

  private call(t: Token, depth: number): Expr {
    const fn = t.text.toLowerCase();
    if (!(FUNCTIONS as readonly string[]).includes(fn)) throw new ExprSyntaxError(t.pos + 1, `unknown function ${JSON.stringify(t.text)}: functions are ${FUNCTIONS.join(', ')}`);
    this.take(); // (
    const args: Expr[] = [];
    if (this.peek().kind !== 'rparen') {
      for (;;) {
        const a = this.expr(0, depth + 1);
        if (typeOf(a) !== 'number') throw new ExprSyntaxError(a.col, `the arguments of ${fn}() must be numbers, found ${JSON.stringify(a.text)}`);
        args.push(a);
        const sep = this.take();
        if (sep.kind === 'rparen') break;
        if (sep.kind !== 'comma') throw new ExprSyntaxError(sep.pos + 1, `expected "," or ")" in ${fn}(), found ${describe(sep)}`);
      }
    } else {
      this.take();
    }
    const unary = fn === 'abs' || fn === 'lower' || fn === 'upper';
    if (unary ? args.length !== 1 : args.length < 2) throw new ExprSyntaxError(t.pos + 1, unary ? `${fn}() takes exactly one argument` : `${fn}() takes at least two arguments`);
    if (fn === 'lower' || fn === 'upper') {
      const a = args[0] as Expr;
      if (a.kind !== 'metric' || !(RATIOS.includes(a.metric) || PERCENTILES.includes(a.metric))) throw new ExprSyntaxError(a.col, `${fn}() takes a ratio or a latency percentile of one side (errorRate, health, p50, p95 or p99, e.g. ${fn}(target.errorRate)): it is the 95 % confidence bound given that side's requests`);
    }
    return this.node({ ...this.span(t.pos, this.endPos()), kind: 'call', fn: fn as FunctionName, args });
  }
}

function describe(t: Token): string {
  return t.kind === 'eof' ? 'end of expression' : JSON.stringify(t.text);
}

export function typeOf(e: Expr): Type {
  switch (e.kind) {
    case 'bool':
    case 'compare':
    case 'logic':
    case 'not':
      return 'boolean';
    default:
      return 'number';
  }
}

export function parseExpression(src: string, opts: ParseExpressionOptions): ParseExpressionResult {
  if (src.length > MAX_EXPRESSION_LENGTH) return { ok: false, error: { column: MAX_EXPRESSION_LENGTH + 1, message: `the expression is longer than ${MAX_EXPRESSION_LENGTH} characters` } };
  if (src.trim() === '') return { ok: false, error: { column: 1, message: 'the expression is empty' } };
  try {
    const toks = tokenize(src);
    const r = new Parser(src, toks, opts).run();
    return { ok: true, ...r };
  } catch (err) {
    if (err instanceof ExprSyntaxError) return { ok: false, error: { column: err.column, message: err.message } };
    throw err;
  }
}

// ---- evaluation ----

/** The figures one side contributes: null where the window has none (no timed request). */
export type SideValues = Record<MetricName, number | null> & {
  /** 95 % intervals of the latency percentiles (lower()/upper() of p50/p95/p99); null without timed requests. */
  latencyBounds?: Partial<Record<Percentile, readonly [number, number]>> | null;
};

export interface EvalEnv {
  source: SideValues;
  target: SideValues;
  baselines: ReadonlyMap<string, number>;
}

/** One comparison as evaluated: what status shows as "value", "threshold" and the outcome. */
export interface Comparison {
  text: string;
  left: number;
  op: CompareOp;
  right: number;
  holds: boolean;
}

export type EvalResult =
  | { kind: 'value'; holds: boolean; comparisons: Comparison[] }
  /** A referenced figure is missing (e.g. no timed request for p95): not a verdict. */
  | { kind: 'missing'; what: string[] }
  /** Arithmetic that has no answer (division by zero). */
  | { kind: 'undefined'; reason: string };

class Missing extends Error {
  constructor(readonly what: string) {
    super(what);
  }
}
class Undefined extends Error {}

export function evaluate(expr: Expr, env: EvalEnv): EvalResult {
  const comparisons: Comparison[] = [];
  const missing = new Set<string>();
  const num = (e: Expr): number => {
    switch (e.kind) {
      case 'number':
        return e.value;
      case 'metric': {
        const v = env[e.side][e.metric];
        if (v === null || v === undefined) {
          missing.add(`${e.side}.${e.metric}`);
          throw new Missing(`${e.side}.${e.metric}`);
        }
        return v;
      }
      case 'baseline': {
        const v = env.baselines.get(e.name);
        if (v === undefined) throw new Undefined(`baseline ${e.name} has no numeric value`);
        return v;
      }
      case 'negate':
        return -num(e.operand);
      case 'arith': {
        const l = num(e.left);
        const r = num(e.right);
        if (e.op === '/' && r === 0) throw new Undefined(`division by zero in ${e.text}`);
        const v = e.op === '+' ? l + r : e.op === '-' ? l - r : e.op === '*' ? l * r : l / r;
        if (!Number.isFinite(v)) throw new Undefined(`${e.text} is not a finite number`);
        return v;
      }
      case 'call': {
        if (e.fn === 'lower' || e.fn === 'upper') {
          const m = e.args[0] as Extract<Expr, { kind: 'metric' }>;
          const p = num(m);
          if (PERCENTILES.includes(m.metric)) {
            const b = env[m.side].latencyBounds?.[m.metric as Percentile];
            if (!b) {
              missing.add(`${e.fn}(${m.side}.${m.metric})`);
              throw new Missing(`${e.fn}(${m.side}.${m.metric})`);
            }
            return e.fn === 'lower' ? Math.min(b[0], p) : Math.max(b[1], p);
          }
          const n = env[m.side].requests;
          if (n === null || n === undefined || n <= 0) {
            missing.add(`${m.side}.requests`);
            throw new Missing(`${m.side}.requests`);
          }
          const [lo, hi] = wilson(p, n);
          return e.fn === 'lower' ? lo : hi;
        }
        const vs = e.args.map(num);
        return e.fn === 'abs' ? Math.abs(vs[0] as number) : e.fn === 'min' ? Math.min(...vs) : Math.max(...vs);
      }
      default:
        throw new Error(`not a number: ${e.kind}`);
    }
  };
  const bool = (e: Expr): boolean => {
    switch (e.kind) {
      case 'bool':
        return e.value;
      case 'not':
        return !bool(e.operand);
      case 'logic': {
        // Both sides are evaluated so status can show every comparison's values; a side whose
        // figure is missing only matters when the other side does not decide the outcome.
        const side = (x: Expr): boolean | Missing => {
          try {
            return bool(x);
          } catch (err) {
            if (err instanceof Missing) return err;
            throw err;
          }
        };
        const l = side(e.left);
        const r = side(e.right);
        const decider = e.op === 'or';
        if (l === decider || r === decider) return decider;
        if (l instanceof Missing) throw l;
        if (r instanceof Missing) throw r;
        return e.op === 'or' ? l || r : l && r;
      }
      case 'compare': {
        const left = num(e.left);
        const right = num(e.right);
        const holds = compare(e.op, left, right);
        comparisons.push({ text: e.text, left, op: e.op, right, holds });
        return holds;
      }
      default:
        throw new Error(`not a comparison: ${e.kind}`);
    }
  };
  try {
    const holds = bool(expr);
    return { kind: 'value', holds, comparisons };
  } catch (err) {
    if (err instanceof Missing) return { kind: 'missing', what: [...missing] };
    if (err instanceof Undefined) return { kind: 'undefined', reason: err.message };
    throw err;
  }
}

/** The 95 % Wilson score interval of a proportion `p` observed over `n` trials. */
export function wilson(p: number, n: number, z = BOUND_Z): [number, number] {
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  // At p = 0 (p = 1) the bound is exactly 0 (1); floating point would leave ~1e-18 there.
  return [p <= 0 ? 0 : Math.max(0, centre - half), p >= 1 ? 1 : Math.min(1, centre + half)];
}

function compare(op: CompareOp, l: number, r: number): boolean {
  switch (op) {
    case '<':
      return l < r;
    case '<=':
      return l <= r;
    case '>':
      return l > r;
    case '>=':
      return l >= r;
    case '==':
      return l === r;
    case '!=':
      return l !== r;
  }
}
