// Vamp's weight filling (GatewayActor.process): routes without a weight share what is left.
import { formatPath, type PathSegment } from './errors.js';

export type WeightResult = { ok: true; weights: number[] } | { ok: false; path: string; at: PathSegment[]; message: string };

/**
 * `weights[i]` is route i's declared weight (integer 0..100) or undefined. Missing weights get
 * floor((100 - sum) / missing) each and the last missing route the remainder; when every
 * weight is given they must add up to 100, or to 0 as in Vamp (only conditions route then).
 * `at` is where a route sits in the document (default `routes.<name>`), for error paths.
 */
export function fillWeights(routes: ReadonlyArray<{ name: string; weight: number | undefined; at?: readonly PathSegment[] }>): WeightResult {
  if (routes.length === 0) return { ok: true, weights: [] };
  const sum = routes.reduce((acc, r) => acc + (r.weight ?? 0), 0);
  const missing = routes.filter((r) => r.weight === undefined).length;
  const last = routes[routes.length - 1] as { name: string; at?: readonly PathSegment[] };
  const at = [...(last.at ?? ['routes', last.name]), 'weight'];
  if (missing === 0) {
    if (sum !== 100 && sum !== 0) return { ok: false, path: formatPath(at), at, message: `weights add up to ${sum}%, must be 100% (or 0%, to route by conditions only)` };
    return { ok: true, weights: routes.map((r) => r.weight as number) };
  }
  if (sum > 100) {
    return { ok: false, path: 'routes', at: ['routes'], message: `weights add up to ${sum}% before the ${missing} route(s) without a weight are filled in, must be at most 100%` };
  }
  const share = Math.floor((100 - sum) / missing);
  let remainder = 100 - sum - share * missing;
  let seen = 0;
  const weights = routes.map((r) => {
    if (r.weight !== undefined) return r.weight;
    seen++;
    if (seen === missing) {
      const w = share + remainder;
      remainder = 0;
      return w;
    }
    return share;
  });
  return { ok: true, weights };
}
