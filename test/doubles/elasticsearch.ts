/**
 * Contract double of the Elasticsearch 8.x REST surface that the official 8.x client and Weir use.
 * Behaviour follows the ES reference docs ("Bulk API", "Index templates", "Search API", "Aggregations",
 * "Common options / Content-type and compatibility"); each handler names its source. It is not ES: search
 * is exact (percentiles are exact, not TDigest) and documents are visible at once (as if refreshed).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Doc = Record<string, unknown>;

export interface EsDoubleOptions {
  port?: number;
  version?: string;
}

interface Fault {
  status: 429 | 500 | 502 | 503;
  remaining: number;
}

const PRODUCT_HEADERS = { 'x-elastic-product': 'Elasticsearch', 'content-type': 'application/json' };

function esError(status: number, type: string, reason: string, extra: Doc = {}): Doc {
  // Error body shape: {"error":{"root_cause":[{type,reason}],type,reason},"status":N} (ES REST error responses).
  return { error: { root_cause: [{ type, reason, ...extra }], type, reason, ...extra }, status };
}

export class ElasticsearchDouble {
  readonly indices = new Map<string, Map<string, Doc>>();
  readonly templates = new Map<string, Doc>();
  /** Counts per endpoint kind, for assertions ("bulk", "search", "template", ...). */
  readonly requests = new Map<string, number>();
  /** Every `_search` as received: target, URL parameters and body. */
  readonly searches: Array<{ index: string; params: Record<string, string>; body: Doc }> = [];
  /** Every bulk item result, in order: what the client saw. */
  readonly bulkItemStatuses: number[] = [];
  latencyMs = 0;
  private itemFaults = 0;
  private requestFault: Fault | null = null;
  private held: Array<() => void> | null = null;
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  private seq = 0;
  port = 0;

  constructor(private readonly opts: EsDoubleOptions = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port || this.opts.port || 0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the listener and every connection: the client sees connection refused/reset, like a dead node. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.releaseHeld();
    await new Promise<void>((r) => server.close(() => r()));
  }

  /** The next `n` bulk items (across requests) fail with per-item 429 es_rejected_execution_exception. */
  rejectNextItems(n: number): void {
    this.itemFaults = n;
  }

  /** The next `n` requests of any kind fail as a whole with `status` (429 or 5xx). */
  failNextRequests(n: number, status: Fault['status'] = 503): void {
    this.requestFault = { status, remaining: n };
  }

  /** Holds every bulk request until `release()`: a stuck/slow cluster. */
  holdBulk(): void {
    this.held ??= [];
  }

  release(): void {
    this.releaseHeld();
  }

  heldCount(): number {
    return this.held?.length ?? 0;
  }

  private releaseHeld(): void {
    const h = this.held;
    this.held = null;
    for (const go of h ?? []) go();
  }

  docs(indexPattern = '*'): Array<{ index: string; id: string; source: Doc }> {
    const out: Array<{ index: string; id: string; source: Doc }> = [];
    for (const name of this.resolve(indexPattern)) for (const [id, source] of this.indices.get(name)!) out.push({ index: name, id, source });
    return out;
  }

  private count(kind: string): void {
    this.requests.set(kind, (this.requests.get(kind) ?? 0) + 1);
  }

  private resolve(pattern: string): string[] {
    const out = new Set<string>();
    for (const part of pattern.split(',')) {
      const re = new RegExp(`^${part.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
      for (const name of this.indices.keys()) if (re.test(name)) out.add(name);
    }
    return [...out].sort();
  }

  private send(res: ServerResponse, status: number, body?: unknown): void {
    if (res.destroyed) return;
    res.writeHead(status, PRODUCT_HEADERS);
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';

    // REST API compatibility: ES 8 accepts compatible-with=7|8 and rejects others (media_type_header_exception).
    for (const h of [req.headers['content-type'], req.headers.accept]) {
      const m = typeof h === 'string' ? /compatible-with=(\d+)/.exec(h) : null;
      if (m && m[1] !== '8' && m[1] !== '7') {
        return this.send(res, 400, esError(400, 'media_type_header_exception', `Invalid media-type value on headers [Accept, Content-Type]; compatible-with=${m[1]} is not supported`));
      }
    }
    if (this.requestFault && this.requestFault.remaining > 0) {
      this.requestFault.remaining -= 1;
      const s = this.requestFault.status;
      this.count('fault');
      return this.send(
        res,
        s,
        s === 429
          ? esError(429, 'es_rejected_execution_exception', 'rejected execution of coordinating operation')
          : esError(s, 'cluster_block_exception', 'blocked by: [SERVICE_UNAVAILABLE/2/no master];'),
      );
    }
    let body: Doc = {};
    try {
      if (raw !== '' && !(path.at(-1) === '_bulk')) body = JSON.parse(raw) as Doc;
    } catch {
      return this.send(res, 400, esError(400, 'parse_exception', 'request body is required or invalid JSON'));
    }

    try {
      if (path.length === 0 && (method === 'GET' || method === 'HEAD')) return this.info(res);
      if (path[0] === '_index_template' && path[1]) return this.template(method, path[1], body, res);
      if (path.at(-1) === '_bulk' && (method === 'POST' || method === 'PUT')) return await this.bulk(path.length === 2 ? path[0]! : null, raw, res);
      if (path.at(-1) === '_search' && (method === 'POST' || method === 'GET')) return this.search(path.length === 2 ? path[0]! : '*', body, res, url.searchParams);
      if (path.at(-1) === '_count' && (method === 'POST' || method === 'GET')) return this.countDocs(path.length === 2 ? path[0]! : '*', body, res, url.searchParams);
      if (path.at(-1) === '_refresh') {
        this.count('refresh');
        return this.send(res, 200, { _shards: { total: 1, successful: 1, failed: 0 } });
      }
      return this.send(res, 400, esError(400, 'illegal_argument_exception', `no handler found for uri [${url.pathname}] and method [${method}]`));
    } catch (err) {
      return this.send(res, 400, esError(400, 'parsing_exception', err instanceof Error ? err.message : String(err)));
    }
  }

  // GET / — "Info API": cluster name and version. The client's product check reads the header, not this body.
  private info(res: ServerResponse): void {
    this.count('info');
    const number = this.opts.version ?? '8.15.0';
    this.send(res, 200, {
      name: 'weir-es-double',
      cluster_name: 'weir-test',
      cluster_uuid: 'AAAAAAAAAAAAAAAAAAAAAA',
      version: { number, build_flavor: 'default', build_type: 'docker', lucene_version: '9.11.1', minimum_wire_compatibility_version: '7.17.0', minimum_index_compatibility_version: '7.0.0' },
      tagline: 'You Know, for Search',
    });
  }

  // "Create or update index template API" / "Get index template API" (HEAD answers 200/404 without a body).
  private template(method: string, name: string, body: Doc, res: ServerResponse): void {
    this.count('template');
    if (method === 'PUT' || method === 'POST') {
      if (!Array.isArray(body.index_patterns) && typeof body.index_patterns !== 'string') {
        return this.send(res, 400, esError(400, 'action_request_validation_exception', 'Validation Failed: 1: index patterns are missing;'));
      }
      this.templates.set(name, body);
      return this.send(res, 200, { acknowledged: true });
    }
    const found = this.templates.get(name);
    if (method === 'HEAD') return this.send(res, found ? 200 : 404);
    if (method === 'GET') {
      if (!found) return this.send(res, 404, esError(404, 'resource_not_found_exception', `index template matching [${name}] not found`));
      return this.send(res, 200, { index_templates: [{ name, index_template: found }] });
    }
    if (method === 'DELETE') {
      this.templates.delete(name);
      return this.send(res, 200, { acknowledged: true });
    }
    return this.send(res, 405, esError(405, 'method_not_allowed', `Incorrect HTTP method for uri [/_index_template/${name}] and method [${method}]`));
  }

  // "Bulk API": NDJSON action/source pairs; per-item results in order; top-level `errors` true if any item failed.
  // `create` fails with 409 version_conflict_engine_exception when the _id exists; `index` overwrites.
  private async bulk(defaultIndex: string | null, raw: string, res: ServerResponse): Promise<void> {
    this.count('bulk');
    if (this.held) await new Promise<void>((r) => this.held?.push(r) ?? r());
    const lines = raw.split('\n').filter((l) => l.trim() !== '');
    const items: Doc[] = [];
    const started = Date.now();
    for (let i = 0; i < lines.length; ) {
      const action = JSON.parse(lines[i]!) as Record<string, Doc>;
      const op = Object.keys(action)[0];
      if (op !== 'create' && op !== 'index') {
        return this.send(res, 400, esError(400, 'illegal_argument_exception', `Malformed action/metadata line [${i + 1}], expected one of [create, index] in this double but found [${op}]`));
      }
      const meta = action[op]!;
      const source = JSON.parse(lines[i + 1] ?? 'null') as Doc | null;
      i += 2;
      const index = (meta._index as string | undefined) ?? defaultIndex;
      if (!index || source === null) return this.send(res, 400, esError(400, 'action_request_validation_exception', 'Validation Failed: 1: index is missing;'));
      if (this.itemFaults > 0) {
        this.itemFaults -= 1;
        items.push({ [op]: { _index: index, _id: meta._id ?? null, status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of primary operation [coordinating_and_primary_bytes=0]' } } });
        continue;
      }
      let docs = this.indices.get(index);
      if (!docs) this.indices.set(index, (docs = new Map()));
      const id = (meta._id as string | undefined) ?? `auto-${++this.seq}`;
      const exists = docs.has(id);
      if (op === 'create' && exists) {
        items.push({
          create: { _index: index, _id: id, status: 409, error: { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists (current version [1])`, index } },
        });
        continue;
      }
      docs.set(id, source);
      this.seq += 1;
      items.push({ [op]: { _index: index, _id: id, _version: 1, result: exists ? 'updated' : 'created', _shards: { total: 1, successful: 1, failed: 0 }, _seq_no: this.seq, _primary_term: 1, status: exists ? 200 : 201 } });
    }
    const statusOf = (it: Doc): number => (Object.values(it)[0] as { status: number }).status;
    for (const it of items) this.bulkItemStatuses.push(statusOf(it));
    const errors = items.some((it) => statusOf(it) >= 300);
    this.send(res, 200, { took: Date.now() - started, errors, items });
  }

  // Multi-target syntax ("API conventions"): a missing concrete index is an error unless ignore_unavailable=true;
  // a wildcard matching nothing is fine unless allow_no_indices=false (both defaults as for _search/_count).
  private filtered(pattern: string, body: Doc, params?: URLSearchParams): Array<{ index: string; id: string; source: Doc }> {
    const ignoreUnavailable = params?.get('ignore_unavailable') === 'true';
    const allowNoIndices = params?.get('allow_no_indices') !== 'false';
    for (const part of pattern.split(',')) if (!part.includes('*') && !this.indices.has(part) && !ignoreUnavailable) throw new NotFound(part);
    const names = this.resolve(pattern);
    if (names.length === 0 && !allowNoIndices) throw new NotFound(pattern);
    const all: Array<{ index: string; id: string; source: Doc }> = [];
    for (const n of names) for (const [id, source] of this.indices.get(n)!) all.push({ index: n, id, source });
    const q = body.query as Doc | undefined;
    return q ? all.filter((d) => matches(d.source, q)) : all;
  }

  // "Search API": query, size (default 10), aggs/aggregations; hits.total is exact here (relation "eq").
  private search(pattern: string, body: Doc, res: ServerResponse, params: URLSearchParams): void {
    this.count('search');
    this.searches.push({ index: pattern, params: Object.fromEntries(params), body });
    let docs: Array<{ index: string; id: string; source: Doc }>;
    try {
      docs = this.filtered(pattern, body, params);
    } catch (err) {
      if (err instanceof NotFound) return this.send(res, 404, esError(404, 'index_not_found_exception', `no such index [${err.index}]`, { index: err.index }));
      throw err;
    }
    const size = typeof body.size === 'number' ? body.size : 10;
    const out: Doc = {
      took: 1,
      timed_out: false,
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: { total: { value: docs.length, relation: 'eq' }, max_score: docs.length ? 1 : null, hits: docs.slice(0, size).map((d) => ({ _index: d.index, _id: d.id, _score: 1, _source: d.source })) },
    };
    const aggs = (body.aggs ?? body.aggregations) as Record<string, Doc> | undefined;
    if (aggs) out.aggregations = runAggs(docs.map((d) => d.source), aggs, (field) => this.fieldType([...new Set(docs.map((d) => d.index))], field));
    this.send(res, 200, out);
  }

  /**
   * The mapped type of a field in these indices, from the index templates that match them ("Index templates":
   * the highest priority matching template applies). Aggregations need it where ES behaves by type: a
   * `histogram` field holds pre-aggregated values and counts.
   */
  fieldType(indices: string[], field: string): string | null {
    for (const index of indices) {
      let best: { priority: number; body: Doc } | null = null;
      for (const body of this.templates.values()) {
        const patterns = ([] as string[]).concat(body.index_patterns as string | string[]);
        const hit = patterns.some((p) => new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(index));
        const priority = typeof body.priority === 'number' ? body.priority : 0;
        if (hit && (!best || priority > best.priority)) best = { priority, body };
      }
      let props = ((best?.body.template as Doc | undefined)?.mappings as Doc | undefined)?.properties as Doc | undefined;
      const parts = field.split('.');
      for (let i = 0; i < parts.length && props; i++) {
        const f = props[parts[i]!] as Doc | undefined;
        if (!f) break;
        if (i === parts.length - 1) return typeof f.type === 'string' ? f.type : null;
        props = f.properties as Doc | undefined;
      }
    }
    return null;
  }

  // "Count API".
  private countDocs(pattern: string, body: Doc, res: ServerResponse, params: URLSearchParams): void {
    this.count('count');
    try {
      this.send(res, 200, { count: this.filtered(pattern, body, params).length, _shards: { total: 1, successful: 1, skipped: 0, failed: 0 } });
    } catch (err) {
      if (err instanceof NotFound) return this.send(res, 404, esError(404, 'index_not_found_exception', `no such index [${err.index}]`, { index: err.index }));
      throw err;
    }
  }
}

class NotFound extends Error {
  constructor(readonly index: string) {
    super(`no such index [${index}]`);
  }
}

/** Dotted field lookup over nested objects: ES flattens `a.b` from `{a:{b:..}}`. */
export function fieldValues(doc: Doc, field: string): unknown[] {
  let cur: unknown[] = [doc];
  for (const part of field.split('.')) {
    const next: unknown[] = [];
    for (const c of cur) {
      if (c && typeof c === 'object' && !Array.isArray(c) && part in (c as Doc)) {
        const v = (c as Doc)[part];
        if (Array.isArray(v)) next.push(...v);
        else if (v !== null && v !== undefined) next.push(v);
      }
    }
    cur = next;
  }
  return cur;
}

/** Date math as used in range queries: `now`, `now-5m`, `now-1h`, or an ISO date / epoch millis. */
function toComparable(v: unknown): number | string {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return String(v);
  const m = /^now(?:([-+])(\d+)([smhd]))?$/.exec(v);
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[3] as 's' | 'm' | 'h' | 'd'] ?? 0;
    return Date.now() + (m[1] === '-' ? -1 : 1) * Number(m[2] ?? 0) * unit;
  }
  if (/^\d{4}-\d\d-\d\d/.test(v)) return Date.parse(v);
  return v;
}

function cmpValue(docV: unknown, bound: number | string): number | null {
  const d = typeof bound === 'number' && typeof docV === 'string' ? Date.parse(docV) : docV;
  if (typeof d === 'number' && typeof bound === 'number') return d - bound;
  if (typeof d === 'string' && typeof bound === 'string') return d < bound ? -1 : d > bound ? 1 : 0;
  return null;
}

// Query DSL subset: match_all, term, terms, prefix, range, exists, bool {filter, must, must_not, should}.
function matches(doc: Doc, q: Doc): boolean {
  const [kind, arg] = Object.entries(q)[0] ?? ['match_all', {}];
  const a = arg as Doc;
  switch (kind) {
    case 'match_all':
      return true;
    case 'term': {
      const [field, spec] = Object.entries(a)[0]!;
      const want = spec && typeof spec === 'object' && 'value' in (spec as Doc) ? (spec as Doc).value : spec;
      return fieldValues(doc, field).some((v) => v === want);
    }
    case 'terms': {
      const [field, list] = Object.entries(a)[0]!;
      return fieldValues(doc, field).some((v) => (list as unknown[]).includes(v));
    }
    // "Prefix query": `{prefix: {field: {value}}}` or the short form `{prefix: {field: "v"}}`, on keyword values.
    case 'prefix': {
      const [field, spec] = Object.entries(a)[0]!;
      const want = spec && typeof spec === 'object' ? (spec as Doc).value : spec;
      return typeof want === 'string' && fieldValues(doc, field).some((v) => typeof v === 'string' && v.startsWith(want));
    }
    case 'exists':
      return fieldValues(doc, a.field as string).length > 0;
    case 'range': {
      const [field, spec] = Object.entries(a)[0]!;
      const s = spec as Doc;
      return fieldValues(doc, field).some((v) => {
        for (const [op, raw] of Object.entries(s)) {
          if (!['gt', 'gte', 'lt', 'lte'].includes(op)) continue;
          const c = cmpValue(v, toComparable(raw));
          if (c === null) return false;
          if ((op === 'gt' && !(c > 0)) || (op === 'gte' && !(c >= 0)) || (op === 'lt' && !(c < 0)) || (op === 'lte' && !(c <= 0))) return false;
        }
        return true;
      });
    }
    case 'bool': {
      const list = (x: unknown): Doc[] => (x === undefined ? [] : Array.isArray(x) ? (x as Doc[]) : [x as Doc]);
      if (!list(a.filter).every((c) => matches(doc, c))) return false;
      if (!list(a.must).every((c) => matches(doc, c))) return false;
      if (list(a.must_not).some((c) => matches(doc, c))) return false;
      const should = list(a.should);
      // minimum_should_match (integer form only): default 1 with should but no must/filter, else 0 ("Boolean query").
      const msm = typeof a.minimum_should_match === 'number' ? a.minimum_should_match : should.length && !(a.filter || a.must) ? 1 : 0;
      if (msm > 0 && should.filter((c) => matches(doc, c)).length < msm) return false;
      return true;
    }
    default:
      throw new Error(`query type [${kind}] is not supported by the Elasticsearch double`);
  }
}

const numbers = (docs: Doc[], field: string): number[] =>
  docs.flatMap((d) => fieldValues(d, field)).filter((v): v is number => typeof v === 'number');

/** Exact percentile with linear interpolation between closest ranks (ES uses TDigest: close, not identical). */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

const fmt = (n: number): string => (Number.isInteger(n) ? n.toFixed(1) : String(n));

/**
 * A field's values, with a `histogram` field ("Histogram field type": `{values: [...], counts: [...]}`,
 * pre-aggregated) expanded into its values, each repeated `count` times, as metric aggregations see it.
 */
function valuesOf(docs: Doc[], field: string, type: string | null): number[] {
  if (type !== 'histogram') return numbers(docs, field);
  const out: number[] = [];
  for (const d of docs) {
    for (const h of fieldValues(d, field)) {
      const { values, counts } = h as { values?: unknown; counts?: unknown };
      if (!Array.isArray(values) || !Array.isArray(counts)) continue;
      values.forEach((v, i) => {
        const c = counts[i];
        if (typeof v === 'number' && typeof c === 'number') for (let k = 0; k < c; k++) out.push(v);
      });
    }
  }
  return out;
}

/** "Percentiles aggregation", `hdr` method: the recorded value at rank max(1, round(p/100 · n)) (HdrHistogram's rule). */
function hdrPercentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.floor((p / 100) * sorted.length + 0.5));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

// Aggregations subset: terms, filter, filters, range, percentiles (TDigest-like or hdr), avg, sum, min, max,
// value_count, date_histogram (fixed_interval, min_doc_count); nested sub-aggs. `typeOf`: mapped field types.
function runAggs(docs: Doc[], aggs: Record<string, Doc>, typeOf: (field: string) => string | null = () => null): Doc {
  const out: Doc = {};
  for (const [name, spec] of Object.entries(aggs)) {
    const sub = (spec.aggs ?? spec.aggregations) as Record<string, Doc> | undefined;
    const withSub = (bucketDocs: Doc[], base: Doc): Doc => (sub ? { ...base, ...runAggs(bucketDocs, sub, typeOf) } : base);
    const [kind, argRaw] = Object.entries(spec).find(([k]) => k !== 'aggs' && k !== 'aggregations' && k !== 'meta')!;
    const arg = argRaw as Doc;
    const field = arg.field as string;
    switch (kind) {
      case 'terms': {
        const groups = new Map<unknown, Doc[]>();
        for (const d of docs) for (const v of new Set(fieldValues(d, field))) groups.set(v, [...(groups.get(v) ?? []), d]);
        const size = typeof arg.size === 'number' ? arg.size : 10;
        const sorted = [...groups.entries()].sort((x, y) => y[1].length - x[1].length || String(x[0]).localeCompare(String(y[0])));
        const kept = sorted.slice(0, size);
        out[name] = {
          doc_count_error_upper_bound: 0,
          sum_other_doc_count: sorted.slice(size).reduce((n, [, ds]) => n + ds.length, 0),
          buckets: kept.map(([key, ds]) => withSub(ds, { key, doc_count: ds.length })),
        };
        break;
      }
      case 'filter': {
        const ds = docs.filter((d) => matches(d, arg));
        out[name] = withSub(ds, { doc_count: ds.length });
        break;
      }
      case 'filters': {
        const buckets: Doc = {};
        for (const [k, q] of Object.entries(arg.filters as Record<string, Doc>)) {
          const ds = docs.filter((d) => matches(d, q));
          buckets[k] = withSub(ds, { doc_count: ds.length });
        }
        out[name] = { buckets };
        break;
      }
      case 'range': {
        // Buckets include `from` and exclude `to`; default keys are "from-to" with `*` for an open end.
        out[name] = {
          buckets: (arg.ranges as Array<{ from?: number; to?: number; key?: string }>).map((r) => {
            const ds = docs.filter((d) => fieldValues(d, field).some((v) => typeof v === 'number' && (r.from === undefined || v >= r.from) && (r.to === undefined || v < r.to)));
            const key = r.key ?? `${r.from === undefined ? '*' : fmt(r.from)}-${r.to === undefined ? '*' : fmt(r.to)}`;
            return withSub(ds, { key, ...(r.from !== undefined ? { from: r.from } : {}), ...(r.to !== undefined ? { to: r.to } : {}), doc_count: ds.length });
          }),
        };
        break;
      }
      case 'percentiles': {
        const vals = valuesOf(docs, field, typeOf(field)).sort((x, y) => x - y);
        const values: Doc = {};
        const hdr = arg.hdr !== undefined;
        for (const p of (arg.percents as number[] | undefined) ?? [1, 5, 25, 50, 75, 95, 99]) values[fmt(p)] = hdr ? hdrPercentile(vals, p) : percentile(vals, p);
        out[name] = { values };
        break;
      }
      case 'avg': {
        const vals = numbers(docs, field);
        out[name] = { value: vals.length ? vals.reduce((x, y) => x + y, 0) / vals.length : null };
        break;
      }
      case 'sum':
        out[name] = { value: numbers(docs, field).reduce((x, y) => x + y, 0) };
        break;
      case 'min':
      case 'max': {
        const vals = numbers(docs, field);
        out[name] = { value: vals.length ? (kind === 'min' ? Math.min(...vals) : Math.max(...vals)) : null };
        break;
      }
      case 'date_histogram': {
        // fixed_interval (or calendar_interval of one unit) only; empty buckets between first and last are
        // returned, as with ES's default min_doc_count 0. Keys are epoch millis, key_as_string ISO-8601.
        const spec = String(arg.fixed_interval ?? arg.calendar_interval ?? '');
        const m = /^(\d*)(ms|s|m|h|d)$/.exec(spec) ?? (/^(1)?(minute|hour|day)$/.exec(spec) as RegExpExecArray | null);
        if (!m) throw new Error(`date_histogram interval [${spec}] is not supported by the Elasticsearch double`);
        const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000, d: 86_400_000, day: 86_400_000 };
        const step = Number(m[1] || 1) * unitMs[m[2]!]!;
        const groups = new Map<number, Doc[]>();
        for (const d of docs) {
          for (const v of fieldValues(d, field)) {
            const t = typeof v === 'number' ? v : Date.parse(String(v));
            if (Number.isNaN(t)) continue;
            const k = Math.floor(t / step) * step;
            groups.set(k, [...(groups.get(k) ?? []), d]);
          }
        }
        const keys = [...groups.keys()].sort((x, y) => x - y);
        const buckets: Doc[] = [];
        const minDocCount = typeof arg.min_doc_count === 'number' ? arg.min_doc_count : 0;
        if (keys.length) {
          for (let k = keys[0]!; k <= keys[keys.length - 1]!; k += step) {
            const ds = groups.get(k) ?? [];
            if (ds.length < minDocCount) continue;
            buckets.push(withSub(ds, { key_as_string: new Date(k).toISOString(), key: k, doc_count: ds.length }));
          }
        }
        out[name] = { buckets };
        break;
      }
      case 'value_count':
        out[name] = { value: docs.reduce((n, d) => n + fieldValues(d, field).length, 0) };
        break;
      default:
        throw new Error(`aggregation type [${kind}] is not supported by the Elasticsearch double`);
    }
  }
  return out;
}

export async function startElasticsearchDouble(opts: EsDoubleOptions = {}): Promise<ElasticsearchDouble> {
  const es = new ElasticsearchDouble(opts);
  await es.start();
  return es;
}
