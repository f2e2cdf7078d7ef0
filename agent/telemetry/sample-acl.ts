/**
 * The per-route pattern files of log sampling (log-sampler.ts): names, contents, and which of them a
 * rendered config names.
 *
 * Each route backend's config holds `set-log-level silent if { rand(1000000) -m int -f <dir>/<file> }`, and
 * its file one integer range `K:`, which matches draws ≥ K: the route keeps K requests per million.
 * `KEEP_ALL:` (1000000:) never matches, as rand(1000000) draws 0..999999.
 *
 * File names come from backend names (`<gateway>:<route>`, model/schema.ts), which a definition chooses:
 * the encoding is injective (two backends never share a file), reversible (an agent starting next to a
 * running HAProxy learns which route each file is for), lower-case only (case-insensitive file systems),
 * and made of characters that need no quoting on a HAProxy config line or a CLI command.
 */
import { join } from 'node:path';

export const KEEP_ALL = 1_000_000;
export const SAMPLE_ACL_EXT = '.acl';
/** The longest encoded name (file systems allow 255 bytes); valid backends stay under 200. */
const MAX_FILE_NAME = 240;

export class SampleFileNameError extends Error {
  override readonly name = 'SampleFileNameError';
}

/**
 * `[a-z0-9.-]` stay (except a leading `.`), an upper-case letter becomes `_` + its lower case, `_` becomes
 * `__`, anything else `+` + two hex digits per UTF-8 byte (`shop:Blue` → `shop+3a_blue.acl`). Each encoded
 * unit starts with a character that says how long it is, so the decoding is unique.
 */
export function sampleAclFileName(backend: string): string {
  if (backend === '') throw new SampleFileNameError('log sampling: a route backend has an empty name');
  let out = '';
  for (const ch of backend) {
    if (/[a-z0-9-]/.test(ch) || (ch === '.' && out !== '')) out += ch;
    else if (/[A-Z]/.test(ch)) out += `_${ch.toLowerCase()}`;
    else if (ch === '_') out += '__';
    else for (const byte of Buffer.from(ch, 'utf8')) out += `+${byte.toString(16).padStart(2, '0')}`;
  }
  out += SAMPLE_ACL_EXT;
  if (out.length > MAX_FILE_NAME) throw new SampleFileNameError(`log sampling: backend name ${JSON.stringify(backend.slice(0, 80))}… gives a file name of ${out.length} characters (at most ${MAX_FILE_NAME})`);
  return out;
}

/** The backend a file name encodes, or null when it is not one sampleAclFileName() writes. */
export function backendOfSampleAclFile(name: string): string | null {
  if (!name.endsWith(SAMPLE_ACL_EXT)) return null;
  const body = name.slice(0, -SAMPLE_ACL_EXT.length);
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (/[a-z0-9-]/.test(ch) || (ch === '.' && i > 0)) bytes.push(ch.charCodeAt(0));
    else if (ch === '_') {
      const next = body[++i];
      if (next === '_') bytes.push(0x5f);
      else if (next !== undefined && /[a-z]/.test(next)) bytes.push(next.toUpperCase().charCodeAt(0));
      else return null;
    } else if (ch === '+') {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else return null;
  }
  const backend = Buffer.from(bytes).toString('utf8');
  // Reject what the encoder would have written differently (invalid UTF-8, needless escapes).
  return backend !== '' && safeName(backend) === name ? backend : null;
}

const safeName = (backend: string): string | null => {
  try {
    return sampleAclFileName(backend);
  } catch {
    return null;
  }
};

export const sampleAclPath = (dir: string, backend: string): string => join(dir, sampleAclFileName(backend));

/** File content for a keep threshold per million (1..KEEP_ALL). */
export function sampleAclText(threshold: number): string {
  return `# Weir log sampling (agent/telemetry/log-sampler.ts): silent when rand(1000000) >= K, so ${threshold} requests per million keep their line\n${sampleRange(threshold)}\n`;
}

/** The one pattern: draws from `threshold` up are silenced. */
export const sampleRange = (threshold: number): string => `${threshold}:`;

/** The threshold a file holds; null when it holds no `K:` range (an empty file matches nothing: every request). */
export function parseSampleAcl(text: string): number | null {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\d{1,7}):$/.exec(line);
    const t = m ? Number(m[1]) : NaN;
    return t >= 1 && t <= KEEP_ALL ? t : null;
  }
  return null;
}

/** File name → backend, for the scan below (a config names the same few thousand files on every apply). */
const decoded = new Map<string, string | null>();

/**
 * Backends whose file under `dir` a config names (`-f <dir>/<file>.acl`): what must exist before it is
 * checked or installed, and what must stay while it is the config on disk (5,000 gateways: ~6 ms once the names are decoded).
 */
export function referencedSampleBackends(config: string, dir: string): Set<string> {
  const out = new Set<string>();
  const re = new RegExp(`-f ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/([^\\s}]+)`, 'g');
  for (const m of config.matchAll(re)) {
    const name = m[1]!;
    let backend = decoded.get(name);
    if (backend === undefined) {
      backend = backendOfSampleAclFile(name);
      if (decoded.size > 100_000) decoded.clear();
      decoded.set(name, backend);
    }
    if (backend !== null) out.add(backend);
  }
  return out;
}
