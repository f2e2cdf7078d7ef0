// Route edits on stored text (YAML keeps comments and order; JSON keeps indentation and key
// order), request bodies and preconditions, the audit log, settings.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileAuditSink } from '../../control/audit-file.js';
import { ApiError } from '../../control/errors.js';
import { editRoutes, orderedJson, toOrderedJson } from '../../control/gateway-text.js';
import { decodeBody, jsonSyntaxError, parsePreconditions } from '../../control/request-body.js';
import { resolveControlSettings } from '../../control/settings.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('control text edits and requests');

const YAML = `# shop gateway
port: 8080   # public
routes:
  # the stable one
  v1:
    weight: 90%   # most traffic
    targets: [a:80]
  v2: {weight: 10%}
  canary:
`;

t('YAML edits keep comments, order and untouched fields', () => {
  const r = editRoutes(YAML, 'yaml', new Map([['v1', { weight: 70 }], ['v2', { weight: '20%', condition: 'has cookie beta' }], ['canary', { weight: 10 }]]));
  assert.ok(r.ok);
  const body = (r as { body: string }).body;
  for (const kept of ['# shop gateway', '# public', '# the stable one', '# most traffic', 'targets: [ a:80 ]']) assert.ok(body.includes(kept), `${kept} in\n${body}`);
  assert.match(body, /weight: 70 +# most traffic/);
  assert.match(body, /v2: \{ weight: 20%, condition: has cookie beta \}/);
  assert.match(body, /canary:\n +weight: 10\n/);
  assert.ok(body.indexOf('v1:') < body.indexOf('v2:') && body.indexOf('v2:') < body.indexOf('canary:'));
  const removed = editRoutes(body, 'yaml', new Map([['v2', { condition: null }]]));
  assert.ok(removed.ok && !(removed as { body: string }).body.includes('condition'));
});

t('JSON edits keep indentation and key order, including integer-like route names', () => {
  const json = '{\n    "port": 80,\n    "routes": {\n        "b": {"weight": 50},\n        "2": {"weight": 25},\n        "1": {"weight": 25}\n    }\n}\n';
  const r = editRoutes(json, 'json', new Map([['2', { weight: 30 }], ['1', { weight: 20 }]]));
  assert.ok(r.ok);
  const body = (r as { body: string }).body;
  assert.is(body, '{\n    "port": 80,\n    "routes": {\n        "b": {\n            "weight": 50\n        },\n        "2": {\n            "weight": 30\n        },\n        "1": {\n            "weight": 20\n        }\n    }\n}\n');
  assert.equal(Object.keys(JSON.parse(body).routes), ['1', '2', 'b'], 'plain JSON.parse reorders, which is why we do not use it');
  assert.equal(editRoutes('{"port":80,"routes":{"a":{}}}', 'json', new Map([['a', { weight: 100 }]])), { ok: true, body: '{"port":80,"routes":{"a":{"weight":100}}}' });
  assert.is(toOrderedJson('routes:\n  "2": {}\n  "1": {}\n'), '{"routes":{"2":{},"1":{}}}');
  assert.is(orderedJson(new Map([['a', [1, new Map([['b', null]])]]]), 0), '{"a":[1,{"b":null}]}');
});

t("Vamp's route forms can be edited: list and single-name routes become a map, \"[host:port]\" routes answer to their Weir name", () => {
  const list = editRoutes('port: 80\nroutes:\n  - a   # first\n  - b: {weight: 10%}\n', 'yaml', new Map([['a', { weight: 90 }]]));
  assert.ok(list.ok, JSON.stringify(list));
  const body = (list as { body: string }).body;
  assert.match(body, /a:\n\s+weight: 90/);
  assert.match(body, /b: \{ weight: 10% \}/);
  const single = editRoutes('port: 80\nroutes: web\n', 'yaml', new Map([['web', { weight: 100 }]]));
  assert.ok(single.ok && /web:\n\s+weight: 100/.test(single.body), JSON.stringify(single));
  const ext = editRoutes('port: 80\nroutes:\n  "[10.0.0.1:80]": {weight: 50%}\n  v2: {weight: 50%}\n', 'yaml', new Map([['10.0.0.1_80', { weight: 20 }], ['v2', { weight: 80 }]]));
  assert.ok(ext.ok && ext.body.includes('"[10.0.0.1:80]": { weight: 20 }'), JSON.stringify(ext));
});

t('unknown routes and unparsable stored text are reported, nothing is written', () => {
  assert.equal(editRoutes(YAML, 'yaml', new Map([['v9', { weight: 1 }], ['v1', { weight: 1 }]])), { ok: false, kind: 'unknown_routes', routes: ['v9'] });
  assert.equal(editRoutes('port: 80\n', 'yaml', new Map([['v1', { weight: 1 }]])).ok, false);
  assert.equal((editRoutes('a: [', 'yaml', new Map()) as { kind: string }).kind, 'unparsable');
});

t('bodies: JSON syntax errors with line and column, duplicate keys refused, YAML decoded', () => {
  assert.match(jsonSyntaxError('{"a": 1,\n  "b": x}') ?? '', /^invalid JSON at line 2, column \d+: /);
  assert.match(jsonSyntaxError('{"a":') ?? '', /^invalid JSON at line 1, column \d+: /);
  assert.is(jsonSyntaxError('{"a": 1}'), null);
  const dup = (() => {
    try {
      decodeBody({ format: 'json', text: '{"a": 1, "a": 2}' });
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  assert.instance(dup, ApiError);
  assert.is((dup as ApiError).code, 'invalid_json');
  assert.equal(decodeBody({ format: 'yaml', text: 'v1: 80\nv2: 20\n' }), { v1: 80, v2: 20 });
});

t('preconditions: one strong ETag or *, If-None-Match: * only', () => {
  assert.equal(parsePreconditions({ 'if-match': '"3"' }, ['If-Match']), { ifMatch: '3' });
  assert.equal(parsePreconditions({ 'if-match': '*' }, ['If-Match']), { ifMatch: '*' });
  assert.equal(parsePreconditions({ 'if-none-match': '*' }, ['If-Match', 'If-None-Match']), { ifNoneMatch: true });
  assert.equal(parsePreconditions({}, ['If-Match']), {});
  for (const h of [{ 'if-match': 'W/"3"' }, { 'if-match': '"1", "2"' }, { 'if-match': '3' }, { 'if-none-match': '"3"' }, { 'if-match': '"1"', 'if-none-match': '*' }]) {
    assert.throws(() => parsePreconditions(h, ['If-Match', 'If-None-Match']), (e: unknown) => e instanceof ApiError && e.status === 400, JSON.stringify(h));
  }
});

t('audit log: one fsynced JSON line per record, in order', async () => {
  const dir = await tempDir('weir-audit-');
  try {
    const sink = new FileAuditSink(join(dir.path, 'control', 'audit.jsonl'));
    const rec = (i: number) => ({ id: `r${i}`, at: '2026-01-01T00:00:00.000Z', by: 'ci (abc)', role: 'deployer', action: 'gateway.replace', target: `gateway/acme/prod/g${i}`, beforeVersion: String(i), afterVersion: String(i + 1), requestId: `q${i}` });
    await Promise.all(Array.from({ length: 20 }, (_, i) => sink.record(i % 2 ? { org: 'acme', env: 'prod' } : null, rec(i))));
    await sink.close();
    const lines = (await readFile(join(dir.path, 'control', 'audit.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; namespace: string | null });
    assert.equal(lines.map((l) => l.id), Array.from({ length: 20 }, (_, i) => `r${i}`));
    assert.is(lines[1]?.namespace, 'acme/prod');
    assert.is(lines[0]?.namespace, null);
  } finally {
    await dir.remove();
  }
});

t('settings: defaults, overrides and named errors', () => {
  const d = resolveControlSettings({}, '/srv');
  assert.equal([d.store, d.addr, d.stateDir, d.adminToken, d.bodyLimitBytes], ['file://./var/store', { host: '127.0.0.1', port: 9100 }, '/srv/var/control', undefined, 512 * 1024]);
  const o = resolveControlSettings({ WEIR_STORE: 'nats://n:4222', WEIR_CONTROL_ADDR: '0.0.0.0:8080', WEIR_CONTROL_STATE_DIR: '/var/lib/weir', WEIR_ADMIN_TOKEN: ' tok ', WEIR_CONTROL_BODY_LIMIT: '2048' }, '/srv');
  assert.equal([o.store, o.addr.port, o.stateDir, o.adminToken, o.bodyLimitBytes], ['nats://n:4222', 8080, '/var/lib/weir', 'tok', 2048]);
  assert.throws(() => resolveControlSettings({ WEIR_CONTROL_ADDR: 'nohost' }), /WEIR_CONTROL_ADDR/);
  assert.throws(() => resolveControlSettings({ WEIR_CONTROL_BODY_LIMIT: '1k' }), /WEIR_CONTROL_BODY_LIMIT/);
});

t.run();
