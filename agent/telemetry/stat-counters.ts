/**
 * The per-backend counters of HAProxy's `show stat` (CSV, parsed by its header) that the traffic metrics
 * and the window aggregates are built from. Every route is a backend `<gateway>:<route>`, so these are
 * exact per-route counts at no per-request cost. Only the columns below are read: at thousands of
 * backends a reply is megabytes, and building a 129-column object per row would cost more than the read.
 */

/** Cumulative counters (they only grow within one worker). */
export const COUNTER_FIELDS = [
  'req_tot',
  'hrsp_1xx',
  'hrsp_2xx',
  'hrsp_3xx',
  'hrsp_4xx',
  'hrsp_5xx',
  'hrsp_other',
  'stot',
  'bin',
  'bout',
  'econ',
  'eresp',
  'wretr',
  'wredis',
  'cli_abrt',
  'srv_abrt',
] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];
/** Index of each counter in a `Float64Array` row. */
export const C = Object.fromEntries(COUNTER_FIELDS.map((f, i) => [f, i])) as Record<CounterField, number>;

/** Current values (summed over live workers, never carried across them). */
export const GAUGE_FIELDS = ['scur', 'qcur'] as const;
export type GaugeField = (typeof GAUGE_FIELDS)[number];
export const G = Object.fromEntries(GAUGE_FIELDS.map((f, i) => [f, i])) as Record<GaugeField, number>;

export interface BackendRow {
  /** HAProxy's `mode` column: `http` or `tcp`. */
  mode: string;
  counters: Float64Array;
  gauges: Float64Array;
}

export class StatFormatError extends Error {
  override readonly name = 'StatFormatError';
}

/** `show stat -1 2 -1` (backends only) → backend name → counters. Rows other than BACKEND are skipped. */
export function parseBackendCounters(text: string): Map<string, BackendRow> {
  const out = new Map<string, BackendRow>();
  let pos = 0;
  let columns: { counter: Int16Array; gauge: Int16Array; mode: number } | null = null;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end);
    pos = end + 1;
    if (line === '') continue;
    if (line.startsWith('# ')) {
      const names = line.slice(2).split(',');
      const at = (f: string): number => names.indexOf(f);
      if (at('pxname') !== 0 || at('svname') !== 1) throw new StatFormatError('show stat header does not start with pxname,svname');
      columns = { counter: Int16Array.from(COUNTER_FIELDS, at), gauge: Int16Array.from(GAUGE_FIELDS, at), mode: at('mode') };
      continue;
    }
    if (!columns) throw new StatFormatError('show stat reply has no "# pxname,svname,..." header line');
    const cells = line.split(',');
    if (cells[1] !== 'BACKEND') continue;
    const counters = new Float64Array(COUNTER_FIELDS.length);
    for (let i = 0; i < counters.length; i++) {
      const c = columns.counter[i]!;
      counters[i] = c >= 0 ? Number(cells[c]) || 0 : 0;
    }
    const gauges = new Float64Array(GAUGE_FIELDS.length);
    for (let i = 0; i < gauges.length; i++) {
      const c = columns.gauge[i]!;
      gauges[i] = c >= 0 ? Number(cells[c]) || 0 : 0;
    }
    out.set(cells[0]!, { mode: columns.mode >= 0 ? (cells[columns.mode] ?? '') : '', counters, gauges });
  }
  if (!columns && text.trim() !== '') throw new StatFormatError(`show stat reply has no header line: ${JSON.stringify(text.slice(0, 120))}`);
  return out;
}

/** The worker a `show info` reply came from: pid + start time (a pid alone can be reused after a restart). */
export interface WorkerInfo {
  id: string;
  pid: number;
  stopping: boolean;
  /** Client connections (the CLI session asking is not one of them). */
  currConns: number;
}

export function parseWorkerInfo(text: string): WorkerInfo {
  const field = (name: string): string | null => {
    const m = new RegExp(`^${name}: (.*)$`, 'm').exec(text);
    return m ? m[1]!.trim() : null;
  };
  const pid = Number(field('Pid'));
  const start = field('Start_time_sec') ?? '';
  if (!Number.isInteger(pid) || pid <= 0) throw new StatFormatError(`show info reply has no Pid: ${JSON.stringify(text.slice(0, 120))}`);
  return { id: `${pid}@${start}`, pid, stopping: field('Stopping') === '1', currConns: Number(field('CurrConns') ?? 0) || 0 };
}
