import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, nsPath, type GatewayList, type GatewayStatus, type GatewaySummary, type ReleaseHistory } from '../api';
import { useSession } from '../context';
import { ago, ms, pct, rate, shortVersion } from '../format';
import { useResource } from '../resource';
import { href } from '../router';
import { Sparkline } from '../sparkline';
import { useTraffic } from '../traffic';
import { Badge, ErrorNote, Loading, Head } from '../ui';
import { Convergence } from './convergence';
import { PhaseBadge } from './releases';

export function GatewayView({ name }: { name: string }) {
  const s = useSession();
  const base = nsPath(s.ns, `/gateways/${encodeURIComponent(name)}`);
  const list = useResource<GatewayList>(s.api, nsPath(s.ns, '/gateways'), { refresh: s.refresh.gateways, pollMs: s.pollMs });
  const status = useResource<GatewayStatus>(s.api, `${base}/status`, { refresh: s.refresh.agents + s.refresh.gateways, pollMs: s.pollMs });
  const yaml = useResource<string>(s.api, base, { accept: 'application/yaml', refresh: s.refresh.gateways, pollMs: s.pollMs });
  const traffic = useTraffic(s.api, `${base}/metrics`);
  const g = list.data?.gateways.find((x) => x.name === name);
  useEffect(() => {
    document.title = `${name} · ${s.ns.namespace} · Weir`;
  }, [name, s.ns.namespace]);

  return (
    <>
      <p class="crumbs">
        <a href={href(`${s.ns.org}/${s.ns.env}/gateways`)}>Gateways</a> / {name}
      </p>
      <h1>{name}</h1>
      <ErrorNote error={list.error} what="Gateways could not be read" />
      {list.data && !g ? (
        <p role="alert" class="alert">
          Gateway "{name}" does not exist in {s.ns.namespace}.
        </p>
      ) : null}
      {!list.data && list.loading ? <Loading what="the gateway" /> : null}
      {g ? (
        <>
          <dl class="facts">
            <dt>Port</dt>
            <dd>{g.valid ? `${g.port}/${g.mode}` : '—'}</dd>
            <dt>Virtual hosts</dt>
            <dd>{g.virtual_hosts?.length ? g.virtual_hosts.join(', ') : 'none'}</dd>
            <dt>Version</dt>
            <dd>
              <code title={g.version}>{shortVersion(g.version)}</code>
            </dd>
            <dt>Convergence</dt>
            <dd>{status.error ? <ErrorNote error={status.error} /> : <Convergence status={status.data} />}</dd>
            <dt>Release</dt>
            <dd>
              <ReleaseLine name={name} />
            </dd>
          </dl>
          {!g.valid ? (
            <p role="alert" class="alert">
              The stored definition is invalid: {(g.errors ?? []).join('; ')}
            </p>
          ) : (
            <RoutesTable g={g} traffic={traffic} />
          )}
          {g.valid && s.ns.write ? <WeightEditor g={g} base={base} /> : null}
          {g.valid && !s.ns.write ? <p class="muted">This token may read {s.ns.namespace} but not change it.</p> : null}
        </>
      ) : null}
      <AgentsOfGateway status={status.data} />
      <section aria-labelledby="def-h">
        <h2 id="def-h">Definition</h2>
        <ErrorNote error={yaml.error} what="The definition could not be read" />
        {yaml.data !== undefined ? (
          <pre class="source" tabIndex={0} aria-label={`Definition of ${name} (read-only)`}>
            {yaml.data}
          </pre>
        ) : null}
      </section>
    </>
  );
}

function ReleaseLine({ name }: { name: string }) {
  const s = useSession();
  const h = useResource<ReleaseHistory>(s.api, nsPath(s.ns, `/gateways/${encodeURIComponent(name)}/releases`), { refresh: s.refresh.releases, pollMs: s.pollMs });
  const cur = h.data?.current;
  return (
    <>
      {h.error ? <span class="muted">{h.error.message} </span> : null}
      {cur ? (
        <>
          <PhaseBadge phase={cur.phase} /> {cur.source} → {cur.target}, step {cur.step.index}: {cur.step.name} ·{' '}
        </>
      ) : h.data ? (
        <span class="muted">none · </span>
      ) : null}
      <a href={href(`${s.ns.org}/${s.ns.env}/gateways/${encodeURIComponent(name)}/releases`)}>Releases of {name}</a>
    </>
  );
}

function RoutesTable({ g, traffic }: { g: GatewaySummary; traffic: ReturnType<typeof useTraffic> }) {
  return (
    <section aria-labelledby="routes-h">
      <h2 id="routes-h">Routes</h2>
      {traffic.error ? <p class="note">Traffic figures unavailable: {traffic.error.message}</p> : null}
      <table class="grid">
        <Head cols={['Route', { label: 'Weight', num: true }, 'Condition', { label: 'Targets', num: true }, 'Requests/s', 'Errors', 'p95']} />
        <tbody>
          {(g.routes ?? []).map((r) => {
            const pts = traffic.series.get(r.name) ?? [];
            return (
              <tr>
                <th scope="row">{r.name}</th>
                <td class="num">{r.weight} %</td>
                <td>{r.condition ? `${r.condition} (${r.condition_strength} %)` : <span class="muted">none</span>}</td>
                <td class="num">{r.targets}</td>
                <td>
                  <Sparkline label={`Requests/s of ${r.name}`} values={pts.map((p) => p.rate)} format={(v) => (v === null ? 'no data' : rate(v))} />
                </td>
                <td>
                  <Sparkline label={`Error ratio of ${r.name}`} values={pts.map((p) => p.errorRatio)} format={(v) => (v === null ? 'no data' : pct(v))} />
                </td>
                <td>
                  <Sparkline label={`p95 of ${r.name}`} values={pts.map((p) => p.p95)} format={ms} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

/** One number per route; the API validates them (sum, range) and its message is shown as it is. */
function WeightEditor({ g, base }: { g: GatewaySummary; base: string }) {
  const s = useSession();
  const routes = g.routes ?? [];
  const fromGateway = (): Record<string, string> => Object.fromEntries(routes.map((r) => [r.name, String(r.weight)]));
  const [values, setValues] = useState<Record<string, string>>(fromGateway);
  const [dirty, setDirtyState] = useState(false);
  // Read by the effect below: an edit made after a render but before its effect runs must win.
  const editing = useRef(false);
  const setDirty = (d: boolean): void => {
    editing.current = d;
    setDirtyState(d);
  };
  // The version the edit started from: a write by someone else meanwhile makes the API refuse ours (409).
  const [baseVersion, setBaseVersion] = useState(g.version);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const [done, setDone] = useState<string | undefined>();
  useEffect(() => {
    // Another writer's change shows up here unless the user is in the middle of an edit.
    if (editing.current) return;
    setValues(fromGateway());
    setBaseVersion(g.version);
  }, [g.version, dirty]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    // Whole numbers go as numbers; anything else goes as typed, for the API to judge.
    const body = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, /^\s*\d+\s*$/.test(v) ? Number(v) : v]));
    try {
      const r = await s.api.send<{ version: string }>('PUT', `${base}/weights`, body, { 'if-match': `"${baseVersion}"` });
      setDirty(false);
      const msg = `Weights applied (version ${shortVersion(r.version)}); the agents are applying them.`;
      setDone(msg);
      s.announce(msg);
    } catch (err) {
      const f = err instanceof ApiFailure ? err : new ApiFailure(0, 'network_error', `cannot reach the control API: ${(err as Error).message}`);
      setError(f);
      s.announce(`Weights refused: ${f.message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="weights-h">
      <h2 id="weights-h">Weights</h2>
      <form class="weights" onSubmit={submit}>
        {routes.map((r) => (
          <span class="field">
            <label for={`w-${r.name}`}>Weight of {r.name}</label>
            <input
              id={`w-${r.name}`}
              type="number"
              inputMode="numeric"
              min={0}
              max={100}
              step={1}
              value={values[r.name] ?? ''}
              onInput={(e) => {
                setDirty(true);
                const value = (e.target as HTMLInputElement).value;
                setValues((v) => ({ ...v, [r.name]: value }));
              }}
            />
            <span class="unit">%</span>
          </span>
        ))}
        <button type="submit" disabled={busy}>
          Apply weights
        </button>
        {dirty ? (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setValues(fromGateway());
              setDirty(false);
              setError(undefined);
            }}
          >
            Reset
          </button>
        ) : null}
      </form>
      <ErrorNote error={error} what="Weights refused" />
      {error?.code === 'version_conflict' ? <p class="muted">The gateway changed since you started editing: Reset shows its current weights.</p> : null}
      {done ? (
        <p class="ok-text" role="status">
          {done}
        </p>
      ) : null}
    </section>
  );
}

function AgentsOfGateway({ status }: { status: GatewayStatus | undefined }) {
  if (!status) return null;
  return (
    <section aria-labelledby="agents-h">
      <h2 id="agents-h">Agents</h2>
      {status.statusSource === 'unavailable' ? <p class="note">{status.reason}</p> : null}
      {status.agents.length === 0 && status.statusSource !== 'unavailable' ? <p>No agent of this environment has reported.</p> : null}
      {status.agents.length > 0 ? (
        <table class="grid">
          <Head cols={['Agent', 'Applied version', 'Problems', 'Last heard']} />
          <tbody>
            {status.agents.map((a) => (
              <tr>
                <th scope="row">{a.agentId}</th>
                <td>
                  {a.appliedVersion === status.version ? (
                    <Badge tone="ok">
                      <code title={a.appliedVersion}>{shortVersion(a.appliedVersion)}</code> (current)
                    </Badge>
                  ) : (
                    <Badge tone="warn">
                      <code title={a.appliedVersion ?? ''}>{a.appliedVersion ? shortVersion(a.appliedVersion) : 'none'}</code> (not current)
                    </Badge>
                  )}
                </td>
                <td>
                  {a.problems.length === 0 ? (
                    <span class="muted">none</span>
                  ) : (
                    <ul class="problems">
                      {a.problems.flatMap((p) => p.errors.map((e) => <li>{e}</li>))}
                    </ul>
                  )}
                </td>
                <td title={a.lastSeenAt}>
                  {ago(a.lastSeenAt)}
                  {a.quiet ? (
                    <>
                      {' '}
                      <Badge tone="bad">quiet</Badge>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
