import { suite, assert } from '../harness/uvu.js';
import { startElasticsearchDouble, type ElasticsearchDouble } from '../doubles/elasticsearch.js';
import { createEsClient } from '../../metrics/es-connection.js';

const S = suite<{ es: ElasticsearchDouble }>('telemetry: Elasticsearch double honours the 8.x contract');
S.before.each(async (ctx) => {
  ctx.es = await startElasticsearchDouble();
});
S.after.each(async (ctx) => {
  await ctx.es.stop();
});

const raw = async (es: ElasticsearchDouble, method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${es.url}${path}`, { method, body, headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.text();
  return { status: res.status, product: res.headers.get('x-elastic-product'), body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
};

S('every response carries X-Elastic-Product; info reports 8.x; compatible-with=9 is rejected like ES 8', async ({ es }) => {
  const info = await raw(es, 'GET', '/');
  assert.is(info.product, 'Elasticsearch');
  assert.match(String((info.body!.version as { number: string }).number), /^8\./);
  const notFound = await raw(es, 'GET', '/_index_template/nope');
  assert.is(notFound.status, 404);
  assert.is(notFound.product, 'Elasticsearch');
  assert.equal(Object.keys(notFound.body!).sort(), ['error', 'status']);
  assert.is((notFound.body!.error as { type: string }).type, 'resource_not_found_exception');
  const v9 = await raw(es, 'GET', '/', undefined, { accept: 'application/vnd.elasticsearch+json; compatible-with=9' });
  assert.is(v9.status, 400);
  assert.is((v9.body!.error as { type: string }).type, 'media_type_header_exception');
});

S('the official 8.x client works against it (product check, templates, bulk, search, count)', async ({ es }) => {
  const client = createEsClient({ url: es.url });
  try {
    assert.match((await client.info()).version.number, /^8\./);
    assert.is(await client.indices.existsIndexTemplate({ name: 't' }), false);
    await client.indices.putIndexTemplate({ name: 't', index_patterns: ['x-*'], template: { mappings: { properties: { n: { type: 'long' } } } } });
    assert.is(await client.indices.existsIndexTemplate({ name: 't' }), true);
    assert.is((await client.indices.getIndexTemplate({ name: 't' })).index_templates[0]!.name, 't');
    const ops = [1, 2, 3, 4, 5].flatMap((n) => [{ create: { _index: 'x-1', _id: `d${n}` } }, { n, g: n % 2 ? 'odd' : 'even', tags: ['a'] }]);
    const first = await client.bulk({ operations: ops });
    assert.is(first.errors, false);
    assert.equal(first.items.map((i) => i.create!.status), [201, 201, 201, 201, 201]);
    es.rejectNextItems(1);
    const again = await client.bulk({ operations: [...ops, { index: { _index: 'x-1', _id: 'd1' } }, { n: 10, g: 'even' }] });
    assert.is(again.errors, true);
    assert.equal(again.items.map((i) => (i.create ?? i.index)!.status), [429, 409, 409, 409, 409, 200]);
    assert.is(again.items[0]!.create!.error!.type, 'es_rejected_execution_exception');
    assert.is(again.items[1]!.create!.error!.type, 'version_conflict_engine_exception');
    await client.indices.refresh({ index: 'x-1' });
    const res = await client.search({
      index: 'x-*',
      size: 2,
      query: { bool: { filter: [{ range: { n: { gte: 2 } } }, { term: { tags: 'a' } }] } },
      aggs: {
        g: { terms: { field: 'g' }, aggs: { avg: { avg: { field: 'n' } } } },
        r: { range: { field: 'n', ranges: [{ to: 3 }, { from: 3 }] } },
        p: { percentiles: { field: 'n', percents: [50, 100] } },
        c: { value_count: { field: 'n' } },
        big: { filter: { range: { n: { gt: 3 } } } },
      },
    });
    assert.equal(res.hits.total, { value: 4, relation: 'eq' });
    assert.is(res.hits.hits.length, 2);
    const aggs = res.aggregations as Record<string, Record<string, unknown>>;
    assert.equal(aggs.g!.buckets, [
      { key: 'even', doc_count: 2, avg: { value: 3 } },
      { key: 'odd', doc_count: 2, avg: { value: 4 } },
    ]);
    assert.equal((aggs.r!.buckets as Array<{ key: string; doc_count: number }>).map((b) => [b.key, b.doc_count]), [
      ['*-3.0', 1],
      ['3.0-*', 3],
    ]);
    assert.equal(aggs.p!.values, { '50.0': 3.5, '100.0': 5 });
    assert.equal(aggs.c, { value: 4 });
    assert.is((aggs.big as { doc_count: number }).doc_count, 2);
    assert.is((await client.count({ index: 'x-1', query: { term: { g: 'odd' } } })).count, 2);
    assert.equal(res.hits.hits.map((h) => [h._index, h._id]), [
      ['x-1', 'd2'],
      ['x-1', 'd3'],
    ]);
    await client.bulk({
      operations: [0, 1, 1, 3].flatMap((min, k) => [{ create: { _index: 'h-1', _id: `h${k}` } }, { '@timestamp': new Date(Date.UTC(2026, 0, 1, 0, min, 5)).toISOString() }]),
    });
    const hist = await client.search({ index: 'h-*', size: 0, aggs: { per: { date_histogram: { field: '@timestamp', fixed_interval: '1m' } } } });
    assert.equal(
      (hist.aggregations as { per: { buckets: Array<{ key_as_string: string; doc_count: number }> } }).per.buckets.map((b) => [b.key_as_string, b.doc_count]),
      [
        ['2026-01-01T00:00:00.000Z', 1],
        ['2026-01-01T00:01:00.000Z', 2],
        ['2026-01-01T00:02:00.000Z', 0],
        ['2026-01-01T00:03:00.000Z', 1],
      ],
    );
    const missing = await client.search({ index: 'nope' }).then(
      () => null,
      (err: unknown) => err as { statusCode?: number; body?: { error?: { type?: string } } },
    );
    assert.is(missing?.statusCode, 404);
    assert.is(missing?.body?.error?.type, 'index_not_found_exception');
  } finally {
    await client.close();
  }
});

S('multi-target options, prefix query and minimum_should_match behave as documented', async ({ es }) => {
  const bulk = ['{"create":{"_index":"logs-a","_id":"1"}}', '{"ts":"SD","n":1}', '{"create":{"_index":"logs-a","_id":"2"}}', '{"ts":"cD","n":2}', ''].join('\n');
  assert.is((await raw(es, 'POST', '/_bulk', bulk, { 'content-type': 'application/x-ndjson' })).status, 200);
  // A missing concrete index is 404 unless ignore_unavailable; a wildcard matching nothing is empty unless allow_no_indices=false.
  assert.is((await raw(es, 'POST', '/logs-b/_search', '{}')).status, 404);
  assert.is((await raw(es, 'POST', '/logs-b/_search?ignore_unavailable=true', '{}')).status, 200);
  assert.is((await raw(es, 'POST', '/none-*/_search', '{}')).status, 200);
  assert.is((await raw(es, 'POST', '/none-*/_search?allow_no_indices=false', '{}')).status, 404);
  const hits = async (query: unknown): Promise<number> => ((await raw(es, 'POST', '/logs-*/_search', JSON.stringify({ query }))).body!.hits as { total: { value: number } }).total.value;
  assert.is(await hits({ prefix: { ts: { value: 'S' } } }), 1);
  assert.is(await hits({ prefix: { ts: 'c' } }), 1);
  // should with a filter: optional (0) by default, required with minimum_should_match 1.
  assert.is(await hits({ bool: { filter: [{ range: { n: { gte: 1 } } }], should: [{ prefix: { ts: 'S' } }] } }), 2);
  assert.is(await hits({ bool: { filter: [{ range: { n: { gte: 1 } } }], should: [{ prefix: { ts: 'S' } }], minimum_should_match: 1 } }), 1);
  assert.is(es.searches.at(-1)!.index, 'logs-*');
});

S('whole-request faults, and stop()/start() on the same port', async ({ es }) => {
  es.failNextRequests(1, 503);
  const r = await raw(es, 'POST', '/_bulk', '{"create":{"_index":"a","_id":"1"}}\n{"x":1}\n');
  assert.is(r.status, 503);
  assert.is(r.product, 'Elasticsearch');
  const port = es.port;
  await es.stop();
  await fetch(`${es.url}/`).then(
    () => assert.unreachable('stopped double answered'),
    () => undefined,
  );
  await es.start();
  assert.is(es.port, port);
  assert.is((await raw(es, 'POST', '/_bulk', '{"create":{"_index":"a","_id":"1"}}\n{"x":1}\n')).status, 200);
  assert.is(es.docs('a').length, 1);
});

S.run();
