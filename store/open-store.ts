// Turns WEIR_STORE into a store. Accepted forms:
//   file:///abs/path | file://./rel/path | /abs/path | ./rel/path   embedded file store
//   vault:<mount>                                                   Vault KV v2 (VAULT_ADDR, VAULT_TOKEN[_FILE], VAULT_CACERT, VAULT_NAMESPACE)
//   nats://host:4222[,nats://host2:4222]  (tls:// too)              NATS JetStream KV (NATS_CREDS, NATS_TOKEN)
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../runtime/log.js';
import { FileStore } from './file-store.js';
import type { DocumentStore } from './document-store.js';
import type { GatewayStore } from './store.js';
import type { GatewayStoreWriter } from './store-writer.js';

/** Every store reads gateways, reads and writes the other collections, and keeps leases. */
export type OpenedStore = GatewayStore & Partial<GatewayStoreWriter> & DocumentStore;

export const STORE_SPEC_FORMS = ['file:///abs/path', '/abs/path or ./rel/path', 'vault:<kv-v2-mount>', 'nats://host:4222[,nats://host2:4222]'] as const;

/** WEIR_STORE could not be understood. */
export class StoreSpecError extends Error {
  override readonly name = 'StoreSpecError';
  constructor(
    readonly spec: string,
    reason: string,
  ) {
    super(`WEIR_STORE=${JSON.stringify(spec)} is not a valid store: ${reason}; accepted forms: ${STORE_SPEC_FORMS.join(', ')}`);
  }
}

export type ParsedStoreSpec = { kind: 'file'; root: string } | { kind: 'vault'; mount: string } | { kind: 'nats'; servers: string[] };

/** Parses WEIR_STORE without touching the network or disk; relative paths resolve against `cwd`. */
export function parseStoreSpec(spec: string, cwd = process.cwd()): ParsedStoreSpec {
  const s = spec.trim();
  if (s === '') throw new StoreSpecError(spec, 'it is empty');
  if (s.startsWith('file:')) {
    const rest = s.slice('file:'.length);
    // file://./rel and file:rel are relative; file:///abs and file://localhost/abs are absolute.
    if (rest.startsWith('///') || rest.startsWith('//localhost/')) {
      try {
        return { kind: 'file', root: fileURLToPath(s) };
      } catch (err) {
        throw new StoreSpecError(spec, (err as Error).message);
      }
    }
    const path = rest.startsWith('//') ? rest.slice(2) : rest;
    if (path === '') throw new StoreSpecError(spec, 'the file URL has no path');
    if (!path.startsWith('.') && !path.startsWith('/')) throw new StoreSpecError(spec, `file URL host ${JSON.stringify(path.split('/')[0])} is not supported; use file:///abs/path or file://./rel/path`);
    return { kind: 'file', root: resolve(cwd, decodeURIComponent(path)) };
  }
  if (s.startsWith('/') || s.startsWith('./') || s.startsWith('../') || s === '.') return { kind: 'file', root: resolve(cwd, s) };
  if (s.startsWith('vault:')) {
    const mount = s.slice('vault:'.length).replace(/^\/+|\/+$/g, '');
    if (!mount) throw new StoreSpecError(spec, 'the Vault KV v2 mount is missing (e.g. vault:secret)');
    if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(mount)) throw new StoreSpecError(spec, `Vault mount ${JSON.stringify(mount)} has characters other than letters, digits, '_', '.', '-' and '/'`);
    return { kind: 'vault', mount };
  }
  if (s.startsWith('nats://') || s.startsWith('tls://')) {
    const servers = s.split(',').map((u) => u.trim()).filter(Boolean);
    for (const u of servers) {
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        throw new StoreSpecError(spec, `${JSON.stringify(u)} is not a URL`);
      }
      if ((url.protocol !== 'nats:' && url.protocol !== 'tls:') || !url.hostname) throw new StoreSpecError(spec, `${JSON.stringify(u)} is not a nats://host:port URL`);
    }
    return { kind: 'nats', servers };
  }
  throw new StoreSpecError(spec, 'unknown scheme');
}

/**
 * Opens the store WEIR_STORE names. Never waits for a remote store to be reachable: the agent
 * starts and serves its last-good config, and the store reports StoreUnavailableError meanwhile.
 */
export async function openStore(spec: string, opts: { logger: Logger; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<OpenedStore> {
  const parsed = parseStoreSpec(spec, opts.cwd);
  const env = opts.env ?? process.env;
  switch (parsed.kind) {
    case 'file':
      return new FileStore(parsed.root, { logger: opts.logger });
    // Vault's and NATS's clients are loaded only for their stores (node-vault alone is ~20 MiB of an agent's RSS).
    case 'vault': {
      const { VaultStore } = await import('./vault-store.js');
      const store = VaultStore.fromEnv(parsed.mount, { logger: opts.logger, env });
      await store.start();
      return store;
    }
    case 'nats': {
      const { NatsKvStore } = await import('./nats-kv-store.js');
      return new NatsKvStore({
        servers: parsed.servers,
        logger: opts.logger,
        ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}),
        ...(env.NATS_TOKEN ? { token: env.NATS_TOKEN } : {}),
      });
    }
  }
}
