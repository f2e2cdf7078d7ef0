// A tiny SVG line of the last values of one series, with the last value in words for everyone
// who cannot see the line. Missing points are gaps ("no data"), never zeros.
export function Sparkline({ label, values, format }: { label: string; values: Array<number | null>; format: (v: number | null) => string }) {
  const w = 96;
  const h = 24;
  const known = values.filter((v): v is number => v !== null);
  const last = values.length > 0 ? (values[values.length - 1] ?? null) : null;
  const max = Math.max(...known, 0);
  const min = Math.min(...known, max);
  const span = max - min || 1;
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const segments: string[] = [];
  let cur: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (cur.length) segments.push(cur.join(' '));
      cur = [];
      return;
    }
    cur.push(`${(i * step).toFixed(1)},${(h - 2 - ((v - min) / span) * (h - 4)).toFixed(1)}`);
  });
  if (cur.length) segments.push(cur.join(' '));
  return (
    <span class="spark">
      <svg width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${label}: ${known.length === 0 ? 'no data' : `last ${format(last)}`} over ${values.length} samples`}>
        {segments.map((pts) => (pts.includes(' ') ? <polyline points={pts} fill="none" stroke="currentColor" stroke-width="1.5" /> : <circle cx={pts.split(',')[0]} cy={pts.split(',')[1]} r="1.5" fill="currentColor" />))}
      </svg>
      <span class="spark-value">{format(last)}</span>
    </span>
  );
}
