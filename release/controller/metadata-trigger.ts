// Vamp's trigger: a gateway whose metadata names a policy (`release.vamp.io/policy: <name>`)
// and has a route at weight 0 that no earlier run of the gateway used starts a release of that
// route, from the route at 100 % (or, when none holds 100 %, the one `release.vamp.io/current`
// marks, Vamp's "(1.0.0)" form included).
import { parseGateway, type Gateway } from '../../model/index.js';
import type { Logger } from '../../runtime/log.js';
import type { Namespace } from '../../store/store.js';
import { namespaceKey } from '../../store/store.js';
import type { GatewayReader } from '../ports.js';
import { ReleaseError, type ReleaseService } from '../release-service.js';
import { isTerminal, type RunRecord } from '../run-record.js';

export const POLICY_KEY = 'release.vamp.io/policy';
export const CURRENT_KEY = 'release.vamp.io/current';
const ACTOR = 'release-controller (metadata trigger)';

export interface TriggerCandidate {
  policy: string;
  source: string;
  target: string;
}

/** What the metadata asks for given the last run, or why nothing (null). Pure. */
export function triggerCandidate(g: Gateway, last: RunRecord | null): TriggerCandidate | null {
  const policy = g.metadata[POLICY_KEY];
  if (typeof policy !== 'string' || policy === '') return null;
  if (last && (!isTerminal(last.phase) || last.finish.state === 'pending')) return null;
  const full = g.routes.filter((r) => r.weight === 100);
  let source = full.length === 1 ? full[0]?.name : undefined;
  const marked = g.metadata[CURRENT_KEY];
  if (!source && typeof marked === 'string') {
    const name = marked.trim().replace(/^\((.*)\)$/, '$1');
    source = g.routes.find((r) => r.name === name)?.name;
  }
  if (!source) return null;
  const used = new Set(last ? [last.source, last.target] : []);
  const fresh = g.routes.filter((r) => r.name !== source && r.weight === 0 && !used.has(r.name));
  const target = fresh.at(-1);
  return target ? { policy, source, target: target.name } : null;
}

export class MetadataTrigger {
  /** Refusals already logged, so a bad policy name is reported once per gateway and route. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly service: ReleaseService,
    private readonly gateways: GatewayReader,
    private readonly log: Logger,
  ) {}

  async scan(ns: Namespace): Promise<number> {
    const snap = await this.gateways.list(ns);
    let started = 0;
    for (const e of snap.entries) {
      if (e.format !== 'yaml' && e.format !== 'json') continue;
      if (!e.body.includes(POLICY_KEY)) continue;
      const r = parseGateway(e.body, { source: e.name, format: e.format, expectedName: e.name });
      if (!r.ok) continue;
      const last = await this.service.currentOrNull(ns, e.name).catch(() => undefined);
      if (last === undefined) continue;
      const c = triggerCandidate(r.gateway, last?.run ?? null);
      if (!c) continue;
      const key = `${namespaceKey(ns)}/${e.name}/${c.target}@${e.version}`;
      try {
        const run = await this.service.start({ ns, actor: ACTOR, role: 'deployer', requestId: `trigger-${e.name}` }, e.name, c, 'metadata');
        started++;
        this.log.info({ namespace: namespaceKey(ns), gateway: e.name, run: run.id, ...c }, 'release started by gateway metadata');
      } catch (err) {
        if (this.reported.has(key)) continue;
        this.reported.add(key);
        if (this.reported.size > 10_000) this.reported.clear();
        this.log.warn({ namespace: namespaceKey(ns), gateway: e.name, ...c, problem: err instanceof ReleaseError ? err.message : (err as Error).message }, 'gateway metadata asks for a release that cannot start');
      }
    }
    return started;
  }
}
