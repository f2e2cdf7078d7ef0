// The Elasticsearch connection every component uses the same way: settings (es-settings.ts) →
// connection (the CA file read) → the official 8.x client. The agent's shipper, the control API's metrics
// endpoints and the release controller's window source all come through here, so they accept and refuse the
// same values and never import one another.
import { readFile } from 'node:fs/promises';
// Before the client: it would load apache-arrow at start (see es-arrow-deferred.ts).
import './es-arrow-deferred.js';
import { Client, type ClientOptions } from '@elastic/elasticsearch';
import { ES_ENV, type ElasticsearchSettings } from './es-settings.js';

export interface EsConnection {
  url: string;
  apiKey?: string;
  username?: string;
  password?: string;
  /** PEM text of the CA that signed the cluster's certificate. */
  caPem?: string;
  requestTimeoutMs?: number;
}

export class EsConfigError extends Error {
  override name = 'EsConfigError';
}

/** Settings → connection: reads the CA file, so every component fails on it the same way. */
export async function loadEsConnection(es: ElasticsearchSettings, requestTimeoutMs?: number): Promise<EsConnection> {
  let caPem: string | undefined;
  if (es.caFile) {
    try {
      caPem = await readFile(es.caFile, 'utf8');
    } catch (err) {
      throw new EsConfigError(`${ES_ENV.ca}: cannot read ${es.caFile}: ${(err as Error).message}`);
    }
  }
  return {
    url: es.url,
    ...(es.apiKey ? { apiKey: es.apiKey } : {}),
    ...(es.username ? { username: es.username, password: es.password ?? '' } : {}),
    ...(caPem ? { caPem } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  };
}

export function createEsClient(c: EsConnection): Client {
  const opts: ClientOptions = {
    node: c.url,
    maxRetries: 0, // callers own retries (the shipper: backoff + spool; readers: the next tick)
    requestTimeout: c.requestTimeoutMs ?? 30_000,
  };
  if (c.apiKey) opts.auth = { apiKey: c.apiKey };
  else if (c.username) opts.auth = { username: c.username, password: c.password ?? '' };
  if (c.caPem) opts.tls = { ca: c.caPem };
  return new Client(opts);
}

/** Origin only: no credentials in logs or error messages. */
export function esLocation(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
