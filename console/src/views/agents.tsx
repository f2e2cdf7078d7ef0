import { useEffect } from 'preact/hooks';
import { nsPath, type AgentList } from '../api';
import { useSession } from '../context';
import { ago, shortVersion } from '../format';
import { useResource } from '../resource';
import { Badge, ErrorNote, Loading, Head } from '../ui';

export function AgentsView() {
  const s = useSession();
  const list = useResource<AgentList>(s.api, nsPath(s.ns, '/agents'), { refresh: s.refresh.agents, pollMs: s.pollMs });
  useEffect(() => {
    document.title = `Agents · ${s.ns.namespace} · Weir`;
  }, [s.ns.namespace]);
  const yesNo = (v: boolean, good: boolean) => <Badge tone={v === good ? 'ok' : 'bad'}>{v ? 'yes' : 'no'}</Badge>;
  return (
    <>
      <h1>Agents</h1>
      <ErrorNote error={list.error} what="Agents could not be read" />
      {list.loading && !list.data ? <Loading what="agents" /> : null}
      {list.data?.statusSource === 'unavailable' ? <p class="note">{list.data.reason}</p> : null}
      {list.data && list.data.statusSource !== 'unavailable' && list.data.agents.length === 0 ? <p>No agent of {s.ns.namespace} has reported.</p> : null}
      {list.data && list.data.agents.length > 0 ? (
        <table class="grid">
          <Head cols={['Agent', 'Health', 'Applied', 'Serving from cache', 'Store reachable', 'Problems', 'Last heard']} />
          <tbody>
            {list.data.agents.map((a) => (
              <tr>
                <th scope="row">{a.agentId}</th>
                <td>
                  <Badge tone={a.health === 'ok' ? 'ok' : a.health === 'quiet' ? 'bad' : 'warn'}>{a.health}</Badge>
                  {a.lastError ? <div class="bad-text">{a.lastError}</div> : null}
                </td>
                <td>
                  <ul class="plain">
                    {a.applied.map((x) => (
                      <li>
                        {x.name} <code title={x.version}>{shortVersion(x.version)}</code>
                      </li>
                    ))}
                  </ul>
                </td>
                <td>{yesNo(a.servingFromCache, false)}</td>
                <td>{yesNo(a.storeOk, true)}</td>
                <td>
                  {a.problems.length === 0 ? (
                    <span class="muted">none</span>
                  ) : (
                    <ul class="problems">
                      {a.problems.flatMap((p) => p.errors.map((e) => <li>{p.name ? `${p.name}: ` : ''}{e}</li>))}
                    </ul>
                  )}
                </td>
                <td title={a.lastSeenAt}>{ago(a.lastSeenAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}
