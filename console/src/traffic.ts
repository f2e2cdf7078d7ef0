// Traffic numbers per route from GET …/gateways/{g}/metrics, read every 10 s. The API's series
// form (`?window=15m&step=10s`: one point per 10 s step, oldest first) feeds the sparklines and
// its last point the figures; an API without it answers the plain window, and then the latest
// 10 s window is read each time and the points are kept here. Every figure is the API's.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, type Api, type TrafficMetrics, type TrafficStats } from './api';

export interface RoutePoint {
  rate: number | null;
  errorRatio: number | null;
  p95: number | null;
}

export interface Traffic {
  /** The latest window (or step) per route. */
  latest: Map<string, TrafficStats>;
  series: Map<string, RoutePoint[]>;
  error: ApiFailure | undefined;
}

interface SeriesReply {
  step_s: number;
  per_route?: Array<{ route: string; points: Array<{ t: string } & TrafficStats> }>;
}

const STEP_MS = 10_000;
const KEEP = 90; // 15 minutes of 10 s points

// A step or window without requests has no error ratio or latency: a gap, not a zero.
const point = (r: TrafficStats): RoutePoint => ({ rate: r.rate_per_s, errorRatio: r.requests > 0 ? r.error_ratio : null, p95: r.response_time_ms.p95 });

export function useTraffic(api: Api, path: string): Traffic {
  const [state, setState] = useState<Traffic>({ latest: new Map(), series: new Map(), error: undefined });
  const kept = useRef(new Map<string, RoutePoint[]>());
  useEffect(() => {
    kept.current = new Map();
    let stopped = false;
    let seriesForm = true;
    const tick = async (): Promise<void> => {
      try {
        if (seriesForm) {
          const m = (await api.get<SeriesReply & Partial<TrafficMetrics>>(`${path}?window=15m&step=10s`)).data;
          if (stopped || !m) return;
          if (typeof m.step_s === 'number') {
            const latest = new Map<string, TrafficStats>();
            const series = new Map<string, RoutePoint[]>();
            for (const r of m.per_route ?? []) {
              const last = r.points.at(-1);
              if (last) latest.set(r.route, last);
              series.set(r.route, r.points.map(point));
            }
            setState({ latest, series, error: undefined });
            return;
          }
          seriesForm = false; // an API without the series form: keep points here from now on
        }
        const m = (await api.get<TrafficMetrics>(`${path}?window=10s`)).data;
        if (stopped || !m) return;
        const latest = new Map<string, TrafficStats>();
        for (const r of m.per_route ?? []) {
          latest.set(r.route, r);
          kept.current.set(r.route, [...(kept.current.get(r.route) ?? []), point(r)].slice(-KEEP));
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
