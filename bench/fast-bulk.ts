// A fast bulk endpoint for the shipping benchmarks, run as its own process (its CPU is nobody's under test):
// answers `_bulk` as Elasticsearch 8 does — one item per action, status 201, `filter_path` honoured for the
// fields the callers ask for — and keeps only counts per index. Every other request (product check, index
// templates) gets a 200 with the `x-elastic-product` header. Not a contract double: it does not store or
// validate documents; test/doubles/elasticsearch.ts is the honest, slow one.
// Run: `node dist/bench/fast-bulk.js [port]`; prints {"port":N} on stdout; GET /__counts → {"<index>":docs,...}.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const HEADERS = { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' };
const counts = new Map<string, number>();
let requests = 0;
let bytes = 0;

/** The index an action line names, e.g. {"create":{"_index":"weir-logs-a-b-2026.11.22","_id":"…"}}. */
function indexOf(action: string): string {
  const k = action.indexOf('"_index"');
  if (k < 0) return '';
  const q1 = action.indexOf('"', action.indexOf(':', k + 8) + 1);
  const q2 = action.indexOf('"', q1 + 1);
  return q1 < 0 || q2 < 0 ? '' : action.slice(q1 + 1, q2);
}

const filteredItem = (op: string): string => `{"${op}":{"status":201}}`;
const fullItem = (op: string, index: string, id: string): string =>
  `{"${op}":{"_index":"${index}","_id":"${id}","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}`;

function bulk(req: IncomingMessage, res: ServerResponse, filtered: boolean): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    bytes += body.length;
    requests += 1;
    const items: string[] = [];
    let pos = 0;
    let action = true;
    while (pos < body.length) {
      let nl = body.indexOf('\n', pos);
      if (nl < 0) nl = body.length;
      if (nl > pos) {
        if (action) {
          const line = body.slice(pos, nl);
          const op = line.slice(2, line.indexOf('"', 2));
          const index = indexOf(line);
          counts.set(index, (counts.get(index) ?? 0) + 1);
          items.push(filtered ? filteredItem(op) : fullItem(op, index, `x${requests}-${items.length}`));
          // `delete` has no document line; every other action has one.
          action = op === 'delete';
        } else action = true;
      }
      pos = nl + 1;
    }
    res.writeHead(200, HEADERS);
    res.end(`{${filtered ? '' : '"took":1,'}"errors":false,"items":[${items.join(',')}]}`);
  });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/__counts') {
    res.writeHead(200, HEADERS);
    res.end(JSON.stringify({ requests, bytes, indices: Object.fromEntries(counts) }));
    return;
  }
  if (url.pathname.endsWith('/_bulk')) {
    const fp = url.searchParams.get('filter_path');
    bulk(req, res, fp !== null && fp.includes('items.*.status'));
    return;
  }
  req.resume();
  req.on('end', () => {
    res.writeHead(200, HEADERS);
    if (req.method === 'HEAD') res.end();
    else if (url.pathname === '/') res.end('{"name":"fast-bulk","cluster_name":"bench","version":{"number":"8.15.0","build_flavor":"default"},"tagline":"You Know, for Search"}');
    else res.end('{"acknowledged":true}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: a && typeof a !== 'string' ? a.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
