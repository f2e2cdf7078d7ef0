// Agent upgrades with no dropped request, the documented Kubernetes layout: HAProxy started by
// the weir-haproxy container's own script (deploy/kubernetes/haproxy-daemonset.yaml), agents
// attaching through the master socket in the shared state dir. The full drill (20 restarts) is
// `make drill D=agent-upgrade`; here it runs with 2, plus the first-boot order of a node: the
// agent starts before HAProxy exists, writes the config, and attaches once HAProxy comes up.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentUpgradeDrill } from '../../bench/drills/agent-upgrade.js';
import { agentStatus, masterInfo, startAgentProcess, startHaproxyContainer } from '../../bench/drills/lib.js';
import { haproxyBin } from '../harness/haproxy-bin.js';
import { get } from '../harness/http.js';
import { freePorts } from '../harness/ports.js';
import { sleep, tempDir } from '../harness/tmp.js';
import { httpUpstream } from '../harness/upstream.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('edge: agent upgrades (Kubernetes layout)');

t('two agent restarts under load: no failed request, one HAProxy master', async () => {
  const r = await agentUpgradeDrill({ restarts: 2, concurrency: 4 });
  assert.ok(r.passed, r.failures.join('; '));
  assert.is(r.counts['failed requests'], 0);
  assert.is(String(r.counts['HAProxy master PIDs seen']).split(',').length, 1);
});

t('first boot: the agent writes the config, HAProxy starts from it, the agent attaches and never spawns its own', async () => {
  const dir = await tempDir('weir-attach-');
  const up = await httpUpstream('up');
  try {
    const gw = join(dir.path, 'store', 'default', 'default', 'gateways');
    await mkdir(gw, { recursive: true });
    const [port = 0, httpPort = 0] = await freePorts(2);
    await writeFile(join(gw, 'shop.yaml'), `name: shop\nport: ${port}\nroutes:\n  v1:\n    targets: ["127.0.0.1:${up.port}"]\n`);
    const stateDir = join(dir.path, 'state');
    const env = { WEIR_STORE: `file://${join(dir.path, 'store')}`, WEIR_STATE_DIR: stateDir, WEIR_BIND_ADDRESS: '127.0.0.1', WEIR_HAPROXY_BIN: haproxyBin(), WEIR_HAPROXY_MASTER_SOCKET: join(stateDir, 'master.sock'), WEIR_HAPROXY_ON_EXIT: 'keep', WEIR_VHOST_PORT: '0', WEIR_MONITOR_PORT: '0', WEIR_TELEMETRY: 'off', WEIR_LOG_LEVEL: 'info' };
    const starting = startAgentProcess(env, httpPort);
    await sleep(1500);
    const ready = await get(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null);
    assert.ok(ready === null || ready.status === 503, 'not ready without HAProxy');
    const haproxy = startHaproxyContainer(stateDir);
    const agent = await starting;
    try {
      const s = await agentStatus(httpPort);
      assert.is(s.haproxy.adopted, true);
      const m = await masterInfo(join(stateDir, 'master.sock'));
      assert.is(m.pid, haproxy.pid(), 'the master is the container\'s process, not one the agent spawned');
      assert.is((await get(`http://127.0.0.1:${port}/`)).body, 'up');
      await agent.stop();
      assert.is((await get(`http://127.0.0.1:${port}/`)).body, 'up', 'HAProxy keeps serving without the agent');
      // Nothing changed meanwhile: the next agent proves HAProxy runs its rendering and keeps the worker.
      const before = await masterInfo(join(stateDir, 'master.sock'));
      const next = await startAgentProcess(env, httpPort);
      const after = await masterInfo(join(stateDir, 'master.sock'));
      await next.stop();
      assert.equal([after.reloads, after.workers], [before.reloads, before.workers], 'adopted without a reload');
      assert.match(next.log(), /adopted HAProxy runs this configuration: no reload/);
    } finally {
      await agent.stop();
      await haproxy.stop();
    }
  } finally {
    await up.close();
    await dir.remove();
  }
});

t.run();
