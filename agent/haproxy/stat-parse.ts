/** Parsers for `show stat` (CSV) and `show info` (key: value) replies. */

/** One `show stat` row keyed by the header's column names; all columns are kept as strings. */
export type StatRecord = Record<string, string> & {
  pxname: string;
  svname: string;
  type: string;
  status: string;
};

/** Parses `show stat` CSV by its `# pxname,svname,...` header, so new columns in later versions are kept. */
export function parseShowStat(text: string): StatRecord[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const headerLine = lines.find((l) => l.startsWith('# '));
  if (!headerLine) throw new SyntaxError('show stat reply has no "# pxname,svname,..." header line');
  const cols = headerLine.slice(2).split(',');
  const out: StatRecord[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const cells = line.split(',');
    const rec: Record<string, string> = {};
    cols.forEach((c, i) => {
      if (c !== '' && c !== '-') rec[c] = cells[i] ?? '';
    });
    out.push({ pxname: '', svname: '', type: '', status: '', ...rec });
  }
  return out;
}

/** Parses `show info` ("Key: value" per line). */
export function parseShowInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** `type` column values. */
export const STAT_TYPE = { frontend: '0', backend: '1', server: '2', listener: '3' } as const;
