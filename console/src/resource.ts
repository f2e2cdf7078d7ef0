// Reads one API resource and keeps it fresh: again whenever `refresh` changes (an event said it
// changed), and every `pollMs` while the tab is visible, with If-None-Match so an unchanged
// resource costs a 304. The last good value stays on screen while a re-read fails.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, type Api } from './api';

export interface Resource<T> {
  data: T | undefined;
  error: ApiFailure | undefined;
  loading: boolean;
  reload: () => void;
}

export function useResource<T>(api: Api, path: string | null, opts: { refresh?: number; pollMs?: number; accept?: string } = {}): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: ApiFailure | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: path !== null });
  const etag = useRef<string | null>(null);
  const seq = useRef(0);
  const [kick, setKick] = useState(0);

  const load = useCallback(
    async (fresh: boolean) => {
      if (path === null) return;
      const mine = ++seq.current;
      try {
        const got = await api.get<T>(path, { etag: fresh ? null : etag.current, ...(opts.accept ? { accept: opts.accept } : {}) });
        if (mine !== seq.current) return;
        etag.current = got.etag;
        setState((s) => ({ data: got.data !== undefined ? got.data : s.data, error: undefined, loading: false }));
      } catch (err) {
        if (mine !== seq.current) return;
        const e = err instanceof ApiFailure ? err : new ApiFailure(0, 'network_error', `cannot reach the control API: ${(err as Error).message}`);
        setState((s) => ({ data: s.data, error: e, loading: false }));
      }
    },
    [api, path, opts.accept],
  );

  useEffect(() => {
    etag.current = null;
    setState({ data: undefined, error: undefined, loading: path !== null });
    void load(true);
  }, [load]);

  useEffect(() => {
    if (opts.refresh || kick) void load(false);
  }, [opts.refresh, kick]);

  useEffect(() => {
    if (!opts.pollMs || path === null) return;
    const t = setInterval(() => {
      if (!document.hidden) void load(false);
    }, opts.pollMs);
    return () => clearInterval(t);
  }, [load, opts.pollMs]);

  return { ...state, reload: () => setKick((k) => k + 1) };
}
