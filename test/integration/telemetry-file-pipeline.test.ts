import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, assert } from '../harness/uvu.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { startElasticsearchDouble } from '../doubles/elasticsearch.js';
import { EsShipper } from '../../agent/telemetry/es-shipper.js';
import { createEsClient } from '../../metrics/es-connection.js';
import { FileTailer, type TailAck } from '../../agent/telemetry/file-tailer.js';
import { documentId, indexName, parseLogLine, toEcsDocument } from '../../agent/telemetry/log-record.js';

const ns = { org: 'acme', env: 'prod' };
const line = (i: number): string =>
  `{"t":${1763777439 + i}.000,"id":"r${i}","ci":"127.0.0.1","cp":1,"ft":"shop","b":"shop:blue","s":"s1","Tq":0,"Tw":0,"Tc":0,"Tr":1,"Ta":1,"Tt":2,"ST":200,"B":1,"U":1,"tsc":"----","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"GET /${i} HTTP/1.1"}\n`;

/** File → tailer → parse → shipper.push (backpressure) → ES; shipper acks move the tailer's offset. */
async function pipeline(dir: string, esUrl: string) {
  const client = createEsClient({ url: esUrl });
  let tailer: FileTailer | null = null;
  const shipper = new EsShipper<TailAck>({ client, batchSize: 20, flushIntervalMs: 20, onAck: (acks) => tailer?.ack(acks) });
  tailer = new FileTailer({
    path: join(dir, 'haproxy.log'),
    statePath: join(dir, 'offsets.json'),
    pollIntervalMs: 10,
    persistIntervalMs: 0,
    onLines: async (lines) => {
      for (const l of lines) {
        const out = parseLogLine(l.line);
        if (!out.ok) throw new Error(out.detail);
        const id = documentId(out.record, out.payload, ns);
        await shipper.push({ id, index: indexName(ns, out.record.time), document: toEcsDocument(out.record, ns, 'a', id), ack: l.ack });
      }
    },
  });
  await shipper.start();
  await tailer.start();
  return {
    tailer,
    // Shipper first: close() releases a push() blocked on a full queue, so the tailer's read loop can end.
    stop: async () => {
      await shipper.close(1000);
      await tailer!.stop();
      await client.close();
    },
  };
}

test('file → ES: offsets commit after delivery; a lost offsets file re-sends everything without duplicates', async () => {
  const dir = await tempDir('weir-filepipe-');
  const es = await startElasticsearchDouble();
  const stops: Array<() => Promise<void>> = [];
  try {
    const file = join(dir.path, 'haproxy.log');
    await writeFile(file, Array.from({ length: 30 }, (_, i) => line(i)).join(''));
    const p1 = await pipeline(dir.path, es.url);
    stops.push(p1.stop);
    await appendFile(file, Array.from({ length: 30 }, (_, i) => line(30 + i)).join(''));
    const size = (await readFile(file)).length;
    await waitFor(() => es.docs('weir-logs-*').length === 60 && p1.tailer.stats().committed === size, { what: '60 docs and offset committed' });
    await stops.pop()!();
    assert.is((JSON.parse(await readFile(join(dir.path, 'offsets.json'), 'utf8')) as { offset: number }).offset, size);
    // Crash before the offsets were persisted: the registry says 0 again.
    const state = JSON.parse(await readFile(join(dir.path, 'offsets.json'), 'utf8')) as { offset: number };
    await writeFile(join(dir.path, 'offsets.json'), JSON.stringify({ ...state, offset: 0 }));
    const p2 = await pipeline(dir.path, es.url);
    stops.push(p2.stop);
    await waitFor(() => p2.tailer.stats().committed === size, { what: 'everything re-sent and acked' });
    assert.is(es.docs('weir-logs-*').length, 60);
    assert.is(es.bulkItemStatuses.filter((s) => s === 409).length, 60);
  } finally {
    for (const s of stops) await s().catch(() => undefined);
    await es.stop();
    await dir.remove();
  }
});

test.run();
