// `weir up`: everything on one machine with no servers to install. The agent watches the
// embedded file store under ./var/store; two demo upstreams answer for the example gateway.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger } from '../agent/log.js';
import { packageRoot } from '../agent/package-root.js';
import { resolveSettings } from '../agent/settings.js';
import { launchAgent, onShutdown } from './agent-command.js';

const DEMO_UPSTREAMS: Array<{ name: string; port: number }> = [
  { name: 'shop v1', port: 9901 },
  { name: 'shop v2', port: 9902 },
];

function demoUpstream(name: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
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
  const env = {
    WEIR_STORE: `file://${join(root, 'store')}`,
    WEIR_STATE_DIR: join(root, 'state'),
    WEIR_VHOST_PORT: '9080',
    WEIR_RELOAD_MIN_INTERVAL_MS: '1000',
    ...process.env,
  };
  const settings = resolveSettings(flags, env, hostname());
  const logger = createLogger({ name: 'weir-up' });
  const gatewaysDir = join(root, 'store', settings.namespace.org, settings.namespace.env, 'gateways');
  await mkdir(gatewaysDir, { recursive: true });
  if ((await readdir(gatewaysDir)).length === 0) {
    await copyFile(join(packageRoot(), 'examples', 'shop.yaml'), join(gatewaysDir, 'shop.yaml'));
  }
  const upstreams: Server[] = [];
  for (const u of DEMO_UPSTREAMS) {
    try {
      upstreams.push(await demoUpstream(u.name, u.port));
    } catch (err) {
      logger.warn({ port: u.port, err: (err as Error).message }, 'demo upstream not started (port busy?)');
    }
  }
  const running = await launchAgent(settings, logger);
  process.stderr.write(
    [
      '',
      'Weir is up (embedded file store; Ctrl-C stops everything).',
      `  gateways:  ${gatewaysDir}/*.yaml  (edit and save; changes apply at once)`,
      '  try:       curl http://127.0.0.1:8080/            (90% v1, 10% v2)',
      "             curl -A Firefox http://127.0.0.1:8080/  (always v2)",
      `             curl -H 'Host: shop.localhost' http://127.0.0.1:${settings.vhostPort}/`,
      `  agent:     http://${settings.httpAddr.host}:${running.httpPort}/status  /metrics  /readyz`,
      '',
    ].join('\n'),
  );
  return onShutdown(logger, async () => {
    await running.stop();
    for (const s of upstreams) s.close();
  });
}
