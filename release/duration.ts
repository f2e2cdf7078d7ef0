// Durations as policies write them: `30s`, `1m30s`, `500ms`, `1h`, Go's `5m0s` (Vamp Cloud).
// Parsed to whole milliseconds; anything else is an error naming the accepted forms.

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Longest duration a policy may name anywhere (a week): bounds timers and arithmetic. */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000;

export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

export function parseDuration(text: string): DurationResult {
  const s = text.trim();
  if (s === '0') return { ok: true, ms: 0 };
  if (s === '' || s.length > 40) return bad(text);
  let pos = 0;
  let ms = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (!m) return bad(text);
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(ms)) return bad(text);
  const rounded = Math.round(ms);
  if (rounded > MAX_DURATION_MS) return { ok: false, message: `${JSON.stringify(text)} is longer than the maximum of 7 days` };
  return { ok: true, ms: rounded };
}

function bad(text: string): DurationResult {
  return { ok: false, message: `${JSON.stringify(text.slice(0, 40))} is not a duration: use a number with ms, s, m or h, e.g. 500ms, 30s, 1m30s, 2h` };
}

/** `90000` → `1m30s`; the inverse of parseDuration for display and conversion output. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}
