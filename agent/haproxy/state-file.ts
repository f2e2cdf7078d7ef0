/** `show servers state` / server-state-file format, version 1 (25 columns in 2.6). */

export const SERVER_STATE_COLUMNS = [
  'be_id', 'be_name', 'srv_id', 'srv_name', 'srv_addr', 'srv_op_state', 'srv_admin_state', 'srv_uweight',
  'srv_iweight', 'srv_time_since_last_change', 'srv_check_status', 'srv_check_result', 'srv_check_health',
  'srv_check_state', 'srv_agent_state', 'bk_f_forced_id', 'srv_f_forced_id', 'srv_fqdn', 'srv_port',
  'srvrecord', 'srv_use_ssl', 'srv_check_port', 'srv_check_addr', 'srv_agent_addr', 'srv_agent_port',
] as const;

export type ServerStateColumn = (typeof SERVER_STATE_COLUMNS)[number];
/** One server row; values as HAProxy wrote them (`-` = unset). Extra columns of newer versions are kept by name. */
export type ServerStateRow = Record<ServerStateColumn, string> & Record<string, string>;

export interface ServerState {
  version: number;
  columns: string[];
  rows: ServerStateRow[];
}

export class ServerStateFormatError extends Error {
  override readonly name = 'ServerStateFormatError';
}

export function parseServerState(text: string): ServerState {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const first = lines.findIndex((l) => l.trim() !== '');
  const versionText = first >= 0 ? (lines[first] ?? '').trim() : '';
  if (versionText !== '1') {
    throw new ServerStateFormatError(`unsupported server state version ${JSON.stringify(versionText)} (expected "1" on the first line)`);
  }
  let columns: string[] = [...SERVER_STATE_COLUMNS];
  const rows: ServerStateRow[] = [];
  for (const line of lines.slice(first + 1)) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      columns = line.replace(/^#\s*/, '').split(/\s+/);
      continue;
    }
    const cells = line.trim().split(/\s+/);
    if (cells.length < SERVER_STATE_COLUMNS.length) {
      throw new ServerStateFormatError(`server state row has ${cells.length} fields, expected ${columns.length}: ${line}`);
    }
    const row: Record<string, string> = {};
    columns.forEach((c, i) => (row[c] = cells[i] ?? '-'));
    rows.push(row as ServerStateRow);
  }
  return { version: 1, columns, rows };
}

export function serializeServerState(state: ServerState): string {
  const body = state.rows.map((r) => state.columns.map((c) => r[c] ?? '-').join(' '));
  return [String(state.version), `# ${state.columns.join(' ')}`, ...body].join('\n') + '\n';
}

/**
 * Drops rows for which `keep` is false. HAProxy applies a state row's port unconditionally on load,
 * so rows whose address/port differ from the new config must go before a reload.
 */
export function filterServerState(text: string, keep: (row: ServerStateRow) => boolean): string {
  const state = parseServerState(text);
  return serializeServerState({ ...state, rows: state.rows.filter(keep) });
}
