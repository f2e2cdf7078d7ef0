// Releases: the namespace's current runs, and per gateway the current run (step timeline,
// samples per side against the minimum, each condition's last values, threshold and verdict,
// the actions the API says apply now), starting a release from a policy, and the history.
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, nsPath, RELEASE_ACTIONS, type GatewayList, type Phase, type PolicyList, type ReleaseAction, type ReleaseHistory, type ReleaseList, type ReleaseRun } from '../api';
import { useSession } from '../context';
import { ago, time } from '../format';
import { useResource } from '../resource';
import { href } from '../router';
import { Badge, ErrorNote, Loading, Head } from '../ui';

const FINISHED: Phase[] = ['Succeeded', 'Failed', 'Aborted'];

export function PhaseBadge({ phase }: { phase: Phase }) {
  const tone = phase === 'Succeeded' ? 'ok' : phase === 'Failed' ? 'bad' : phase === 'Aborted' || phase === 'Paused' ? 'warn' : 'idle';
  return <Badge tone={tone}>{phase}</Badge>;
}

const seconds = (s: number | null): string => (s === null ? '—' : s >= 120 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);
const figure = (v: number | null): string => (v === null ? 'no data' : Math.abs(v) >= 100 || Number.isInteger(v) ? String(v) : v.toPrecision(3));

export function ReleasesView() {
  const s = useSession();
  const list = useResource<ReleaseList>(s.api, nsPath(s.ns, '/releases'), { refresh: s.refresh.releases, pollMs: s.pollMs });
  useEffect(() => {
    document.title = `Releases · ${s.ns.namespace} · Weir`;
  }, [s.ns.namespace]);
  return (
    <>
      <h1>Releases</h1>
      <p class="muted">The current or last release of each gateway in {s.ns.namespace}.</p>
      <ErrorNote error={list.error} what="Releases could not be read" />
      {list.loading && !list.data ? <Loading what="releases" /> : null}
      {list.data && list.data.releases.length === 0 ? <p>No release has run in {s.ns.namespace}. Start one from a gateway's Releases page.</p> : null}
      {list.data && list.data.releases.length > 0 ? (
        <table class="grid">
          <Head cols={['Gateway', 'Phase', 'Step', 'Release', 'Policy', 'Updated']} />
          <tbody>
            {list.data.releases.map((r) => (
              <tr>
                <th scope="row">
                  <a href={href(`${s.ns.org}/${s.ns.env}/gateways/${encodeURIComponent(r.gateway)}/releases`)}>{r.gateway}</a>
                </th>
                <td>
                  <PhaseBadge phase={r.phase} />
                  {r.pauseReasons.length ? <div class="muted">{r.pauseReasons.map((p) => p.reason).join(', ')}</div> : null}
                </td>
                <td>
                  {r.step.index}: {r.step.name}
                </td>
                <td>
                  {r.source} → {r.target}
                </td>
                <td>{r.policy.name}</td>
                <td title={time(r.updatedAt)}>{ago(r.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}

export function GatewayReleasesView({ name }: { name: string }) {
  const s = useSession();
  const base = nsPath(s.ns, `/gateways/${encodeURIComponent(name)}/releases`);
  const [fresh, setFresh] = useState<ReleaseRun | undefined>();
  const [kick, setKick] = useState(0);
  const history = useResource<ReleaseHistory>(s.api, base, { refresh: s.refresh.releases + kick, pollMs: s.pollMs });
  const active = history.data?.current && !FINISHED.includes(history.data.current.phase);
  const current = useResource<ReleaseRun>(s.api, history.data?.current ? `${base}/current` : null, { refresh: s.refresh.releases + kick, pollMs: active ? 2000 : s.pollMs });
  // An action's answer is the run as it is now: show it at once, until the next read.
  const run = fresh && current.data && fresh.updatedAt > current.data.updatedAt ? fresh : (current.data ?? fresh);
  useEffect(() => {
    document.title = `Releases of ${name} · ${s.ns.namespace} · Weir`;
  }, [name, s.ns.namespace]);
  const changed = (r?: ReleaseRun): void => {
    if (r) setFresh(r);
    setKick((k) => k + 1);
  };
  return (
    <>
      <p class="crumbs">
        <a href={href(`${s.ns.org}/${s.ns.env}/gateways`)}>Gateways</a> / <a href={href(`${s.ns.org}/${s.ns.env}/gateways/${encodeURIComponent(name)}`)}>{name}</a> / Releases
      </p>
      <h1>Releases of {name}</h1>
      <ErrorNote error={history.error} what="Releases could not be read" />
      <ErrorNote error={current.error} what="The current release could not be read" />
      {history.loading && !history.data ? <Loading what="releases" /> : null}
      {run ? <RunPanel run={run} base={base} onChange={changed} /> : null}
      {history.data && s.ns.write && (!history.data.current || FINISHED.includes(history.data.current.phase)) ? <StartRelease gateway={name} base={base} onStarted={changed} /> : null}
      {history.data && history.data.releases.length > 0 ? (
        <section aria-labelledby="history-h">
          <h2 id="history-h">History</h2>
          <table class="grid">
            <Head cols={['Release', 'Phase', 'Policy', 'Outcome', 'Started']} />
            <tbody>
              {history.data.releases.map((r) => (
                <tr>
                  <th scope="row">
                    <code>{r.id}</code> <span class="muted">attempt {r.attempt}</span>
                  </th>
                  <td>
                    <PhaseBadge phase={r.phase} />
                  </td>
                  <td>
                    {r.policy.name} ({r.source} → {r.target})
                  </td>
                  <td>{r.outcome ? `${r.outcome.code}: ${r.outcome.reason}` : '—'}</td>
                  <td title={time(r.createdAt)}>
                    {ago(r.createdAt)} by {r.createdBy}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      {history.data && history.data.releases.length === 0 && !s.ns.write ? <p>No release of {name} has run.</p> : null}
    </>
  );
}

function RunPanel({ run, base, onChange }: { run: ReleaseRun; base: string; onChange: (r?: ReleaseRun) => void }) {
  const s = useSession();
  const st = run.status;
  return (
    <section aria-labelledby="run-h">
      <h2 id="run-h">
        Release <code>{run.id}</code>
      </h2>
      <dl class="facts">
        <dt>Phase</dt>
        <dd>
          <PhaseBadge phase={run.phase} /> {run.outcome ? <span>{run.outcome.reason}</span> : null}
        </dd>
        <dt>Routes</dt>
        <dd>
          {run.source} (source) → {run.target} (target), policy {run.policy.name}, attempt {run.attempt}
        </dd>
        <dt>Step</dt>
        <dd>
          {st.step.index + 1} of {st.stepCount}: {st.step.name} ({st.step.stage}
          {st.step.reload ? ', needs an HAProxy reload' : ''}) · {run.source} {st.step.weights.source} % / {run.target} {st.step.weights.target} %
        </dd>
        <dt>Time left</dt>
        <dd>
          {st.finished ? '—' : st.step.timeLeftSeconds === null ? 'the step clock starts when every live agent applied its weights' : `${seconds(st.step.timeLeftSeconds)} of ${seconds(st.step.durationSeconds)}`}
        </dd>
        <dt>Samples</dt>
        <dd>
          {(['source', 'target'] as const).map((side) => {
            const x = st.samples[side];
            return (
              <span class="sample">
                <Badge tone={x.requests >= x.minimum ? 'ok' : 'warn'}>
                  {x.route} ({side}): {x.requests} of {x.minimum} requests{x.pooled ? ', pooled from earlier steps' : ''}
                </Badge>{' '}
              </span>
            );
          })}
        </dd>
      </dl>
      {st.pauseReasons.length > 0 ? (
        <div class="note" role="status">
          <strong>Paused:</strong>
          <ul class="plain">
            {st.pauseReasons.map((p) => (
              <li>
                {p.reason} since {ago(p.since)}: {p.detail}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {s.ns.write ? <ReleaseActions run={run} base={base} onChange={onChange} /> : null}
      <h3>Steps</h3>
      <ol class="timeline">
        {(st.steps ?? []).map((step) => (
          <li class={step.state}>
            <Badge tone={step.state === 'done' ? 'ok' : step.state === 'current' ? 'warn' : 'idle'}>{step.state === 'done' ? 'done' : step.state === 'current' ? 'current' : 'to come'}</Badge> {step.name}: {run.source} {step.weights.source} % / {run.target} {step.weights.target} %
            {step.condition ? `, ${run.target} for "${step.condition}"` : ''} · {seconds(step.durationSeconds)}
            {step.minSamples ? `, at least ${step.minSamples} requests` : ''}
            {step.gate ? ' · waits for approval' : ''}
            {step.state === 'current' && st.step.timeLeftSeconds !== null && !st.finished ? ` · ${seconds(st.step.timeLeftSeconds)} left` : ''}
          </li>
        ))}
      </ol>
      <h3>Conditions</h3>
      {st.conditions.length === 0 ? <p class="muted">This step has no conditions.</p> : null}
      {st.conditions.length > 0 ? (
        <table class="grid">
          <Head cols={['Condition', { label: 'Last value', num: true }, 'Threshold', 'Verdict', 'Passed / failed / inconclusive / errors', 'Why']} />
          <tbody>
            {st.conditions.map((c) => (
              <tr>
                <th scope="row">
                  {c.name}
                  <div class="muted">
                    <code>{c.expression}</code>
                  </div>
                </th>
                <td class="num">{figure(c.value)}</td>
                <td>{c.op === null ? '—' : `${c.op} ${figure(c.threshold)}`}</td>
                <td>
                  <Badge tone={c.verdict === 'Passed' ? 'ok' : c.verdict === 'Failed' ? 'bad' : c.verdict === 'Pending' ? 'idle' : 'warn'}>{c.verdict}</Badge>
                </td>
                <td>
                  {c.counters.passed} / {c.counters.failed} (limit {c.failureLimit}) / {c.counters.inconclusive} (limit {c.inconclusiveLimit}) / {c.counters.errors}
                </td>
                <td>{c.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <h3>Transitions</h3>
      <table class="grid">
        <Head cols={['When', 'What', 'Phase', 'By', 'Why']} />
        <tbody>
          {[...run.transitions]
            .reverse()
            .slice(0, 20)
            .map((t) => (
              <tr>
                <td title={time(t.at)}>{ago(t.at)}</td>
                <td>
                  {t.kind} (step {t.step})
                </td>
                <td>
                  {t.from} → {t.to}
                </td>
                <td>{t.actor}</td>
                <td>{t.reason}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </section>
  );
}

const LABEL: Record<ReleaseAction, string> = { approve: 'Approve', pause: 'Pause', resume: 'Resume', abort: 'Abort', promote: 'Promote', retry: 'Retry' };
/** Actions that change traffic at once ask once more. */
const CONFIRM: ReleaseAction[] = ['abort', 'promote'];

function ReleaseActions({ run, base, onChange }: { run: ReleaseRun; base: string; onChange: (r?: ReleaseRun) => void }) {
  const s = useSession();
  const [busy, setBusy] = useState<ReleaseAction | null>(null);
  const [asking, setAsking] = useState<ReleaseAction | null>(null);
  const [error, setError] = useState<ApiFailure | undefined>();
  const actions = run.status.actions;
  const act = async (a: ReleaseAction): Promise<void> => {
    setAsking(null);
    setBusy(a);
    setError(undefined);
    try {
      const r = await s.api.send<ReleaseRun>('POST', `${base}/${encodeURIComponent(run.id)}/${a}`, {});
      s.announce(`${LABEL[a]}: release ${run.id} is ${r.phase}`);
      onChange(r);
    } catch (err) {
      setError(err instanceof ApiFailure ? err : new ApiFailure(0, 'network_error', (err as Error).message));
    } finally {
      setBusy(null);
    }
  };
  const unavailable = RELEASE_ACTIONS.filter((a) => actions?.[a] && !actions[a]?.allowed);
  return (
    <div class="actions">
      <div class="buttons" role="group" aria-label="Release actions">
        {RELEASE_ACTIONS.map((a) => {
          const allowed = actions ? actions[a]?.allowed === true : true;
          return (
            <button type="button" class={a === 'abort' ? 'danger' : undefined} disabled={!allowed || busy !== null} title={allowed ? undefined : actions?.[a]?.reason} onClick={() => (CONFIRM.includes(a) ? setAsking(a) : void act(a))}>
              {LABEL[a]}
            </button>
          );
        })}
      </div>
      {asking ? (
        <p class="confirm" role="group" aria-label={`Confirm ${LABEL[asking].toLowerCase()}`}>
          {asking === 'abort' ? `Abort release ${run.id} and restore the routes from before it?` : `Skip the remaining steps and give ${run.target} 100 %?`}{' '}
          <button type="button" class={asking === 'abort' ? 'danger' : undefined} onClick={() => void act(asking)} ref={(el) => el?.focus()}>
            Yes, {asking}
          </button>{' '}
          <button type="button" class="secondary" onClick={() => setAsking(null)}>
            Cancel
          </button>
        </p>
      ) : null}
      <ErrorNote error={error} what="The release refused the action" />
      {unavailable.length > 0 ? (
        <details class="why">
          <summary>Why some actions are unavailable</summary>
          <ul class="plain">
            {unavailable.map((a) => (
              <li>
                {LABEL[a]}: {actions?.[a]?.reason}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  );
}

function StartRelease({ gateway, base, onStarted }: { gateway: string; base: string; onStarted: (r?: ReleaseRun) => void }) {
  const s = useSession();
  const policies = useResource<PolicyList>(s.api, nsPath(s.ns, '/release-policies'), { pollMs: 0 });
  const gateways = useResource<GatewayList>(s.api, nsPath(s.ns, '/gateways'), { refresh: s.refresh.gateways });
  const routes = gateways.data?.gateways.find((g) => g.name === gateway)?.routes ?? [];
  const valid = (policies.data?.policies ?? []).filter((p) => p.valid);
  const [policy, setPolicy] = useState('');
  const [source, setSource] = useState('');
  const [target, setTarget] = useState('');
  const [error, setError] = useState<ApiFailure | undefined>();
  const [busy, setBusy] = useState(false);
  // Defaults only fill empty fields: the route with weight and the one without, as a person would
  // pick them. Functional updates, because the effect runs after paint: a choice made in between
  // (a quick user, a test) must not be overwritten by the default computed from the stale state.
  useEffect(() => {
    const first = valid[0]?.name;
    if (first) setPolicy((p) => p || first);
  }, [valid.length]);
  useEffect(() => {
    const [a, b] = routes;
    if (!a || !b) return;
    setSource((s) => s || a.name);
    setTarget((t) => t || b.name);
  }, [routes.length]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await s.api.send<ReleaseRun>('POST', base, { policy, source, target });
      s.announce(`Release ${r.id} started`);
      onStarted(r);
    } catch (err) {
      setError(err instanceof ApiFailure ? err : new ApiFailure(0, 'network_error', (err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="start-h">
      <h2 id="start-h">Start a release</h2>
      <ErrorNote error={policies.error} what="Release policies could not be read" />
      {policies.data && valid.length === 0 ? (
        <p>
          No valid release policy in {s.ns.namespace}: create one with <code>weir release-policy apply -f policy.yaml</code>.
        </p>
      ) : null}
      <form class="weights" onSubmit={submit}>
        <span class="field">
          <label for="rel-policy">Policy</label>
          <select id="rel-policy" value={policy} onChange={(e) => setPolicy((e.target as HTMLSelectElement).value)}>
            {valid.map((p) => (
              <option value={p.name}>
                {p.name} ({(p.steps ?? []).map((x) => `${x.target} %`).join(' → ')})
              </option>
            ))}
          </select>
        </span>
        <span class="field">
          <label for="rel-source">Source route</label>
          <select id="rel-source" value={source} onChange={(e) => setSource((e.target as HTMLSelectElement).value)}>
            {routes.map((r) => (
              <option value={r.name}>{r.name}</option>
            ))}
          </select>
        </span>
        <span class="field">
          <label for="rel-target">Target route</label>
          <select id="rel-target" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
            {routes.map((r) => (
              <option value={r.name}>{r.name}</option>
            ))}
          </select>
        </span>
        <button type="submit" disabled={busy || valid.length === 0}>
          Start release
        </button>
      </form>
      <ErrorNote error={error} what="The release was not started" />
    </section>
  );
}
