// A change whose sync failed once is not left to the next poll. The poll here is 60 s (as with
// NATS change events, where it is a safety net); a store read that fails, and a configuration
// check that fails for a reason no gateway caused, are each retried within about a second.
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { freePorts } from '../harness/ports.js';
import { get } from '../harness/http.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { FileStore } from '../../store/file-store.js';
import type { Collection } from '../../store/collections.js';
import type { DocumentEntry, DocumentSnapshot, Namespace } from '../../store/store.js';

/** A file store that refuses every read while `failing` is set, as a store outage does. */
class FlakyFileStore extends FileStore {
  failing = false;
  failures = 0;
  override async listDocuments(ns: Namespace, collection: Collection): Promise<DocumentSnapshot> {
    if (this.failing && collection === 'gateways') throw new Error(`store unavailable (failure ${++this.failures}, simulated)`);
    return super.listDocuments(ns, collection);
  }
  override async getDocument(ns: Namespace, collection: Collection, name: string): Promise<DocumentEntry | null> {
    if (this.failing && collection === 'gateways') throw new Error(`store unavailable (failure ${++this.failures}, simulated)`);
    return super.getDocument(ns, collection, name);
  }
}

const t = suite('agent retries a failed sync without waiting for the poll (real HAProxy)');
let fx: AgentFixture;
let store: FlakyFileStore;
let up: Upstream;
let ports: number[] = [];
let failFlag = '';

t.before(async () => {
  up = await httpUpstream('a');
  ports = await freePorts(3);
  const dir = (await import('node:os')).tmpdir();
  failFlag = join(dir, `weir-retry-${process.pid}-fail-check`);
  // `haproxy -c` fails while the flag file exists (a check that died under load, say); every
  // other invocation is the real binary.
  const wrapper = join(dir, `weir-retry-${process.pid}-haproxy.sh`);
  await writeFile(wrapper, `#!/bin/sh\nfor a in "$@"; do if [ "$a" = "-c" ] && [ -e '${failFlag}' ]; then echo "[ALERT] (simulated) configuration check killed" >&2; exit 1; fi; done\nexec '${haproxyBin()}' "$@"\n`);
  await chmod(wrapper, 0o755);
  fx = await startAgent({
    env: { WEIR_POLL_INTERVAL_MS: '60000', WEIR_HAPROXY_BIN: wrapper },
    files: { 'shop.yaml': gatewayYaml('shop', ports[0] as number, { v1: { targets: [up.port] } }) },
    store: (root) => (store = new FlakyFileStore(root)),
  });
  await fx.waitStatus((s) => s.applied.length === 1 && !s.pendingReload, 'shop applied');
});

t.after(async () => {
  await rm(failFlag, { force: true });
  await fx?.cleanup();
  await up?.close();
});

t('a store read that failed is retried: the change lands once the store answers, not at the 60 s poll', async () => {
  const version = (): string | undefined => fx.agent.getStatus().applied.find((a) => a.name === 'shop')?.version;
  const before = version();
  store.failing = true;
  await fx.write('shop', gatewayYaml('shop', ports[0] as number, { v1: { weight: 50, targets: [up.port] }, v2: { weight: 50, targets: [up.port] } }));
  await fx.waitStatus((s) => !s.store.ok, 'the sync after the write failed', 5000);
  assert.is(version(), before, 'nothing applied while the store fails');
  const failedAt = Date.now();
  store.failing = false;
  await fx.waitStatus(() => version() !== before, 'the change applied after the store came back', 10_000);
  assert.ok(Date.now() - failedAt < 10_000, `applied ${Date.now() - failedAt} ms after the store came back`);
  assert.ok(fx.agent.getStatus().store.ok);
  assert.ok(store.failures >= 1, 'the store did fail');
  assert.is((await get(`http://127.0.0.1:${ports[0]}/`)).status, 200);
});

t('a configuration check that failed for no gateway\'s fault is retried: the new gateway is served within seconds', async () => {
  await writeFile(failFlag, '');
  await fx.write('api', gatewayYaml('api', ports[1] as number, { v1: { targets: [up.port] } }));
  await fx.waitStatus((s) => /configuration check killed/.test(s.lastError ?? ''), 'the check failed', 10_000);
  assert.not.ok(fx.agent.getStatus().applied.some((a) => a.name === 'api'), 'not applied while the check fails');
  const failedAt = Date.now();
  await rm(failFlag);
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'api') && !s.pendingReload, 'api applied after the retry', 15_000);
  assert.ok(Date.now() - failedAt < 15_000);
  const r = await get(`http://127.0.0.1:${ports[1]}/`);
  assert.is(r.status, 200);
  assert.match(await fx.agent.metrics.registry.metrics(), /weir_haproxy_reload_failures_total\{stage="check"\} [1-9]/);
});

t.run();
