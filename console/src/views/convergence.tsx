import type { GatewayStatus } from '../api';
import { shortVersion } from '../format';
import { Badge } from '../ui';

/** `converged`, or which agents lag and why, as the status endpoint says. */
export function Convergence({ status }: { status: GatewayStatus | undefined }) {
  if (!status) return <span class="muted">…</span>;
  if (status.converged === null) return <Badge tone="idle">unknown: {status.reason ?? 'no agent status'}</Badge>;
  const live = status.agents.filter((a) => !a.quiet);
  if (status.converged) return <Badge tone="ok">converged ({live.length} of {live.length} agents)</Badge>;
  const lagging = status.agents.filter((a) => a.quiet || a.appliedVersion !== status.version);
  if (live.length === 0) return <Badge tone="bad">no live agent</Badge>;
  return (
    <span>
      <Badge tone="warn">
        {live.length - lagging.filter((a) => !a.quiet).length} of {live.length} agents
      </Badge>
      <ul class="lag">
        {lagging.map((a) => (
          <li>
            {a.agentId}: {a.quiet ? 'quiet' : a.problems[0]?.errors[0] ?? `applied ${shortVersion(a.appliedVersion)}, wanted ${shortVersion(status.version)}`}
          </li>
        ))}
      </ul>
    </span>
  );
}
