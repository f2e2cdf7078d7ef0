/** Prometheus text → the value of one series with exactly these labels (none: the unlabelled series); 0 when absent. */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').split(/,(?=[a-z_]+=")/).filter(Boolean).sort().join(',') === want) return Number(m[3]);
  }
  return 0;
}
