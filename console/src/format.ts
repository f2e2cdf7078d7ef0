// Display only: how the API's numbers are written on screen. No number is computed here.
export const pct = (ratio: number): string => `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.001 ? 3 : ratio < 0.1 ? 2 : 1)} %`;
export const rate = (perS: number): string => `${perS >= 100 ? perS.toFixed(0) : perS >= 10 ? perS.toFixed(1) : perS.toFixed(2)}/s`;
export const ms = (v: number | null): string => (v === null ? 'no data' : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`);
export const shortVersion = (v: string | null | undefined): string => (v ? (v.length > 14 ? `${v.slice(0, 12)}…` : v) : '—');

/** "12 s ago" from an API timestamp, for people; the timestamp itself is in the title. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
export const time = (iso: string): string => new Date(iso).toLocaleString();
