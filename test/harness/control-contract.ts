// Store-independent behaviour of the control API, run against the file store, the Vault
// double and a real NATS KV: CRUD with versions, preconditions, CAS edits, port conflicts.
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { A, code, gatewayJson, gatewayYaml, message, nsPath, type ControlFixture } from './control.js';

export interface ContractContext {
  fx: ControlFixture;
}

const etag = (h: Headers): string => {
  const v = h.get('etag');
  assert.ok(v && /^".+"$/.test(v), `expected an ETag, got ${v}`);
  return v as string;
};

export function defineControlContract(t: Test<ContractContext>): void {
  t('create, read (JSON and original YAML), replace, delete with versions and preconditions', async ({ fx }) => {
    const path = nsPath(A, '/gateways/web');
    const yaml = gatewayYaml(8080);
    const created = await fx.api('PUT', path, { body: yaml, headers: { 'if-none-match': '*' } });
    assert.is(created.status, 201, created.text);
    const v1 = etag(created.headers);
    assert.is(`"${(created.json as { version: string }).version}"`, v1);

    const again = await fx.api('PUT', path, { body: yaml, headers: { 'if-none-match': '*' } });
    assert.is(again.status, 409);
    assert.is(code(again), 'version_conflict');

    const asYaml = await fx.api('GET', path, { headers: { accept: 'application/yaml' } });
    assert.is(asYaml.status, 200);
    assert.is(asYaml.text, yaml, 'the original text, comments included');
    assert.is(etag(asYaml.headers), v1);
    const asJson = await fx.api('GET', path);
    assert.equal(asJson.json, { port: 8080, routes: { v1: { weight: '50%', targets: ['127.0.0.1:9000'] }, v2: { weight: '50%', targets: ['127.0.0.1:9000'] } } });
    const notModified = await fx.api('GET', path, { headers: { 'if-none-match': v1 } });
    assert.is(notModified.status, 304);

    const replaced = await fx.api('PUT', path, { body: gatewayJson(8080, { v1: 90, v2: 10 }), headers: { 'if-match': v1 } });
    assert.is(replaced.status, 200, replaced.text);
    const v2 = etag(replaced.headers);
    assert.is.not(v2, v1);
    const stale = await fx.api('PUT', path, { body: gatewayJson(8080), headers: { 'if-match': v1 } });
    assert.is(stale.status, 409);
    assert.is(code(stale), 'version_conflict');
    const nowJson = await fx.api('GET', path);
    assert.is(nowJson.headers.get('x-weir-format'), 'json');
    assert.equal((nowJson.json as { routes: Record<string, { weight: number }> }).routes.v1?.weight, 90);

    const list = await fx.api('GET', nsPath(A, '/gateways'));
    assert.is(list.status, 200);
    const gws = (list.json as { gateways: Array<{ name: string; version: string; port: number; routes: Array<{ name: string; weight: number }> }> }).gateways;
    assert.equal(
      gws.map((g) => [g.name, `"${g.version}"`, g.port, g.routes.map((r) => `${r.name}=${r.weight}`)]),
      [['web', v2, 8080, ['v1=90', 'v2=10']]],
    );

    const staleDelete = await fx.api('DELETE', path, { headers: { 'if-match': v1 } });
    assert.is(staleDelete.status, 409);
    const del = await fx.api('DELETE', path, { headers: { 'if-match': v2 } });
    assert.is(del.status, 204);
    assert.is((await fx.api('DELETE', path)).status, 404);
    const gone = await fx.api('GET', path);
    assert.is(gone.status, 404);
    assert.is(code(gone), 'gateway_not_found');
    const ifMatchMissing = await fx.api('PUT', path, { body: yaml, headers: { 'if-match': '*' } });
    assert.is(ifMatchMissing.status, 409, 'If-Match: * needs an existing gateway');

    const actions = fx.audit.lines.filter((l) => l.target === 'gateway/acme/prod/web').map((l) => [l.action, l.beforeVersion === null, l.afterVersion === null, l.by.startsWith('admin (')]);
    assert.equal(actions, [
      ['gateway.create', true, false, true],
      ['gateway.replace', false, false, true],
      ['gateway.delete', false, true, true],
    ]);
    assert.ok(fx.audit.lines.every((l) => l.requestId !== '' && l.role === 'admin' && l.namespace === 'acme/prod'));
  });

  t('route and weight edits are CAS writes; YAML comments survive; bad edits get the model\'s messages', async ({ fx }) => {
    const path = nsPath(A, '/gateways/shop');
    const created = await fx.api('PUT', path, { body: gatewayYaml(8081) });
    assert.is(created.status, 201, created.text);
    const v1 = etag(created.headers);

    const weights = await fx.api('PUT', `${path}/weights`, { body: { v1: 80, v2: 20 }, headers: { 'if-match': v1 } });
    assert.is(weights.status, 200, weights.text);
    const v2 = etag(weights.headers);
    const staleWeights = await fx.api('PUT', `${path}/weights`, { body: { v1: 70, v2: 30 }, headers: { 'if-match': v1 } });
    assert.is(staleWeights.status, 409);
    assert.is(code(staleWeights), 'version_conflict');

    const patched = await fx.api('PATCH', `${path}/routes/v2`, { body: { condition: 'user-agent = Firefox', condition_strength: '50%' } });
    assert.is(patched.status, 200, patched.text);
    const yaml = (await fx.api('GET', path, { headers: { accept: 'application/yaml' } })).text;
    assert.match(yaml, /^# managed by the test\n/);
    // The yaml package moves a comment after `v1:` onto its own line; it survives either way.
    assert.match(yaml, /v1:\s+# route v1\n +weight: 80\n/);
    assert.match(yaml, /v2:\s+# route v2\n +weight: 20\n/);
    assert.match(yaml, /condition: user-agent = Firefox\n +condition_strength: 50%/);
    assert.is.not(etag(patched.headers), v2);

    const sum = await fx.api('PUT', `${path}/weights`, { body: { v1: 60, v2: 30 } });
    assert.is(sum.status, 400);
    assert.is(code(sum), 'invalid_gateway');
    // The position is the line and column in the stored text the edit produced.
    assert.match(message(sum), /^shop:\d+:\d+: routes\.v2\.weight: weights add up to 90%, must be 100% \(or 0%, to route by conditions only\)$/);
    const unknown = await fx.api('PUT', `${path}/weights`, { body: { v1: 50, v9: 50 } });
    assert.is(unknown.status, 400);
    assert.is(code(unknown), 'unknown_route');
    assert.match(message(unknown), /"v9"/);
    const noRoute = await fx.api('PATCH', `${path}/routes/v9`, { body: { weight: 10 } });
    assert.is(noRoute.status, 404);
    assert.is(code(noRoute), 'route_not_found');
    const badCond = await fx.api('PATCH', `${path}/routes/v1`, { body: { condition: 'has cookie' } });
    assert.is(badCond.status, 400);
    assert.match(message(badCond), /^shop:\d+:\d+: routes\.v1\.condition: unexpected end of condition at column 11, expected a cookie name$/);

    // PUT on a route replaces its three fields: the condition goes, the weight is set.
    const replaced = await fx.api('PUT', `${path}/routes/v2`, { body: { weight: 20 } });
    assert.is(replaced.status, 200, replaced.text);
    const summary = (replaced.json as { gateway: { routes: Array<{ name: string; condition: string | null; weight: number }> } }).gateway.routes;
    assert.equal(summary.map((r) => [r.name, r.weight, r.condition]), [['v1', 80, null], ['v2', 20, null]]);
  });

  t('port conflicts are 409 and name the other gateway; the name must match the path', async ({ fx }) => {
    assert.is((await fx.api('PUT', nsPath(A, '/gateways/one'), { body: gatewayYaml(8090) })).status, 201);
    const clash = await fx.api('PUT', nsPath(A, '/gateways/two'), { body: gatewayJson(8090) });
    assert.is(clash.status, 409);
    assert.is(code(clash), 'port_conflict');
    assert.match(message(clash), /port 8090 is already used by gateway "one"/);
    // Replacing `one` itself on its own port is no conflict.
    assert.is((await fx.api('PUT', nsPath(A, '/gateways/one'), { body: gatewayJson(8090) })).status, 200);
    const named = await fx.api('PUT', nsPath(A, '/gateways/two'), { body: { name: 'three', ...gatewayJson(8091) } });
    assert.is(named.status, 400);
    assert.match(message(named), /name "three" differs from "two"/);
  });
}

/**
 * 10 clients at once, on one server or split over two replicas (two servers, each with its own
 * store client, so only the store's CAS keeps them apart), two ways. (1) Each PATCHes its own route's
 * condition_strength 1..3 without If-Match: the servers' read-modify-write with CAS retries
 * must lose none. (2) Each moves 1% of weight from r0 to its own route 3 times via GET + PUT
 * weights with If-Match, retrying on 409: the final weights prove every move landed once.
 */
export function defineConcurrencyTest(t: Test<ContractContext & { replica?: ControlFixture }>, clients = 10, rounds = 3): void {
  t(`${clients} parallel clients editing one gateway lose no update`, async ({ fx, replica }) => {
    const names = Array.from({ length: clients }, (_, i) => `r${i + 1}`);
    const lines = ['# concurrency', 'port: 8200', 'routes:', '  r0:', '    weight: 100'];
    for (const n of names) lines.push(`  ${n}:`, '    weight: 0', `    condition: has header x-${n}`, '    condition_strength: 0%');
    const path = nsPath(A, '/gateways/busy');
    assert.is((await fx.api('PUT', path, { body: lines.join('\n') + '\n' })).status, 201);
    const via = (i: number): ControlFixture => (i % 2 === 0 || !replica ? fx : replica);

    await Promise.all(
      names.map(async (n, i) => {
        for (let s = 1; s <= rounds; s++) {
          const r = await via(i).api('PATCH', `${path}/routes/${n}`, { body: { condition_strength: s }, token: fx.tok.deployerA });
          assert.is(r.status, 200, r.text);
        }
      }),
    );
    let clientRetries = 0;
    await Promise.all(
      names.map(async (n, i) => {
        for (let s = 1; s <= rounds; s++) {
          for (;;) {
            const cur = await via(i + 1).api('GET', path);
            const routes = (cur.json as { routes: Record<string, { weight: number }> }).routes;
            const body = { r0: (routes.r0?.weight ?? 0) - 1, [n]: (routes[n]?.weight ?? 0) + 1 };
            const r = await via(i).api('PUT', `${path}/weights`, { body, headers: { 'if-match': cur.headers.get('etag') ?? '' } });
            if (r.status === 200) break;
            assert.is(r.status, 409, r.text);
            clientRetries++;
          }
        }
      }),
    );
    const final = (await fx.api('GET', path)).json as { routes: Record<string, { weight: number; condition_strength: string | number }> };
    assert.is(final.routes.r0?.weight, 100 - clients * rounds);
    for (const n of names) {
      assert.is(final.routes[n]?.weight, rounds, `weight of ${n}`);
      assert.is(final.routes[n]?.condition_strength, rounds, `condition_strength of ${n}`);
    }
    if (replica) {
      // One replica serialises its own writes; across replicas only the store's CAS helps.
      const retries = ((await fx.server.metrics.casRetries.get()).values[0]?.value ?? 0) + ((await replica.server.metrics.casRetries.get()).values[0]?.value ?? 0);
      assert.ok(retries > 0, 'the servers retried after CAS conflicts');
    }
    assert.ok(clientRetries > 0, 'the If-Match path saw contention');
    const yaml = (await fx.api('GET', path, { headers: { accept: 'application/yaml' } })).text;
    assert.match(yaml, /^# concurrency\n/);
  });
}
