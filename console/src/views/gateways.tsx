import { useEffect, useState } from 'preact/hooks';
import { nsPath, type GatewayList, type GatewayStatus, type GatewaySummary, type ReleaseList, type ReleaseSummary } from '../api';
import { useSession } from '../context';
import { ms, pct, rate } from '../format';
import { useResource } from '../resource';
import { href } from '../router';
import { useTraffic } from '../traffic';
import { ErrorNote, Loading, Head } from '../ui';
import { Convergence } from './convergence';
import { PhaseBadge } from './releases';

let marked = false;

export function GatewaysView() {
  const s = useSession();
  const list = useResource<GatewayList>(s.api, nsPath(s.ns, '/gateways'), { refresh: s.refresh.gateways, pollMs: s.pollMs });
  const releases = useResource<ReleaseList>(s.api, nsPath(s.ns, '/releases'), { refresh: s.refresh.releases, pollMs: s.pollMs });
  const [metricsProblem, setMetricsProblem] = useState<string | undefined>();
  useEffect(() => {
    // The first render of the list with its data, for the browser test's timing (docs/BENCHMARKS.md).
    if (list.data && !marked) {
      marked = true;
      performance.mark('weir:gateways-list');
    }
  }, [list.data]);
  useEffect(() => {
    document.title = `Gateways · ${s.ns.namespace} · Weir`;
  }, [s.ns.namespace]);
  return (
    <>
      <h1>Gateways</h1>
      <p class="muted">
        {s.ns.namespace}
        {s.ns.write ? '' : ': read-only for this token'}
      </p>
      <ErrorNote error={list.error} what="Gateways could not be read" />
      {metricsProblem ? <p class="note">Traffic figures unavailable: {metricsProblem}</p> : null}
      {list.data?.problems.length ? (
        <ul class="problems">
          {list.data.problems.map((p) => (
            <li>
              {p.source}: {p.message}
            </li>
          ))}
        </ul>
      ) : null}
      {list.loading && !list.data ? <Loading what="gateways" /> : null}
      {list.data && list.data.gateways.length === 0 ? <p>No gateways in {s.ns.namespace} yet. Create one with <code>weir gateway apply -f gateway.yaml -n {s.ns.namespace}</code>.</p> : null}
      {list.data && list.data.gateways.length > 0 ? (
        <table class="grid gateways">
          <Head cols={['Gateway', 'Port', 'Route', { label: 'Weight', num: true }, { label: 'Requests/s', num: true }, { label: 'Errors', num: true }, { label: 'p95', num: true }, 'Convergence', 'Release']} />
          {list.data.gateways.map((g) => (
            <GatewayRows g={g} key={g.name} release={releases.data?.releases.find((r) => r.gateway === g.name)} onMetricsProblem={setMetricsProblem} />
          ))}
        </table>
      ) : null}
    </>
  );
}

function GatewayRows({ g, release, onMetricsProblem }: { g: GatewaySummary; release: ReleaseSummary | undefined; onMetricsProblem: (m: string | undefined) => void }) {
  const s = useSession();
  const base = nsPath(s.ns, `/gateways/${encodeURIComponent(g.name)}`);
  const status = useResource<GatewayStatus>(s.api, `${base}/status`, { refresh: s.refresh.agents + s.refresh.gateways, pollMs: s.pollMs });
  const traffic = useTraffic(s.api, `${base}/metrics`);
  useEffect(() => onMetricsProblem(traffic.error?.message), [traffic.error?.message]);
  const link = <a href={href(`${s.ns.org}/${s.ns.env}/gateways/${encodeURIComponent(g.name)}`)}>{g.name}</a>;
  const rel = release ? (
    <a href={href(`${s.ns.org}/${s.ns.env}/gateways/${encodeURIComponent(g.name)}/releases`)}>
      <PhaseBadge phase={release.phase} /> {release.step.name}
    </a>
  ) : (
    <span class="muted">none</span>
  );
  if (!g.valid || !g.routes) {
    return (
      <tbody>
        <tr>
          <th scope="row">{link}</th>
          <td colSpan={8}>
            <span role="note" class="bad-text">
              ✗ invalid: {(g.errors ?? []).join('; ')}
            </span>
          </td>
        </tr>
      </tbody>
    );
  }
  const n = g.routes.length;
  if (n === 0) {
    return (
      <tbody>
        <tr>
          <th scope="row">{link}</th>
          <td>
            {g.port}/{g.mode}
          </td>
          <td colSpan={5} class="muted">
            no routes
          </td>
          <td>{status.error ? <ErrorNote error={status.error} /> : <Convergence status={status.data} />}</td>
          <td>{rel}</td>
        </tr>
      </tbody>
    );
  }
  return (
    <tbody>
      {g.routes.map((r, i) => {
        const t = traffic.latest.get(r.name);
        return (
          <tr>
            {i === 0 ? (
              <th scope="rowgroup" rowSpan={n}>
                {link}
              </th>
            ) : null}
            {i === 0 ? (
              <td rowSpan={n}>
                {g.port}/{g.mode}
              </td>
            ) : null}
            <td>{r.name}</td>
            <td class="num">
              <span class="weight">
                <span class="bar" aria-hidden="true">
                  <span class="fill" style={{ width: `${r.weight}%` }} />
                </span>
                {r.weight} %
              </span>
            </td>
            <td class="num">{t ? rate(t.rate_per_s) : '—'}</td>
            <td class="num">{t ? (t.requests > 0 ? pct(t.error_ratio) : 'no data') : '—'}</td>
            <td class="num">{t ? ms(t.response_time_ms.p95) : '—'}</td>
            {i === 0 ? (
              <td rowSpan={n}>
                {status.error ? <ErrorNote error={status.error} /> : <Convergence status={status.data} />}
              </td>
            ) : null}
            {i === 0 ? <td rowSpan={n}>{rel}</td> : null}
          </tr>
        );
      })}
    </tbody>
  );
}
