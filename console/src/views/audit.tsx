import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, nsPath, type AuditPage, type AuditRecord } from '../api';
import { useSession } from '../context';
import { ago, shortVersion, time } from '../format';
import { ErrorNote, Loading, Head } from '../ui';

export function AuditView() {
  const s = useSession();
  const [records, setRecords] = useState<AuditRecord[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ApiFailure | undefined>();
  const [loading, setLoading] = useState(true);
  const load = async (before: string | null): Promise<void> => {
    setLoading(true);
    try {
      const page = (await s.api.get<AuditPage>(nsPath(s.ns, `/audit?limit=50${before ? `&before=${before}` : ''}`))).data;
      if (page) {
        setRecords((old) => (before ? [...old, ...page.records] : page.records));
        setNext(page.next);
      }
      setError(undefined);
    } catch (err) {
      setError(err instanceof ApiFailure ? err : new ApiFailure(0, 'network_error', (err as Error).message));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    document.title = `Audit · ${s.ns.namespace} · Weir`;
  }, [s.ns.namespace]);
  // The newest page again whenever a gateway changed (each write is audited).
  useEffect(() => void load(null), [s.ns.namespace, s.refresh.gateways]);
  return (
    <>
      <h1>Audit</h1>
      <p class="muted">The latest writes in {s.ns.namespace}, newest first.</p>
      <ErrorNote error={error} what="The audit log could not be read" />
      {loading && records.length === 0 ? <Loading what="the audit log" /> : null}
      {!loading && !error && records.length === 0 ? <p>No writes recorded in {s.ns.namespace}.</p> : null}
      {records.length > 0 ? (
        <table class="grid">
          <Head cols={['Time', 'Actor', 'Action', 'Target', 'Version']} />
          <tbody>
            {records.map((r) => (
              <tr>
                <td title={time(r.at)}>{ago(r.at)}</td>
                <td>
                  {r.by} <span class="muted">({r.role})</span>
                </td>
                <td>{r.action}</td>
                <td>{r.target.replace(/^gateway\/[^/]+\/[^/]+\//, 'gateway ')}</td>
                <td>
                  <code title={r.beforeVersion ?? ''}>{shortVersion(r.beforeVersion)}</code> → <code title={r.afterVersion ?? ''}>{shortVersion(r.afterVersion)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {next ? (
        <button type="button" onClick={() => void load(next)} disabled={loading}>
          Older records
        </button>
      ) : null}
    </>
  );
}
