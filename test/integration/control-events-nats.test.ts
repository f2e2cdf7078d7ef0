// The event stream's NATS feed against a real nats-server: a gateway change announced on NATS
// (as any control API replica does after a write) and a release transition on
// `weir.<org>.<env>.releases.<gateway>` reach the stream of that namespace, and only that one.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'nats';
import { Cleanup, gwPath, scratch, startE2EControl, storeFile } from '../harness/e2e.js';
import { startNatsServer } from '../harness/nats.js';
import { readEvents } from '../harness/sse.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('event stream over NATS');
const cleanup = new Cleanup();
t.after(() => cleanup.run());

t('gateway changes and release transitions from NATS, per namespace', async () => {
  const dir = await scratch(cleanup, 'weir-events-nats-');
  const root = join(dir, 'store');
  await mkdir(join(root, 'acme', 'prod', 'gateways'), { recursive: true });
  const nats = await startNatsServer();
  cleanup.add(() => nats.dispose());
  const control = await startE2EControl({ store: storeFile(root), natsUrl: nats.url, stateDir: join(dir, 'control') });
  cleanup.add(() => control.close());
  const nc = await connect({ servers: nats.url });
  cleanup.add(() => nc.close());
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
  const url = control.base + '/api/v1/namespaces/acme/prod/events';
  const events = await readEvents(
    url,
    control.adminToken,
    (evs) => evs.some((e) => e.event === 'release') && evs.some((e) => e.event === 'gateway' && (e.data as { via: string }).via === 'nats'),
    async () => {
      // Another namespace's release must not show up here.
      nc.publish('weir.globex.prod.releases.shop', enc({ id: 'r0', phase: 'Progressing', at: new Date().toISOString() }));
      nc.publish('weir.acme.prod.releases.shop', enc({ id: 'r1', phase: 'Paused', at: new Date().toISOString() }));
      const put = await control.api('PUT', gwPath('acme', 'prod', 'shop'), { body: { port: 18080, routes: { v1: { weight: 100, targets: ['127.0.0.1:9'] } } } });
      assert.is(put.status, 201, put.text);
    },
  );
  const rel = events.filter((e) => e.event === 'release').map((e) => e.data as { gateway: string; release: { id: string } });
  assert.equal(rel.map((r) => [r.gateway, r.release.id]), [['shop', 'r1']]);
  const gw = events.find((e) => e.event === 'gateway' && (e.data as { via: string }).via === 'nats')?.data as { gateway: string; action: string; by: string };
  assert.equal([gw.gateway, gw.action, gw.by], ['shop', 'put', 'admin']);
});

t.run();
