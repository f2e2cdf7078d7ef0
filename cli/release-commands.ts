// `weir release-policy apply|get|list|delete|convert` and `weir release start|status|approve|
// pause|resume|abort|promote|retry|history|list`: release policies and runs through the control
// API (convert works offline). `status --wait` exits 0 on Succeeded, 1 on Failed/Aborted, 2 when
// --timeout passes first, so a pipeline can gate on it.
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { convertPolicyText, isTerminal, type RunView } from '../release/index.js';
import type { Namespace } from '../store/store.js';
import { ago, ApiCallError, ApiClient, nsPath, parseOutput, printData, resolveNamespace, runCli, table, UsageError, type CliIo, type OutputFormat } from './api-client.js';

export const RELEASE_POLICY_USAGE = `Usage:
  weir release-policy apply -f <file>... [-n org/env]   create or replace policies (YAML or JSON, Weir's or Vamp's; -f - reads stdin)
  weir release-policy list [-n org/env]                 policies with version, hash and steps
  weir release-policy get <name> [-n org/env]           the stored text (-o json for JSON)
  weir release-policy delete <name> [-n org/env]        (runs in progress keep their pinned copy)
  weir release-policy convert <file>                    print the Weir translation of a (Vamp) policy, offline; exit 1 on errors

Options:
  -n, --namespace org/env   default: WEIR_NAMESPACE or default/default
  -o, --output table|json|yaml
Environment: WEIR_URL (default http://127.0.0.1:9100), WEIR_TOKEN (bearer token)
`;

export const RELEASE_USAGE = `Usage:
  weir release start <gateway> --policy <p> --source <route> --target <route> [--wait]
  weir release status <gateway> [--id <run>] [--watch] [--wait] [--timeout <s>]
  weir release approve|pause|resume|abort|promote <gateway> [--id <run>] [--reason <text>]
  weir release retry <gateway> [--id <run>] [--from-step <n>] [--reason <text>]
  weir release history <gateway>          the gateway's runs, newest first
  weir release list                        the current (or last) run of every gateway

Options:
  -n, --namespace org/env   default: WEIR_NAMESPACE or default/default
  -o, --output table|json|yaml
  --watch                   redraw the status every --every seconds (default 2) until the run ends
  --wait                    wait for the run to end: exit 0 Succeeded, 1 Failed or Aborted, 2 on --timeout (default 3600)
  --id <run>                a run other than the current one (actions apply to the current run by default)
Environment: WEIR_URL (default http://127.0.0.1:9100), WEIR_TOKEN (bearer token)
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TERMINAL = ['Succeeded', 'Failed', 'Aborted'];

interface Common {
  client: ApiClient;
  ns: Namespace;
  output: OutputFormat;
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

function parseCommon(args: string[], io: CliIo, options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>, needsClient = true): Common {
  const { values, positionals } = parseArgs({ args, options: { namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' }, ...options }, allowPositionals: true, strict: true });
  return {
    client: needsClient ? ApiClient.fromEnv(io.env) : (undefined as unknown as ApiClient),
    ns: resolveNamespace(values.namespace as string | undefined, io.env),
    output: parseOutput(values.output as string | undefined),
    positionals,
    values: values as Common['values'],
  };
}

const policyPath = (c: Common, name?: string): string => `${nsPath(c.ns)}/release-policies${name ? `/${encodeURIComponent(name)}` : ''}`;
const releasesPath = (c: Common, gateway: string, rest = ''): string => `${nsPath(c.ns)}/gateways/${encodeURIComponent(gateway)}/releases${rest}`;

async function readInput(file: string, io: CliIo): Promise<{ body: string; format: 'yaml' | 'json' }> {
  const body =
    file === '-'
      ? await io.readStdin()
      : await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`);
        });
  const format = extname(file).toLowerCase() === '.json' || (file === '-' && body.trimStart().startsWith('{')) ? 'json' : 'yaml';
  return { body, format };
}

function policyName(file: string, body: string): string {
  let doc: unknown;
  try {
    doc = parseYaml(body);
  } catch (err) {
    throw new UsageError(`${file}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const name = doc && typeof doc === 'object' && 'name' in doc ? (doc as { name: unknown }).name : undefined;
  if (typeof name === 'string' && name !== '') return name;
  if (file === '-') throw new UsageError('a policy read from stdin needs a `name:` field');
  return basename(file, extname(file));
}

export function runReleasePolicyCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, RELEASE_POLICY_USAGE, async () => {
    const [sub, ...args] = argv;
    if (sub === undefined) throw new UsageError('release-policy needs a command');
    if (sub === 'help' || sub === '--help' || sub === '-h') {
      io.out(RELEASE_POLICY_USAGE);
      return 0;
    }
    const c = parseCommon(args, io, { file: { type: 'string', short: 'f', multiple: true } }, sub !== 'convert');
    switch (sub) {
      case 'apply': {
        const files = (c.values.file as string[] | undefined) ?? [];
        if (files.length === 0) throw new UsageError('release-policy apply needs -f <file> (or -f - for stdin)');
        const docs = await Promise.all(files.map(async (f) => ({ file: f, ...(await readInput(f, io)) })));
        const out: unknown[] = [];
        for (const d of docs) {
          const name = policyName(d.file, d.body);
          const res = await c.client.request('PUT', policyPath(c, name), { body: d.body, contentType: d.format === 'json' ? 'application/json' : 'application/yaml' });
          const w = JSON.parse(res.text) as { name: string; version: string; notes?: string[]; policy?: { hash?: string; vamp?: boolean } };
          out.push(w);
          if (c.output === 'table') {
            io.out(`release-policy/${w.name} ${res.status === 201 ? 'created' : 'configured'} (version ${w.version}, hash ${w.policy?.hash?.slice(0, 12) ?? '?'}${w.policy?.vamp ? ', translated from Vamp' : ''})\n`);
            for (const n of w.notes ?? []) io.out(`  note: ${n}\n`);
          }
        }
        printData(io, c.output, out.length === 1 ? out[0] : out);
        return 0;
      }
      case 'list':
      case 'ls': {
        const r = await c.client.json<{ policies: Array<{ name: string; version: string; valid: boolean; hash?: string; steps?: Array<{ name: string; source: number; target: number }>; errors?: string[]; vamp?: boolean }> }>('GET', policyPath(c));
        if (printData(io, c.output, r)) return 0;
        if (r.policies.length === 0) io.out(`no release policies in ${c.ns.org}/${c.ns.env}\n`);
        else
          io.out(
            table(
              ['NAME', 'VERSION', 'HASH', 'STEPS'],
              r.policies.map((p) => [p.valid ? `${p.name}${p.vamp ? ' (vamp)' : ''}` : `${p.name} (invalid)`, p.version, p.hash?.slice(0, 12) ?? '-', (p.steps ?? []).map((s) => `${s.target}%`).join(' → ') || '-']),
            ),
          );
        for (const p of r.policies) for (const e of p.errors ?? []) io.err(`${e}\n`);
        return 0;
      }
      case 'get': {
        const [name] = c.positionals;
        if (!name) throw new UsageError('release-policy get needs a policy name');
        if (c.output === 'json') {
          io.out(`${JSON.stringify(await c.client.json<unknown>('GET', policyPath(c, name)), null, 2)}\n`);
          return 0;
        }
        const res = await c.client.request('GET', policyPath(c, name), { accept: 'application/yaml' });
        io.out(res.text.endsWith('\n') ? res.text : `${res.text}\n`);
        return 0;
      }
      case 'delete':
      case 'rm': {
        const [name] = c.positionals;
        if (!name) throw new UsageError('release-policy delete needs a policy name');
        await c.client.request('DELETE', policyPath(c, name));
        if (!printData(io, c.output, { name, deleted: true })) io.out(`release-policy/${name} deleted\n`);
        return 0;
      }
      case 'convert': {
        const [file] = c.positionals;
        if (!file) throw new UsageError('release-policy convert needs a file (or - for stdin)');
        const { body, format } = await readInput(file, io);
        // A document without a name is named after its file, as apply would store it.
        let named = false;
        try {
          const d = parseYaml(body) as { name?: unknown } | null;
          named = typeof d?.name === 'string';
        } catch {
          named = true; // the parser below reports the syntax error
        }
        const r = convertPolicyText(body, format, named || file === '-' ? undefined : basename(file, extname(file)));
        if (!r.ok) {
          for (const e of r.errors) io.err(`${e}\n`);
          return 1;
        }
        const doc = r.policy.document;
        if (c.output === 'json') io.out(`${JSON.stringify(doc, null, 2)}\n`);
        else io.out(`${r.notes.map((n) => `# ${n}`).join('\n')}${r.notes.length ? '\n' : ''}${toYaml(doc)}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown release-policy command "${sub}"`);
    }
  });
}

const ACTIONS = ['approve', 'pause', 'resume', 'abort', 'promote', 'retry'];

export function runReleaseCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, RELEASE_USAGE, async () => {
    const [sub, ...args] = argv;
    if (sub === undefined) throw new UsageError('release needs a command');
    if (sub === 'help' || sub === '--help' || sub === '-h') {
      io.out(RELEASE_USAGE);
      return 0;
    }
    const c = parseCommon(args, io, {
      policy: { type: 'string' },
      source: { type: 'string' },
      target: { type: 'string' },
      id: { type: 'string' },
      reason: { type: 'string' },
      'from-step': { type: 'string' },
      watch: { type: 'boolean' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      every: { type: 'string' },
    });
    if (sub === 'list' || sub === 'ls') {
      const r = await c.client.json<{ releases: Array<Record<string, unknown>> }>('GET', `${nsPath(c.ns)}/releases`);
      if (!printData(io, c.output, r)) io.out(r.releases.length === 0 ? `no releases in ${c.ns.org}/${c.ns.env}\n` : summaryTable(r.releases));
      return 0;
    }
    const [gateway, ...extra] = c.positionals;
    if (!gateway) throw new UsageError(`release ${sub} needs a gateway name`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    switch (sub) {
      case 'start': {
        const body: Record<string, string> = {};
        for (const f of ['policy', 'source', 'target'] as const) {
          const v = c.values[f];
          if (typeof v !== 'string' || v === '') throw new UsageError(`release start needs --${f}`);
          body[f] = v;
        }
        const run = await c.client.json<RunView>('POST', releasesPath(c, gateway), { body: JSON.stringify(body) });
        if (!c.values.wait) {
          if (!printData(io, c.output, run)) io.out(`release ${run.id} of ${gateway} started: ${run.source} → ${run.target} with policy ${run.policy.name} (${run.phase})\n`);
          return 0;
        }
        if (c.output === 'table') io.out(`release ${run.id} of ${gateway} started; waiting for it to end\n`);
        return follow(c, io, gateway, run.id, true);
      }
      case 'status':
        return follow(c, io, gateway, c.values.id as string | undefined, Boolean(c.values.watch) || Boolean(c.values.wait));
      case 'history': {
        const r = await c.client.json<{ releases: Array<Record<string, unknown>> }>('GET', releasesPath(c, gateway));
        if (!printData(io, c.output, r)) io.out(r.releases.length === 0 ? `no releases of ${gateway}\n` : summaryTable(r.releases));
        return 0;
      }
      default: {
        if (!ACTIONS.includes(sub)) throw new UsageError(`unknown release command "${sub}"`);
        const id = (c.values.id as string | undefined) ?? (await c.client.json<RunView>('GET', releasesPath(c, gateway, '/current'))).id;
        const body: Record<string, unknown> = {};
        if (typeof c.values.reason === 'string') body.reason = c.values.reason;
        if (c.values['from-step'] !== undefined) {
          if (sub !== 'retry') throw new UsageError('--from-step is for retry');
          const n = Number(c.values['from-step']);
          if (!Number.isInteger(n) || n < 0) throw new UsageError(`--from-step ${String(c.values['from-step'])}: a step index (0 is the first)`);
          body.fromStep = n;
        }
        const run = await c.client.json<RunView>('POST', releasesPath(c, gateway, `/${encodeURIComponent(id)}/${sub}`), { body: JSON.stringify(body) });
        if (!printData(io, c.output, run)) io.out(`release ${run.id} of ${gateway}: ${sub} → ${describePhase(run)}\n`);
        return 0;
      }
    }
  });
}

/** One status, or (watch/wait) repeated until the run ends; the exit code a pipeline reads. */
async function follow(c: Common, io: CliIo, gateway: string, id: string | undefined, repeat: boolean): Promise<number> {
  const wait = Boolean(c.values.wait);
  const timeoutS = c.values.timeout === undefined ? 3600 : Number(c.values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout ${String(c.values.timeout)}: give seconds`);
  const everyS = c.values.every === undefined ? 2 : Number(c.values.every);
  if (!Number.isFinite(everyS) || everyS < 0.1) throw new UsageError(`--every ${String(c.values.every)}: give seconds (at least 0.1)`);
  const deadline = Date.now() + timeoutS * 1000;
  const path = releasesPath(c, gateway, id ? `/${encodeURIComponent(id)}` : '/current');
  let last = '';
  for (;;) {
    let run: RunView;
    try {
      run = await c.client.json<RunView>('GET', path);
    } catch (err) {
      // A watch outlives a control API restart.
      if (!(repeat && err instanceof ApiCallError && (err.status === null || err.status >= 500)) || Date.now() > deadline) throw err;
      await sleep(everyS * 1000);
      continue;
    }
    const finished = TERMINAL.includes(run.phase) && run.finish.state === 'done';
    if (c.output === 'table') {
      const text = renderStatus(run);
      if (text !== last) io.out(`${last === '' ? '' : '\n'}${text}`);
      last = text;
    } else if (!repeat || finished) printData(io, c.output, run);
    if (!repeat || finished) {
      if (!wait) return 0;
      return run.phase === 'Succeeded' ? 0 : 1;
    }
    if (Date.now() > deadline) {
      io.err(`weir: release ${run.id} did not end within ${timeoutS} s (${describePhase(run)})\n`);
      return 2;
    }
    await sleep(Math.min(everyS * 1000, Math.max(0, deadline - Date.now()) + 10));
  }
}

function describePhase(run: Pick<RunView, 'phase' | 'pauseReasons'>): string {
  return run.pauseReasons.length > 0 ? `${run.phase} (${run.pauseReasons.map((p) => p.reason).join(', ')})` : run.phase;
}

const num = (v: number | null): string => (v === null ? '-' : Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString());
const secs = (s: number | null): string => {
  if (s === null) return '-';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
};

/** The status a person watching a canary wants: step, time left, samples per side against the minimum, each condition. */
export function renderStatus(run: RunView, now = Date.now()): string {
  const s = run.status;
  const lines: string[] = [];
  lines.push(`release ${run.id}  ${run.gateway}: ${run.source} → ${run.target}  policy ${run.policy.name} (${run.policy.hash.slice(0, 12)})  attempt ${run.attempt}`);
  lines.push(`phase ${describePhase(run)}${run.outcome ? `: ${run.outcome.reason}` : ''}`);
  const st = s.step;
  lines.push(
    `step ${st.index + 1}/${s.stepCount} ${st.name}  ${run.source} ${st.weights.source}% / ${run.target} ${st.weights.target}%${st.condition ? ` + condition ${JSON.stringify(st.condition)} (${st.conditionStrength ?? 100}%, HAProxy reload)` : ''}  [${st.stage}]` +
      (st.startedAt ? `  started ${ago(st.startedAt, now)}, ${secs(st.elapsedSeconds)} ${isTerminal(run.phase) ? 'long' : 'in'} (at least ${secs(st.durationSeconds)})${st.timeLeftSeconds === null ? '' : `, time left ${secs(st.timeLeftSeconds)}`}` : ''),
  );
  const sm = s.samples;
  lines.push(
    `samples  ${sm.source.route} ${sm.source.requests} (min ${sm.source.minimum})${sm.source.pooled ? ' pooled from earlier steps' : ''}   ${sm.target.route} ${sm.target.requests} (min ${sm.target.minimum})${sm.target.pooled ? ' pooled from earlier steps' : ''}` +
      (sm.window ? `   window ${sm.window.from.slice(11, 19)}–${sm.window.to.slice(11, 19)}` : ''),
  );
  if (s.conditions.length > 0) {
    lines.push(
      table(
        ['CONDITION', 'VERDICT', 'VALUE', 'OP', 'THRESHOLD', 'FAILED', 'REASON'],
        s.conditions.map((x) => [x.name, x.verdict, num(x.value), x.op ?? '', num(x.threshold), `${x.counters.failed}/${x.failureLimit + 1}`, x.reason]),
      ).trimEnd(),
    );
  }
  for (const h of s.hooks) lines.push(`hook ${h.name}: ${h.verdict} (${h.detail})`);
  for (const p of run.pauseReasons) lines.push(`paused: ${p.reason} since ${ago(p.since, now)}: ${p.detail}`);
  const recent = run.transitions.slice(-3).map((t) => `  ${t.at.slice(11, 19)} ${t.kind} by ${t.actor}: ${t.reason}`);
  lines.push('recent:', ...recent);
  return `${lines.join('\n')}\n`;
}

function summaryTable(rows: Array<Record<string, unknown>>): string {
  return table(
    ['GATEWAY', 'ID', 'PHASE', 'ROUTES', 'POLICY', 'STEP', 'STARTED', 'OUTCOME'],
    rows.map((r) => {
      const step = r.step as { index: number; name: string };
      const outcome = r.outcome as { reason: string } | null;
      const pauses = (r.pauseReasons as Array<{ reason: string }>) ?? [];
      return [
        String(r.gateway),
        String(r.id),
        pauses.length ? `${String(r.phase)} (${pauses.map((p) => p.reason).join(',')})` : String(r.phase),
        `${String(r.source)}→${String(r.target)}`,
        (r.policy as { name: string }).name,
        `${step.index} ${step.name}`,
        ago(r.createdAt as string),
        outcome?.reason.slice(0, 60) ?? '-',
      ];
    }),
  );
}
