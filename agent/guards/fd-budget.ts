// File descriptors a configuration needs, checked before HAProxy starts or reloads with it.
// `haproxy -c` passes a config whose listeners and health-checked servers exceed the process's
// file-descriptor limit; HAProxy then fails after start ("Cannot raise FD limit to N, limit is
// M"). The agent refuses such a config itself, naming both numbers and the settings that
// change them. The count follows HAProxy 2.6's own (haproxy.c, verified against the Debian
// binary at several sizes, test/integration/edge-fd-budget.test.ts):
//   2 × maxconn (at least 100 when HAProxy derives it) + 3 per thread + 32
//   + one per listener (bind address, stats socket) + one per health-checked server.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** HAProxy 2.6 builds support at most 64 threads (MAX_THREADS). */
const MAX_THREADS = 64;
/** With no `maxconn`, HAProxy needs room for at least this many connections. */
const MIN_MAXCONN = 100;
const PER_THREAD = 3;
const MARGIN = 32;

export interface FdNeeds {
  total: number;
  maxconn: number;
  /** True when the config sets no maxconn (HAProxy derives it from the limit). */
  derivedMaxconn: boolean;
  threads: number;
  listeners: number;
  checkedServers: number;
}

const SECTION = /^(global|defaults|frontend|backend|listen|resolvers|ring|peers|userlist|cache|program|http-errors|mailers)\b/;

export function fdNeeds(config: string, cpus: number = availableParallelism()): FdNeeds {
  let section = '';
  let maxconn: number | null = null;
  let threads: number | null = null;
  let listeners = 0;
  let checkedServers = 0;
  let defaultsCheck = false;
  let sectionCheck = false;
  const checked = (words: string[], fallback: boolean): boolean => (words.includes('no-check') ? false : words.includes('check') || fallback);
  for (const raw of config.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    if (SECTION.test(raw)) {
      section = words[0] ?? '';
      if (section === 'defaults') defaultsCheck = false;
      sectionCheck = defaultsCheck;
      continue;
    }
    const kw = words[0];
    if (section === 'global') {
      if (kw === 'maxconn') maxconn = Number(words[1]);
      else if (kw === 'nbthread') threads = Number(words[1]);
      else if (kw === 'stats' && words[1] === 'socket') listeners += 1;
    } else if (section === 'defaults') {
      if (kw === 'default-server') defaultsCheck = sectionCheck = checked(words, defaultsCheck);
    } else if (section === 'frontend' || section === 'listen' || section === 'backend') {
      if (kw === 'bind' && section !== 'backend') listeners += (words[1] ?? '').split(',').filter(Boolean).length;
      else if (kw === 'default-server') sectionCheck = checked(words, sectionCheck);
      else if (kw === 'server' && checked(words, sectionCheck)) checkedServers += 1;
      else if (kw === 'server-template' && checked(words, sectionCheck)) checkedServers += templateCount(words[2] ?? '');
    }
  }
  const t = Math.min(MAX_THREADS, threads ?? cpus);
  const conns = maxconn ?? MIN_MAXCONN;
  return { total: 2 * conns + PER_THREAD * t + MARGIN + listeners + checkedServers, maxconn: conns, derivedMaxconn: maxconn === null, threads: t, listeners, checkedServers };
}

function templateCount(spec: string): number {
  const range = /^(\d+)-(\d+)$/.exec(spec);
  if (range) return Math.max(0, Number(range[2]) - Number(range[1]) + 1);
  return /^\d+$/.test(spec) ? Number(spec) : 0;
}

/** RLIMIT_NOFILE of a process (this one by default) from /proc; null where /proc has no limits file. */
export function fdLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/limits`, 'utf8');
  } catch {
    return null;
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return null;
  const num = (v: string | undefined): number => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
  return { soft: num(m[1]), hard: num(m[2]) };
}

export class FdLimitError extends Error {
  override readonly name = 'FdLimitError';
  constructor(
    readonly needs: FdNeeds,
    readonly limit: number,
    whose: string,
  ) {
    const parts = [
      `2 × maxconn ${needs.maxconn}${needs.derivedMaxconn ? ' (the least HAProxy accepts when it derives maxconn)' : ' (WEIR_MAXCONN)'}`,
      `${needs.listeners} listeners`,
      `${needs.checkedServers} health-checked server slots`,
      `${PER_THREAD * needs.threads + MARGIN} for ${needs.threads} threads and HAProxy's margin`,
    ];
    super(
      `HAProxy would need ${needs.total} file descriptors for this configuration (${parts.join(' + ')}), but ${whose} may open at most ${limit} (RLIMIT_NOFILE hard limit): ` +
        `raise the limit (ulimit -n, systemd LimitNOFILE=, docker run --ulimit nofile=, the container runtime's default), ` +
        `or need fewer: WEIR_SERVER_SLOTS (server slots per route), the slots of DNS targets, WEIR_MAXCONN, fewer targets or gateways`,
    );
  }
}

/**
 * Null when the config fits under the hard limit of `pid` (this process when absent: it spawns
 * HAProxy). A `pid` that is not an haproxy process here (another PID namespace) is not checked.
 */
export function checkFdBudget(config: string, pid?: number | null): FdLimitError | null {
  if (pid) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return null;
    }
    if (comm !== 'haproxy') return null;
  }
  const limit = fdLimit(pid ?? 'self');
  if (!limit) return null; // not Linux: HAProxy reports it itself
  const needs = fdNeeds(config);
  if (needs.total <= limit.hard) return null;
  return new FdLimitError(needs, limit.hard, pid ? `the running HAProxy master (pid ${pid})` : 'the agent, whose limit HAProxy inherits,');
}
