/** Parser for the master CLI's `show proc` (HAProxy 2.6 layout). */

export interface MasterProc {
  pid: number;
  reloads: number;
  /** Failed reloads since the last successful one (HAProxy resets it on success). */
  failedReloads: number;
  uptime: string;
  version: string;
}

export interface WorkerProc {
  pid: number;
  /** How many reloads this worker has survived (0 for the current worker). */
  reloads: number;
  uptime: string;
  version: string;
}

export interface ProgramProc {
  pid: number;
  name: string;
  reloads: number;
  uptime: string;
  version: string;
}

type Section = 'master' | 'workers' | 'old workers' | 'programs' | 'old programs';

export interface ProcInfo {
  master: MasterProc;
  workers: WorkerProc[];
  oldWorkers: WorkerProc[];
  programs: ProgramProc[];
}

/**
 * Example (2.6.12):
 *   #<PID>          <type>          <reloads>       <uptime>        <version>
 *   4586            master          3 [failed: 1]   0d00h00m32s     2.6.12-1+deb12u4
 *   # workers
 *   5093            worker          1               0d00h00m08s     2.6.12-1+deb12u4
 *   # old workers
 *   # programs
 */
export function parseShowProc(text: string): ProcInfo {
  let master: MasterProc | null = null;
  const workers: WorkerProc[] = [];
  const oldWorkers: WorkerProc[] = [];
  const programs: ProgramProc[] = [];
  let section = 'master' as Section;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#<PID>')) continue;
    const sec = /^# (workers|old workers|programs|old programs)$/.exec(line);
    if (sec?.[1]) {
      section = sec[1] as Section;
      continue;
    }
    const f = line.split(/\s+/);
    const pid = Number(f[0]);
    if (!Number.isInteger(pid)) continue;
    if (f[1] === 'master') {
      const m = /^(\d+)\s+\[failed:\s*(\d+)\]\s+(\S+)\s+(\S+)/.exec(f.slice(2).join(' '));
      if (!m) throw new SyntaxError(`unexpected master line in show proc: ${line}`);
      master = { pid, reloads: Number(m[1]), failedReloads: Number(m[2]), uptime: m[3] ?? '', version: m[4] ?? '' };
    } else if (section === 'workers' || section === 'old workers') {
      const w = { pid, reloads: Number(f[2] ?? 0), uptime: f[3] ?? '', version: f[4] ?? '' };
      (section === 'workers' ? workers : oldWorkers).push(w);
    } else if (section === 'programs' || section === 'old programs') {
      programs.push({ pid, name: f[1] ?? '', reloads: Number(f[2] ?? 0), uptime: f[3] ?? '', version: f[4] ?? '' });
    }
  }
  if (!master) throw new SyntaxError('show proc reply has no master line (is this the master CLI socket given with -S?)');
  return { master, workers, oldWorkers, programs };
}
