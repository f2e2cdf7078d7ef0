// Traffic numbers per route from GET …/gateways/{g}/metrics: the latest 10 s window, read every
// 10 s; the points are kept here (newest last) for the sparklines. Every figure is the API's.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, type Api, type TrafficMetrics, type TrafficStats } from './api';

export interface RoutePoint {
  rate: number | null;
  errorRatio: number | null;
  p95: number | null;
}

export interface Traffic {
  /** The latest window per route. */
  latest: Map<string, TrafficStats>;
  series: Map<string, RoutePoint[]>;
  error: ApiFailure | undefined;
}

const STEP_MS = 10_000;
const KEEP = 90; // 15 minutes of 10 s points

export function useTraffic(api: Api, path: string): Traffic {
  const [state, setState] = useState<Traffic>({ latest: new Map(), series: new Map(), error: undefined });
  const kept = useRef(new Map<string, RoutePoint[]>());
  useEffect(() => {
    kept.current = new Map();
    let stopped = false;
    const tick = async (): Promise<void> => {
      try {
        const m = (await api.get<TrafficMetrics>(`${path}?window=10s`)).data;
        if (stopped || !m) return;
        const latest = new Map<string, TrafficStats>();
        for (const r of m.per_route ?? []) {
          latest.set(r.route, r);
          // A window without requests has no error ratio or latency: a gap, not a zero.
          const pt = { rate: r.rate_per_s, errorRatio: r.requests > 0 ? r.error_ratio : null, p95: r.response_time_ms.p95 };
          kept.current.set(r.route, [...(kept.current.get(r.route) ?? []), pt].slice(-KEEP));
        }
        setState({ latest, series: new Map(kept.current), error: undefined });
      } catch (err) {
        if (!stopped) setState((s) => ({ ...s, error: err instanceof ApiFailure ? err : new ApiFailure(0, 'network_error', (err as Error).message) }));
      }
    };
    void tick();
    const t = setInterval(() => {
      if (!document.hidden) void tick();
    }, STEP_MS);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [api, path]);
  return state;
}
