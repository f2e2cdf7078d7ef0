// Fault drills: `node dist/bench/drills/run.js <name>` (or `make drill D=<name>`). Each drill
// runs by itself to the end (bounded: minutes), prints what it did and what it counted, writes
// the report to .cache/bench/drill-<name>-*.{json,md}, and exits 1 when its own criteria
// (0 failed requests, 0 lost lines, …) did not hold. Figures go to docs/RELIABILITY.md.
import { formatReport, say, writeReport, type DrillReport } from './lib.js';

const DRILLS: Record<string, { what: string; run: () => Promise<DrillReport> }> = {
  'agent-upgrade': { what: 'the agent restarted 20 times under load; 0 failed requests, HAProxy master unchanged', run: async () => (await import('./agent-upgrade.js')).agentUpgradeDrill() },
  'cert-rotation': { what: 'a certificate replaced 20 times under TLS load; 0 failed handshakes, same worker, no reload', run: async () => (await import('./cert-rotation.js')).certRotationDrill() },
  'dns-changes': { what: 'DNS records changed 20 times and DNS down for 5 s under load; 0 failed requests, no reload', run: async () => (await import('./dns-changes.js')).dnsChangesDrill() },
  'store-wipe': { what: 'the store wiped and restored (held, nothing removed), then wiped for longer than the hold (removed)', run: async () => (await import('./store-wipe.js')).storeWipeDrill() },
  'vault-down': { what: 'Vault down 10 minutes with traffic; 0 failed requests, changes resume after', run: async () => (await import('./vault-down.js')).vaultDownDrill() },
  'es-down': { what: 'Elasticsearch down with an agent restart in the middle; 0 lines lost, 0 duplicates', run: async () => (await import('./es-down.js')).esDownDrill() },
  reloads: { what: '50 reloads under load; 0 failed requests', run: async () => (await import('./reloads.js')).reloadsDrill() },
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
