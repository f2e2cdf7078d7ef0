// API tokens: `weir_<id>_<secret>`. Only a salted scrypt hash of the secret is kept; the
// plain token is shown once, when it is issued. Successful verifications are cached briefly
// by sha256 of the token so requests do not each pay scrypt; revocation still takes effect at
// once because every request re-reads the token record by id.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../runtime/atomic-file.js';

export type Role = 'admin' | 'deployer' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'deployer', 'viewer'];

export interface ScryptHash {
  algo: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
  /** base64 */
  key: string;
}

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** Grants: `org/env`, `org/*` or `*`. */
  namespaces: string[];
  createdAt: string;
  createdBy: string;
  hash: ScryptHash;
}

/** The token without its hash: what the API lists. */
export type TokenInfo = Omit<TokenRecord, 'hash'>;

/** Where token records live. File-backed here; a store-backed one can serve several replicas. */
export interface TokenStore {
  list(): Promise<TokenRecord[]>;
  get(id: string): Promise<TokenRecord | null>;
  add(rec: TokenRecord): Promise<void>;
  /** Resolves false when there was no such token. */
  remove(id: string): Promise<boolean>;
}

export class TokenFormatError extends Error {
  override readonly name = 'TokenFormatError';
}

/** scrypt cost: N = 2^15 (32 MiB with r = 8), per-token 16-byte salt. */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LEN = 32;

const TOKEN_RE = /^weir_([a-z0-9]{8,32})_([A-Za-z0-9_-]{32,128})$/;
const GRANT_RE = /^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\/(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?))$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function parseToken(token: string): { id: string; secret: string } | null {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1] as string, secret: m[2] as string } : null;
}

export function checkGrant(grant: string): string | null {
  return GRANT_RE.test(grant) ? null : `grant ${JSON.stringify(grant.slice(0, 80))} must be "org/env", "org/*" or "*" (org and env: lower-case DNS labels)`;
}

export function checkTokenName(name: string): string | null {
  return NAME_RE.test(name) ? null : `token name ${JSON.stringify(name.slice(0, 80))} must be 1–64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`;
}

function scrypt(secret: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(secret, salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashSecret(secret: string): Promise<ScryptHash> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, SCRYPT_PARAMS);
  return { algo: 'scrypt', ...SCRYPT_PARAMS, salt: salt.toString('base64'), key: key.toString('base64') };
}

export async function verifySecret(secret: string, h: ScryptHash): Promise<boolean> {
  if (h.algo !== 'scrypt') return false;
  const want = Buffer.from(h.key, 'base64');
  const got = await scrypt(secret, Buffer.from(h.salt, 'base64'), h);
  return want.length === got.length && timingSafeEqual(want, got);
}

export interface NewToken {
  name: string;
  role: Role;
  namespaces: string[];
  createdBy: string;
}

/** Creates and stores a token; returns the record and the plain token (shown once). */
export async function issueToken(store: TokenStore, t: NewToken, presetToken?: string): Promise<{ record: TokenRecord; token: string }> {
  let token = presetToken;
  if (token === undefined) token = `weir_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const parts = parseToken(token);
  if (!parts) throw new TokenFormatError('token must look like weir_<id>_<secret>: id 8–32 of a-z0-9, secret 32–128 of A-Z a-z 0-9 _ -');
  if (await store.get(parts.id)) throw new TokenFormatError(`a token with id ${parts.id} already exists`);
  const record: TokenRecord = {
    id: parts.id,
    name: t.name,
    role: t.role,
    namespaces: [...t.namespaces],
    createdAt: new Date().toISOString(),
    createdBy: t.createdBy,
    hash: await hashSecret(parts.secret),
  };
  await store.add(record);
  return { record, token };
}

export const tokenInfo = ({ hash: _hash, ...info }: TokenRecord): TokenInfo => info;

/** Verifies bearer tokens with a short positive cache keyed by sha256 of the token. */
export class TokenVerifier {
  private readonly cache = new Map<string, { id: string; until: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  /** How many scrypt verifications ran (the rest were cache hits); for tests and debugging. */
  slowChecks = 0;

  constructor(
    private readonly store: TokenStore,
    opts: { cacheTtlMs?: number; maxEntries?: number } = {},
  ) {
    this.ttlMs = opts.cacheTtlMs ?? 30_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** The token's record, or null when the token is malformed, unknown, revoked or wrong. */
  async verify(token: string): Promise<TokenRecord | null> {
    const parts = parseToken(token);
    if (!parts) return null;
    const digest = createHash('sha256').update(token).digest('hex');
    // Always re-read the record: a revoked token must fail on the very next request.
    const rec = await this.store.get(parts.id);
    if (!rec) {
      this.cache.delete(digest);
      return null;
    }
    const hit = this.cache.get(digest);
    if (hit && hit.id === rec.id && hit.until > Date.now()) return rec;
    this.slowChecks++;
    if (!(await verifySecret(parts.secret, rec.hash))) return null;
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(digest, { id: rec.id, until: Date.now() + this.ttlMs });
    return rec;
  }

  forget(id: string): void {
    for (const [k, v] of this.cache) if (v.id === id) this.cache.delete(k);
  }
}

export class MemoryTokenStore implements TokenStore {
  private readonly tokens = new Map<string, TokenRecord>();
  async list(): Promise<TokenRecord[]> {
    return [...this.tokens.values()];
  }
  async get(id: string): Promise<TokenRecord | null> {
    return this.tokens.get(id) ?? null;
  }
  async add(rec: TokenRecord): Promise<void> {
    this.tokens.set(rec.id, rec);
  }
  async remove(id: string): Promise<boolean> {
    return this.tokens.delete(id);
  }
}

interface TokenFile {
  version: 1;
  tokens: TokenRecord[];
}

/**
 * Tokens in one JSON file (mode 0600) written atomically. The file is re-read when its
 * mtime/size changes, so a revocation made by another process is seen on the next request.
 * Writes from several processes are not locked against each other.
 */
export class FileTokenStore implements TokenStore {
  private cached: { mtimeMs: number; size: number; tokens: Map<string, TokenRecord> } | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  private async load(): Promise<Map<string, TokenRecord>> {
    let st;
    try {
      st = await stat(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    if (this.cached && this.cached.mtimeMs === st.mtimeMs && this.cached.size === st.size) return this.cached.tokens;
    const parsed = JSON.parse(await readFile(this.path, 'utf8')) as Partial<TokenFile>;
    if (parsed.version !== 1 || !Array.isArray(parsed.tokens)) throw new Error(`${this.path}: not a Weir token file (expected {"version":1,"tokens":[...]})`);
    const tokens = new Map(parsed.tokens.map((t) => [t.id, t]));
    this.cached = { mtimeMs: st.mtimeMs, size: st.size, tokens };
    return tokens;
  }

  private async save(tokens: Map<string, TokenRecord>): Promise<void> {
    const file: TokenFile = { version: 1, tokens: [...tokens.values()] };
    await writeFileAtomic(this.path, JSON.stringify(file, null, 2) + '\n', 0o600);
    this.cached = undefined;
  }

  /** Serialises read-modify-write cycles within this process. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  async list(): Promise<TokenRecord[]> {
    return [...(await this.load()).values()];
  }
  async get(id: string): Promise<TokenRecord | null> {
    return (await this.load()).get(id) ?? null;
  }
  add(rec: TokenRecord): Promise<void> {
    return this.locked(async () => {
      const tokens = new Map(await this.load());
      tokens.set(rec.id, rec);
      await this.save(tokens);
    });
  }
  remove(id: string): Promise<boolean> {
    return this.locked(async () => {
      const tokens = new Map(await this.load());
      if (!tokens.delete(id)) return false;
      await this.save(tokens);
      return true;
    });
  }
}

/**
 * First start: with no tokens yet, WEIR_ADMIN_TOKEN (when given) becomes the admin token,
 * else a fresh one is created and returned so the caller can show it once. With tokens
 * already present nothing happens (and `fromEnv` is ignored).
 */
export async function ensureAdminToken(tokens: TokenStore, opts: { fromEnv?: string } = {}): Promise<{ created: boolean; token?: string; id?: string; fromEnv: boolean }> {
  if ((await tokens.list()).length > 0) return { created: false, fromEnv: false };
  const preset = opts.fromEnv?.trim() || undefined;
  if (preset !== undefined && !parseToken(preset)) {
    throw new TokenFormatError('WEIR_ADMIN_TOKEN must look like weir_<id>_<secret>: id 8–32 of a-z0-9, secret 32–128 of A-Z a-z 0-9 _ - (generate one with `weir_$(openssl rand -hex 8)_$(openssl rand -hex 32)`)');
  }
  const { record, token } = await issueToken(tokens, { name: 'admin', role: 'admin', namespaces: ['*'], createdBy: 'bootstrap' }, preset);
  return preset !== undefined ? { created: true, id: record.id, fromEnv: true } : { created: true, token, id: record.id, fromEnv: false };
}
