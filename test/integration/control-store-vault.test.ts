// The control API over Vault KV v2 (the contract double): the shared contract, two replicas
// under contention (Vault's check-and-set), and an outage: 503 store_unavailable, then recovery.
import { VaultStore } from '../../store/vault-store.js';
import { A, code, gatewayYaml, message, nsPath, startControl, type ControlFixture } from '../harness/control.js';
import { defineConcurrencyTest, defineControlContract, type ContractContext } from '../harness/control-contract.js';
import { VaultKv2Double } from '../doubles/vault-kv2.js';
import { assert, suite } from '../harness/uvu.js';

interface Ctx extends ContractContext {
  vault: VaultKv2Double;
  stores: VaultStore[];
  replica?: ControlFixture;
}

const open = (ctx: Ctx): VaultStore => {
  const s = new VaultStore({ mount: 'secret', endpoint: ctx.vault.url, token: 'root', requestTimeoutMs: 2000 });
  ctx.stores.push(s);
  return s;
};

function setup(t: ReturnType<typeof suite<Ctx>>, replicas: boolean): void {
  t.before.each(async (ctx) => {
    ctx.vault = new VaultKv2Double({ mount: 'secret' });
    await ctx.vault.start();
    ctx.stores = [];
    ctx.fx = await startControl(open(ctx));
    if (replicas) ctx.replica = await startControl(open(ctx), { replicaOf: ctx.fx });
  });
  t.after.each(async (ctx) => {
    await ctx.replica?.close();
    await ctx.fx.close();
    await Promise.all(ctx.stores.map((s) => s.close()));
    await ctx.vault.stop();
  });
}

const contract = suite<Ctx>('control API contract (vault)');
setup(contract, false);
defineControlContract(contract);
contract('Vault down: 503 store_unavailable with the store\'s message; back up: works again', async ({ fx, vault }) => {
  const path = nsPath(A, '/gateways/web');
  assert.is((await fx.api('PUT', path, { body: gatewayYaml(8080) })).status, 201);
  await vault.stop();
  for (const [method, p, body] of [
    ['GET', nsPath(A, '/gateways'), undefined],
    ['GET', path, undefined],
    ['PUT', path, gatewayYaml(8081)],
    ['PUT', `${path}/weights`, { v1: 10, v2: 90 }],
    ['DELETE', path, undefined],
  ] as const) {
    const r = await fx.api(method, p, body === undefined ? {} : { body });
    assert.is(r.status, 503, `${method} ${p}: ${r.text}`);
    assert.is(code(r), 'store_unavailable');
    assert.match(message(r), /^store vault:http:\/\/127\.0\.0\.1:\d+\/secret unavailable: .*ECONNREFUSED/);
  }
  const m = await fx.api('GET', '/metrics', { token: null });
  assert.match(m.text, /weir_control_store_errors_total\{op="list",kind="unavailable"\} 1/);
  await vault.start();
  const back = await fx.api('PUT', `${path}/weights`, { body: { v1: 10, v2: 90 } });
  assert.is(back.status, 200, back.text);
  // A sealed Vault (503 from Vault itself) is unavailable too.
  vault.failNext(1, 503);
  const sealed = await fx.api('GET', nsPath(A, '/gateways'));
  assert.is(sealed.status, 503);
  assert.is(code(sealed), 'store_unavailable');
  assert.is((await fx.api('GET', nsPath(A, '/gateways'))).status, 200);
});
contract.run();

const busy = suite<Ctx>('control API concurrency (vault, two replicas)');
setup(busy, true);
defineConcurrencyTest(busy);
busy.run();
