// Parallel clients on one control server over the file store. (The file store's CAS holds
// within one store instance only, so the two-replica variant runs on NATS and Vault.)
import { FileStore } from '../../store/file-store.js';
import { startControl } from '../harness/control.js';
import { defineConcurrencyTest, type ContractContext } from '../harness/control-contract.js';
import { tempDir } from '../harness/tmp.js';
import { suite } from '../harness/uvu.js';

const t = suite<ContractContext & { dir: { path: string; remove: () => Promise<void> } }>('control API concurrency (file store)');
t.before.each(async (ctx) => {
  ctx.dir = await tempDir('weir-control-');
  ctx.fx = await startControl(new FileStore(ctx.dir.path));
});
t.after.each(async (ctx) => {
  await ctx.fx.close();
  await ctx.dir.remove();
});
defineConcurrencyTest(t);
t.run();
