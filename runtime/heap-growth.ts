/**
 * Garbage-collector settings for a busy log pipeline: how far V8 lets the old generation grow after a full
 * collection, and a young generation kept at its initial size.
 *
 * Why: the agent's live heap is small (~20 MB: modules, metrics, queue) while a busy pipeline let the young
 * generation grow to its 2 × 16 MB maximum. V8 sets the next old-generation limit from the live size (about 2×
 * here) and starts incremental marking as soon as the room left under it is smaller than the young generation,
 * which was at once: at 25k lines/s the agent ran a mark-compact every ~110 ms, and concurrent marking took
 * about a third of its CPU per line. A larger growth factor leaves room, so full collections follow actual
 * promotion; a young generation that does not grow keeps the room larger than it and saves its 30 MiB of RSS
 * (scavenges of a small young generation are short: most lines die within one). Measured side by side in
 * BENCHMARKS.md ("Log pipeline": ship-cpu, ship-memory).
 *
 * Both flags are read whenever V8 recomputes its limits or grows the young generation, so setting them at
 * start-up takes effect; neither can be given in NODE_OPTIONS.
 */
import { setFlagsFromString } from 'node:v8';

export function applyHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) throw new RangeError(`heap growth ${percent} % is outside 0..1000`);
  if (percent === 0) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  setFlagsFromString('--semi-space-growth-factor=1');
}
