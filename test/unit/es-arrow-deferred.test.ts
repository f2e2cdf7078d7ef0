// The Elasticsearch client without apache-arrow at start: deferred until first use, and still there when used.
import { createRequire } from 'node:module';
import { suite, assert } from '../harness/uvu.js';
import { deferredArrow } from '../../metrics/es-arrow-deferred.js';
import { createEsClient } from '../../metrics/es-connection.js';

const t = suite('es client: apache-arrow deferred');
const req = createRequire(import.meta.url);
const arrowModules = (): string[] => Object.keys(req.cache).filter((k) => k.includes('/apache-arrow/'));

t('loading the client and making one loads no apache-arrow module; first use loads the real one', () => {
  assert.ok(deferredArrow.path, 'this client version requires apache-arrow (the deferral applies)');
  const client = createEsClient({ url: 'http://127.0.0.1:9' });
  assert.ok(typeof client.helpers.esql === 'function', 'the helpers are there');
  assert.equal(arrowModules(), [deferredArrow.path], 'only the stand-in is loaded');
  assert.is(deferredArrow.loaded, false);
  const arrow = req(deferredArrow.path!) as { tableFromIPC?: unknown };
  assert.is(typeof arrow.tableFromIPC, 'function', 'the real module behind the stand-in');
  assert.is(deferredArrow.loaded, true);
  assert.ok(arrowModules().length > 50, 'now loaded for real');
});

t.run();
