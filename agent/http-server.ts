// The agent's HTTP side: /metrics for Prometheus, /healthz (the agent runs), /readyz
// (HAProxy runs a config), /status (JSON: what is applied, what was refused and why).
import { createServer, type Server } from 'node:http';
import type { Agent } from './agent.js';
import type { Logger } from '../runtime/log.js';

export async function startHttpServer(agent: Agent, addr: { host: string; port: number }, logger: Logger): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/metrics':
        agent.metrics.registry
          .metrics()
          .then((text) => send(200, agent.metrics.registry.contentType, text))
          .catch((err: unknown) => send(500, 'text/plain', `metrics failed: ${(err as Error).message}\n`));
        return;
      case '/healthz':
        return send(200, 'text/plain', 'ok\n');
      case '/readyz': {
        const ready = agent.isReady();
        return send(ready ? 200 : 503, 'text/plain', ready ? 'ready\n' : 'not ready: HAProxy is not running a configuration\n');
      }
      case '/status':
        return send(200, 'application/json', `${JSON.stringify(agent.getStatus(), null, 2)}\n`);
      default:
        return send(404, 'text/plain', 'not found: try /metrics, /healthz, /readyz, /status\n');
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : addr.port;
  logger.info({ addr: `${addr.host}:${port}` }, 'HTTP endpoints listening');
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
