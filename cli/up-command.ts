// `weir up`: everything on one machine with no servers to install. The control API and the
// agent share the embedded file store under ./var/store; nats-server joins when installed
// (changes then reach the agent as events, and the API reports agent status); two demo
// upstreams answer for the example gateway.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger } from '../runtime/log.js';
import { packageRoot } from '../runtime/package-root.js';
import { resolveSettings } from '../agent/settings.js';
import { launchAgent, onShutdown } from './agent-command.js';
import { runControlWithReleases } from './control-command.js';
import { findNatsServer, startLocalNats, type LocalNats } from './nats-server-process.js';

const DEMO_UPSTREAMS: Array<{ name: string; port: number; status?: number }> = [
  { name: 'shop v1', port: 9901 },
  { name: 'shop v2', port: 9902 },
  // A broken version to release and see rolled back (docs/RELEASES.md, README).
  { name: 'shop v3 (broken)', port: 9903, status: 500 },
];

function demoUpstream(name: string, port: number, status = 200): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    res.statusCode = status;
    res.setHeader('content-type', 'text/plain');
    res.end(`${name} answered ${req.method ?? 'GET'} ${req.url ?? '/'}\n`);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

export async function runUp(flags: Record<string, string | undefined>): Promise<number> {
  const root = resolve('var');
  const logger = createLogger({ name: 'weir-up' });
  let nats: LocalNats | null = null;
  const natsBin = process.env.WEIR_NATS_URL ? null : findNatsServer();
  if (natsBin) {
    try {
      nats = await startLocalNats(natsBin, Number(process.env.WEIR_UP_NATS_PORT ?? 4222), join(root, 'nats'));
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'nats-server not started; the agent polls the store instead');
    }
  }
  const env: NodeJS.ProcessEnv = {
    WEIR_STORE: `file://${join(root, 'store')}`,
    WEIR_STATE_DIR: join(root, 'state'),
    WEIR_CONTROL_STATE_DIR: join(root, 'control'),
    WEIR_VHOST_PORT: '9080',
    WEIR_RELOAD_MIN_INTERVAL_MS: '1000',
    ...(nats ? { WEIR_NATS_URL: nats.url } : {}),
    ...process.env,
  };
  const settings = resolveSettings(flags, env, hostname());
  const gatewaysDir = join(root, 'store', settings.namespace.org, settings.namespace.env, 'gateways');
  await mkdir(gatewaysDir, { recursive: true });
  if ((await readdir(gatewaysDir)).length === 0) {
    await copyFile(join(packageRoot(), 'examples', 'shop.yaml'), join(gatewaysDir, 'shop.yaml'));
  }
  const upstreams: Server[] = [];
  for (const u of DEMO_UPSTREAMS) {
    try {
      upstreams.push(await demoUpstream(u.name, u.port, u.status));
    } catch (err) {
      logger.warn({ port: u.port, err: (err as Error).message }, 'demo upstream not started (port busy?)');
    }
  }
  const control = await runControlWithReleases(env, { handleSignals: false });
  const running = await launchAgent(settings, logger, env);
  const controlUrl = `http://${control.settings.addr.host}:${control.server.port}`;
  process.stderr.write(
    [
      '',
      `Weir is up (embedded file store${nats ? ', NATS events' : ', no nats-server: the agent polls'}; Ctrl-C stops everything).`,
      `  gateways:  ${gatewaysDir}/*.yaml  (edit and save; changes apply at once)`,
      '  try:       curl http://127.0.0.1:8080/            (90% v1, 10% v2)',
      "             curl -A Firefox http://127.0.0.1:8080/  (always v2)",
      `             curl -H 'Host: shop.localhost' http://127.0.0.1:${settings.vhostPort}/`,
      `  control:   ${controlUrl}/api/v1/openapi.json   (WEIR_URL=${controlUrl})`,
      `  console:   ${controlUrl}/ui/   (sign in with the admin token)`,
      control.bootstrapToken
        ? `  admin token (shown once, store it now):\n             ${control.bootstrapToken}\n             export WEIR_URL=${controlUrl} WEIR_TOKEN=${control.bootstrapToken}\n             node dist/cli/main.js gateway weights shop v1=50 v2=50`
        : `  admin token: created at the first \`weir up\` (or set WEIR_ADMIN_TOKEN on a fresh ./var/control)`,
      `  agent:     http://${settings.httpAddr.host}:${running.httpPort}/status  /metrics  /readyz`,
      '',
    ].join('\n'),
  );
  return onShutdown(logger, async () => {
    await running.stop();
    await control.close();
    await nats?.stop();
    for (const s of upstreams) s.close();
  });
}
