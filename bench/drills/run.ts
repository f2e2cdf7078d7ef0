// Fault drills: `node dist/bench/drills/run.js <name>` (or `make drill D=<name>`). Each drill
// runs by itself to the end (bounded: minutes), prints what it did and what it counted, writes
// the report to .cache/bench/drill-<name>-*.{json,md}, and exits 1 when its own criteria
// (0 failed requests, 0 lost lines, …) did not hold. Figures go to docs/RELIABILITY.md.
import { formatReport, say, writeReport, type DrillReport } from './lib.js';

const DRILLS: Record<string, { what: string; run: () => Promise<DrillReport> }> = {
  'agent-upgrade': { what: 'the agent restarted 20 times under load; 0 failed requests, HAProxy master unchanged', run: async () => (await import('./agent-upgrade.js')).agentUpgradeDrill() },
};

async function main(): Promise<void> {
  const names = process.argv.slice(2).flatMap((a) => a.split(/[\s,]+/)).filter(Boolean);
  if (names.length === 0 || names.some((n) => !(n in DRILLS))) {
    process.stderr.write(`usage: make drill D=<name>; drills:\n${Object.entries(DRILLS).map(([n, d]) => `  ${n.padEnd(16)} ${d.what}`).join('\n')}\n`);
    process.exit(2);
  }
  let ok = true;
  for (const n of names) {
    say(`== ${n}: ${DRILLS[n]?.what}`);
    const r = await (DRILLS[n] as { run: () => Promise<DrillReport> }).run();
    process.stdout.write(`${formatReport(r)}\n`);
    say(`report: ${await writeReport(r)}.md`);
    ok &&= r.passed;
  }
  process.exit(ok ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`drill failed to run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
