// The Weir console: sign in with a token, pick a namespace, watch and change its gateways.
// Everything shown comes from the control API; the API decides what is valid and who may do what.
import './styles.css';
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiFailure, nsPath, type NamespaceAccess, type WhoAmI } from './api';
import { SessionContext, type Refresh, type Session } from './context';
import { openLive, type LiveState } from './live';
import { href, interceptLinks, navigate, usePath } from './router';
import { Badge } from './ui';
import { AgentsView } from './views/agents';
import { AuditView } from './views/audit';
import { GatewayView } from './views/gateway';
import { GatewaysView } from './views/gateways';
import { GatewayReleasesView, ReleasesView } from './views/releases';
import { SignIn } from './views/sign-in';

const TOKEN_KEY = 'weir.token';
/** The last whoami of this tab's token: screens render from it at once while it is read again. */
const ME_KEY = 'weir.whoami';

function cachedMe(): WhoAmI | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ? (JSON.parse(sessionStorage.getItem(ME_KEY) ?? 'null') as WhoAmI | null) : null;
  } catch {
    return null;
  }
}

function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [me, setMeState] = useState<WhoAmI | null>(cachedMe);
  const [checked, setChecked] = useState(false);
  const setMe = (m: WhoAmI | null): void => {
    if (m) sessionStorage.setItem(ME_KEY, JSON.stringify(m));
    else sessionStorage.removeItem(ME_KEY);
    setMeState(m);
  };
  const [problem, setProblem] = useState<string | undefined>();
  const path = usePath();

  const signOut = (why?: string): void => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ME_KEY);
    setToken(null);
    setMe(null);
    setProblem(why);
  };
  const api = useMemo(() => (token ? new Api(token, (m) => signOut(`Signed out: ${m}`)) : null), [token]);

  useEffect(() => {
    // Once per page load: the role or grants may have changed since the cached copy.
    if (!api || checked) return;
    setChecked(true);
    api.get<WhoAmI>('whoami').then(
      (r) => {
        if (r.data && JSON.stringify(r.data) !== JSON.stringify(me)) setMe(r.data);
      },
      (err: unknown) => signOut(err instanceof ApiFailure ? err.message : `cannot reach the control API: ${(err as Error).message}`),
    );
  }, [api, checked]);

  const signIn = async (t: string): Promise<void> => {
    const trial = new Api(t);
    const r = await trial.get<WhoAmI>('whoami'); // throws ApiFailure with the API's words
    sessionStorage.setItem(TOKEN_KEY, t);
    setProblem(undefined);
    setMe(r.data ?? null);
    setChecked(true);
    setToken(t);
  };

  if (!api || !me) return token ? <p class="muted page">Signing in…</p> : <SignIn onSignIn={signIn} problem={problem} />;

  const [org, env, section = 'gateways', ...rest] = path.split('/');
  if (!org || !env) {
    const first = me.namespaces[0];
    if (first) {
      queueMicrotask(() => navigate(`${first.org}/${first.env}/gateways`, { replace: true }));
      return null;
    }
    return (
      <Frame me={me} signOut={signOut}>
        <h1>No namespaces</h1>
        <p>Token "{me.name}" ({me.role}) has no namespace to read{me.note ? `: ${me.note}` : ''}.</p>
      </Frame>
    );
  }
  const known = me.namespaces.find((n) => n.org === org && n.env === env);
  const ns: NamespaceAccess | undefined = known ?? (me.role === 'admin' ? { namespace: `${org}/${env}`, org, env, read: true, write: true, audit: true } : undefined);
  if (!ns) {
    return (
      <Frame me={me} signOut={signOut}>
        <h1>
          {org}/{env}
        </h1>
        <p role="alert" class="alert">
          Token "{me.name}" ({me.role}) may not read {org}/{env}. Pick a namespace above.
        </p>
      </Frame>
    );
  }
  return <NamespaceShell api={api} me={me} ns={ns} section={section} rest={rest} signOut={signOut} />;
}

function NamespacePicker({ me, current, section }: { me: WhoAmI; current?: string; section: string }) {
  return (
    <span class="picker">
      <label for="namespace">Namespace</label>
      <select id="namespace" value={current ?? ''} onChange={(e) => navigate(`${(e.target as HTMLSelectElement).value}/${section === 'gateway' ? 'gateways' : section}`)}>
        {current && !me.namespaces.some((n) => n.namespace === current) ? <option value={current}>{current}</option> : null}
        {me.namespaces.map((n) => (
          <option value={n.namespace}>{n.namespace}</option>
        ))}
      </select>
    </span>
  );
}

function Frame({ me, ns, section = 'gateways', live, signOut, children }: { me: WhoAmI; ns?: NamespaceAccess; section?: string; live?: { state: LiveState; detail: string }; signOut: () => void; children: preact.ComponentChildren }) {
  const base = ns ? `${ns.org}/${ns.env}` : '';
  const link = (to: string, label: string, active: boolean) => (
    <a href={href(`${base}/${to}`)} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Weir console</span>
        <NamespacePicker me={me} current={ns?.namespace} section={section} />
        {ns ? (
          <nav aria-label="Sections">
            {link('gateways', 'Gateways', section === 'gateways')}
            {link('releases', 'Releases', section === 'releases')}
            {link('agents', 'Agents', section === 'agents')}
            {ns.audit ? link('audit', 'Audit', section === 'audit') : null}
          </nav>
        ) : null}
        <span class="spacer" />
        {live ? <LiveBadge live={live} /> : null}
        <span class="who">
          {me.name} <span class="muted">({me.role}{ns && !ns.write ? ', read-only here' : ''})</span>
        </span>
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

function LiveBadge({ live }: { live: { state: LiveState; detail: string } }) {
  const text = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting; polling', offline: 'Offline; polling' }[live.state];
  return (
    <span class="live" title={live.detail || undefined}>
      <Badge tone={live.state === 'live' ? 'ok' : live.state === 'offline' ? 'bad' : 'warn'}>{text}</Badge>
    </span>
  );
}

function NamespaceShell({ api, me, ns, section, rest, signOut }: { api: Api; me: WhoAmI; ns: NamespaceAccess; section: string; rest: string[]; signOut: () => void }) {
  const [live, setLive] = useState<{ state: LiveState; detail: string }>({ state: 'connecting', detail: '' });
  const [refresh, setRefresh] = useState<Refresh>({ gateways: 0, agents: 0, releases: 0 });
  const [said, setSaid] = useState('');
  const pending = useRef<Set<keyof Refresh>>(new Set());
  const timer = useRef<number | undefined>(undefined);

  useEffect(() => {
    // Several events in a burst become one re-read per kind.
    const bump = (kinds: Array<keyof Refresh>): void => {
      kinds.forEach((k) => pending.current.add(k));
      if (timer.current !== undefined) return;
      timer.current = window.setTimeout(() => {
        timer.current = undefined;
        const ks = [...pending.current];
        pending.current.clear();
        setRefresh((r) => {
          const n = { ...r };
          ks.forEach((k) => (n[k] += 1));
          return n;
        });
      }, 50);
    };
    let connectedBefore = false;
    const stop = openLive({
      api,
      path: nsPath(ns, '/events'),
      onState: (state, detail) => setLive({ state, detail }),
      onEvent: (ev) => {
        if (ev.type === 'hello') {
          // After a gap nothing that happened in it was sent: re-read everything.
          if (connectedBefore) bump(['gateways', 'agents', 'releases']);
          connectedBefore = true;
        } else if (ev.type === 'gateway') bump(['gateways', 'agents']);
        else if (ev.type === 'agent') bump(['agents']);
        else if (ev.type === 'release') bump(['releases', 'gateways']);
      },
    });
    return () => {
      stop();
      clearTimeout(timer.current);
      timer.current = undefined;
    };
  }, [api, ns.namespace]);

  const session: Session = { api, me, ns, live, refresh, pollMs: live.state === 'live' ? 15_000 : 5_000, announce: setSaid };
  let view;
  if (section === 'gateways' && rest[0] && rest[1] === 'releases') view = <GatewayReleasesView name={decodeURIComponent(rest[0])} key={`${rest[0]}/releases`} />;
  else if (section === 'gateways' && rest[0]) view = <GatewayView name={decodeURIComponent(rest[0])} key={rest[0]} />;
  else if (section === 'releases') view = <ReleasesView />;
  else if (section === 'gateways') view = <GatewaysView />;
  else if (section === 'agents') view = <AgentsView />;
  else if (section === 'audit') view = <AuditView />;
  else view = <p role="alert" class="alert">No such page: {section}</p>;
  return (
    <SessionContext.Provider value={session}>
      <Frame me={me} ns={ns} section={section} live={live} signOut={signOut}>
        {view}
      </Frame>
      <div class="sr-only" aria-live="polite">
        {said}
      </div>
    </SessionContext.Provider>
  );
}

interceptLinks();
const mount = document.getElementById('app');
if (mount) {
  mount.textContent = '';
  render(<App />, mount);
}
