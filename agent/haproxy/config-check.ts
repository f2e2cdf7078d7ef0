import { execFile } from 'node:child_process';
import { HaproxyExecError } from './errors.js';

export interface Diagnostic {
  level: 'alert' | 'warning' | 'notice';
  file?: string;
  line?: number;
  proxy?: string;
  message: string;
}

export interface CheckResult {
  ok: boolean;
  diagnostics: Diagnostic[];
}

export interface CheckOptions {
  timeoutMs?: number;
  /** Directory HAProxy resolves relative paths against (default: the agent's cwd). */
  cwd?: string;
}

/**
 * Runs `haproxy -c -f <file>`. Not `-q`: in 2.6 `-q` also silences the alerts, and the messages are the point.
 * A config with only warnings passes (exit 0) unless `zero-warning` is set in `global`.
 */
export async function checkConfig(bin: string, cfgPath: string, opts: CheckOptions = {}): Promise<CheckResult> {
  const { code, output } = await run(bin, ['-c', '-f', cfgPath], opts);
  const diagnostics = parseCheckOutput(output);
  if (code !== 0 && !diagnostics.some((d) => d.level === 'alert')) {
    diagnostics.push({ level: 'alert', message: `haproxy -c exited with code ${code} without an alert: ${output.trim().slice(-300)}` });
  }
  return { ok: code === 0, diagnostics };
}

export interface HaproxyVersion {
  /** e.g. `2.6.12-1+deb12u4` */
  full: string;
  major: number;
  minor: number;
  patch: number;
}

export async function haproxyVersion(bin: string): Promise<HaproxyVersion> {
  const { code, output } = await run(bin, ['-v'], {});
  const v = parseVersion(output);
  if (code !== 0 || !v) throw new HaproxyExecError(bin, `"haproxy -v" gave no version (exit ${code}): ${output.slice(0, 200)}`);
  return v;
}

export function parseVersion(text: string): HaproxyVersion | null {
  const m = /HA-?Proxy version ((\d+)\.(\d+)(?:\.(\d+))?\S*)/.exec(text);
  if (!m?.[1]) return null;
  return { full: m[1], major: Number(m[2]), minor: Number(m[3]), patch: Number(m[4] ?? 0) };
}

/** Lines that add nothing to a diagnosis. */
const NOISE: RegExp[] = [
  /^haproxy version is /,
  /^path to executable is /,
  /^Error\(s\) found in configuration file : /,
  /^Fatal errors found in configuration\.$/,
  /^Configuration file is valid$/,
  /^Warnings were found\.$/,
];

/** Location/proxy patterns tried in order on the text after `[LEVEL] (pid) : config : `. */
const LOCATIONS: Array<{ re: RegExp; map: (m: RegExpExecArray) => Omit<Diagnostic, 'level'> }> = [
  // parsing [/tmp/x.cfg:12] : unknown keyword 'foo' in 'frontend' section   (also "Parsing [f:5]: ...")
  { re: /^[Pp]arsing \[(.+?):(\d+)\]\s*: ?(.*)$/, map: (m) => ({ file: m[1], line: Number(m[2]), message: m[3] ?? '' }) },
  // [b5.cfg:12] : 'server b/s1' : unexpected character ...
  { re: /^\[(.+?):(\d+)\]\s*: ?(.*)$/, map: (m) => ({ file: m[1], line: Number(m[2]), message: m[3] ?? '' }) },
  // Binding [a.cfg:10] for frontend fe: cannot bind socket ...   (reload-time, on the master's stderr)
  { re: /^Binding \[(.+?):(\d+)\] for \S+ ([^:]+): (.*)$/, map: (m) => ({ file: m[1], line: Number(m[2]), proxy: m[3], message: m[4] ?? '' }) },
  // Proxy 'fe': unable to find required default_backend: 'nope'.
  { re: /^Proxy '([^']+)': (.*)$/, map: (m) => ({ proxy: m[1], message: m[2] ?? '' }) },
  // backend 'shop:v1' : unable to find server 'zz' referenced in a 'use-server' rule.
  { re: /^(?:backend|frontend|listen|proxy) '([^']+)'\s*: (.*)$/, map: (m) => ({ proxy: m[1], message: m[2] ?? '' }) },
];

/** Proxy names inside a message, e.g. "backend 'b', another server named ..." or "missing timeouts for frontend 'fe'". */
const PROXY_IN_MESSAGE = /\b(?:backend|frontend|listen|proxy) '([^']+)'/i;

/** Parses `haproxy -c` (and master stderr) output into diagnostics; `   | ...` lines continue the previous one. */
export function parseCheckOutput(text: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  let last: Diagnostic | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (line === '') continue;
    const cont = /^\s+\|\s?(.*)$/.exec(line);
    if (cont) {
      if (last) last.message += ` ${cont[1] ?? ''}`.replace(/\s+$/, '');
      continue;
    }
    const head = /^\[(ALERT|WARNING|NOTICE)\]\s*\(\d+\)\s*:\s*(?:config\s*:\s*)?(.*)$/.exec(line);
    if (!head) {
      last = null;
      if (!NOISE.some((re) => re.test(line.trim()))) out.push({ level: 'notice', message: line.trim() });
      continue;
    }
    const level = (head[1] ?? 'NOTICE').toLowerCase() as Diagnostic['level'];
    const rest = (head[2] ?? '').trim();
    if (NOISE.some((re) => re.test(rest))) {
      last = null;
      continue;
    }
    let d: Diagnostic = { level, message: rest };
    for (const loc of LOCATIONS) {
      const m = loc.re.exec(rest);
      if (m) {
        d = { level, ...stripUndefined(loc.map(m)) };
        break;
      }
    }
    if (!d.proxy) {
      const p = PROXY_IN_MESSAGE.exec(d.message);
      if (p?.[1]) d.proxy = p[1];
    }
    out.push(d);
    last = d;
  }
  return out;
}

function stripUndefined(d: Omit<Diagnostic, 'level'>): Omit<Diagnostic, 'level'> {
  const o: Omit<Diagnostic, 'level'> = { message: d.message };
  if (d.file !== undefined) o.file = d.file;
  if (d.line !== undefined) o.line = d.line;
  if (d.proxy !== undefined) o.proxy = d.proxy;
  return o;
}

function run(bin: string, args: string[], opts: CheckOptions): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: opts.timeoutMs ?? 60_000, cwd: opts.cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const output = `${stderr}${stdout}`;
      if (!err) return resolve({ code: 0, output });
      const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string | null };
      if (typeof e.code === 'number') return resolve({ code: e.code, output });
      if (e.killed || e.signal) return reject(new HaproxyExecError(bin, `killed by ${e.signal ?? 'timeout'} after ${opts.timeoutMs ?? 60_000} ms`));
      reject(new HaproxyExecError(bin, String(e.code ?? e.message), { cause: err }));
    });
  });
}
