// A targeted store read folded into the last full snapshot: the agent applies a change it was
// told about (NATS event, KV watch) by reading that one key instead of listing the namespace.
import type { StoreSnapshot } from '../../store/store.js';

/**
 * `base` with every gateway in `names` replaced by what `reads` found for it; a name with no
 * entry and no problem in `reads` is gone. Order matches `list` (entries by name, problems by source).
 */
export function patchSnapshot(base: StoreSnapshot, names: ReadonlySet<string>, reads: readonly StoreSnapshot[]): StoreSnapshot {
  const entries = base.entries.filter((e) => !names.has(e.name));
  const problems = base.problems.filter((p) => p.name === undefined || !names.has(p.name));
  for (const r of reads) {
    entries.push(...r.entries);
    problems.push(...r.problems);
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  problems.sort((a, b) => a.source.localeCompare(b.source));
  return { entries, problems };
}
