// The control API over a real NATS JetStream KV: the shared contract (CRUD, preconditions,
// CAS edits, port conflicts) and two replicas under contention.
import { NatsKvStore } from '../../store/nats-kv-store.js';
import { startControl, type ControlFixture } from '../harness/control.js';
import { defineConcurrencyTest, defineControlContract, type ContractContext } from '../harness/control-contract.js';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { suite } from '../harness/uvu.js';

interface Ctx extends ContractContext {
  nats: NatsHarness;
  stores: NatsKvStore[];
  replica?: ControlFixture;
}

function setup(t: ReturnType<typeof suite<Ctx>>, replicas: boolean): void {
  t.before(async (ctx) => {
    ctx.nats = await startNatsServer();
  });
  t.after(async (ctx) => {
    await ctx.nats.dispose();
  });
  t.before.each(async (ctx) => {
    ctx.stores = [];
    const open = (): NatsKvStore => {
      const s = new NatsKvStore({ servers: [ctx.nats.url], requestTimeoutMs: 3000, retryMs: 200 });
      ctx.stores.push(s);
      return s;
    };
    ctx.fx = await startControl(open());
    if (replicas) ctx.replica = await startControl(open(), { replicaOf: ctx.fx });
  });
  t.after.each(async (ctx) => {
    await ctx.replica?.close();
    await ctx.fx.close();
    // Each test starts from empty buckets.
    for (const ns of (await ctx.stores[0]?.listNamespaces()) ?? []) {
      for (const e of (await ctx.stores[0]?.list(ns))?.entries ?? []) await ctx.stores[0]?.delete(ns, e.name);
    }
    await Promise.all(ctx.stores.map((s) => s.close()));
  });
}

const contract = suite<Ctx>('control API contract (nats kv)');
setup(contract, false);
defineControlContract(contract);
contract.run();

const busy = suite<Ctx>('control API concurrency (nats kv, two replicas)');
setup(busy, true);
defineConcurrencyTest(busy);
busy.run();
