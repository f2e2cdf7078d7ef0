import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { freePort } from './ports.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface Upstream {
  name: string;
  port: number;
  host: string;
  seen: SeenRequest[];
  close: () => Promise<void>;
}

/** An HTTP upstream that answers every request with its own name (body and `x-upstream` header). */
export async function httpUpstream(name: string, host = '127.0.0.1'): Promise<Upstream> {
  const port = await freePort(host);
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    res.setHeader('x-upstream', name);
    res.setHeader('x-path', req.url ?? '');
    res.end(name);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(port, host, r));
  return {
    name,
    port,
    host,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A TCP upstream that writes its name and closes. */
export async function tcpUpstream(name: string, host = '127.0.0.1'): Promise<Upstream> {
  const port = await freePort(host);
  const server: TcpServer = createTcpServer((sock) => {
    sock.on('error', () => undefined);
    sock.end(name);
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  return { name, port, host, seen: [], close: () => new Promise<void>((r) => server.close(() => r())) };
}
