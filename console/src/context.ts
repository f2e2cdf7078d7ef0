// What every screen of a signed-in session shares.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api, NamespaceAccess, WhoAmI } from './api';
import type { LiveState } from './live';

export interface Refresh {
  gateways: number;
  agents: number;
  releases: number;
}

export interface Session {
  api: Api;
  me: WhoAmI;
  ns: NamespaceAccess;
  live: { state: LiveState; detail: string };
  refresh: Refresh;
  /** Poll period for resources while the stream is down; longer while it is live (traffic numbers, quiet agents). */
  pollMs: number;
  announce: (text: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a session');
  return s;
}
