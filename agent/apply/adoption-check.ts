// [edge] Adopting a running HAProxy without reloading it. A restarted agent (an upgrade) used to
// reload the master it adopted, to be sure HAProxy runs its rendering; that starts a new worker
// and drops what only the old one held (log lines buffered in its ring while the agent was away,
// hard-stop-after on long connections). Now it reloads only when it cannot prove HAProxy runs
// exactly what it rendered:
//   1. the files on disk: `loaded.sha256` holds the checksum of the config and side files the
//      master last loaded (written after every confirmed reload or start) or that the running
//      worker was brought to at runtime (after every persist); it must equal the new rendering's;
//   2. the runtime state, which a crash between a runtime change and its persist leaves ahead of
//      the files: map contents (`show map`), slot addresses and states (`show servers state`) and
//      certificate fingerprints (`show ssl cert`) must match the model.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import type { RuntimeClient } from '../haproxy/runtime-client.js';
import { parseServerState } from '../haproxy/state-file.js';
import { runtimeAddressable, type HaproxyModel } from '../plan/haproxy-model.js';

export async function readLoaded(path: string): Promise<string | null> {
  return readFile(path, 'utf8').then((t) => t.trim() || null, () => null);
}

export async function writeLoaded(path: string, checksum: string): Promise<void> {
  await writeFileAtomic(path, `${checksum}\n`, 0o644, { durable: false });
}

/** Null when HAProxy's runtime state is the model's; else the first difference found. */
export async function runtimeDifference(rt: RuntimeClient, model: HaproxyModel): Promise<string | null> {
  const mapPaths = Object.keys(model.maps);
  const mapReplies = await rt.batch(mapPaths.map((p) => `show map ${p}`));
  for (const [i, path] of mapPaths.entries()) {
    const r = mapReplies[i];
    if (!r?.ok) return `map ${path}: ${r?.error ?? 'no reply'}`;
    const have = r.reply.split('\n').filter(Boolean).map((l) => l.replace(/^0x[0-9a-f]+ /, '')).sort();
    const want = (model.maps[path] ?? []).map(([k, v]) => `${k} ${v}`).sort();
    if (have.join('\n') !== want.join('\n')) return `map ${path} differs`;
  }
  const state = parseServerState(await rt.showServersState());
  const rows = new Map(state.rows.map((row) => [`${row.be_name}/${row.srv_name}`, row]));
  for (const g of model.gateways) {
    for (const r of g.routes) {
      for (const s of r.slots) {
        const row = rows.get(`${r.backend}/${s.name}`);
        if (!row) return `server ${r.backend}/${s.name} is not loaded`;
        const maint = (Number(row.srv_admin_state) & 0x5) !== 0;
        if (s.enabled === maint) return `server ${r.backend}/${s.name} is ${maint ? 'in maintenance' : 'enabled'}`;
        if (s.enabled && runtimeAddressable(s.address) && (row.srv_addr !== s.address || Number(row.srv_port) !== s.port)) return `server ${r.backend}/${s.name} points at ${row.srv_addr}:${row.srv_port}`;
      }
    }
  }
  const certs = Object.entries(model.certificates ?? {});
  const certReplies = await rt.batch(certs.map(([p]) => `show ssl cert ${p}`));
  for (const [i, [path, c]] of certs.entries()) {
    const have = /SHA1 FingerPrint: ([0-9A-F]+)/.exec(certReplies[i]?.reply ?? '')?.[1];
    const want = new X509Certificate(c.pem).fingerprint.replace(/:/g, '');
    if (have !== want) return `certificate ${c.name} (${path}) differs`;
  }
  return null;
}
