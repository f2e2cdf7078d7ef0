// A real DNS server for discovery tests and drills: Debian's dnsmasq on a free loopback port,
// authoritative for its test zone (unknown names are NXDOMAIN), answering from a hosts file it
// re-reads on SIGHUP (A/AAAA records change while it runs) and from --srv-host options (SRV
// records change with a restart on the same port). Stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Resolver } from 'node:dns/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { sleep, tempDir } from './tmp.js';

export function findDnsmasq(): string | undefined {
  return [process.env.DNSMASQ_BIN, '/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p): p is string => !!p && existsSync(p));
}

export interface SrvRecord {
  /** `_http._tcp.shop.svc.test` */
  name: string;
  target: string;
  port: number;
}

export interface DnsRecords {
  /** Name → addresses (A or AAAA by their form). */
  hosts: Record<string, string[]>;
  srv?: SrvRecord[];
}

export interface Dnsmasq {
  port: number;
  pid(): number | undefined;
  /** Rewrites the hosts file and sends SIGHUP; resolves once dnsmasq answers with the new records. */
  setHosts(hosts: DnsRecords['hosts']): Promise<void>;
  /** Restarts on the same port with new SRV records (dnsmasq reads --srv-host only at start). */
  setSrv(srv: SrvRecord[]): Promise<void>;
  /** DNS down: the process is stopped (queries get ICMP port unreachable). */
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startDnsmasq(zone: string, records: DnsRecords): Promise<Dnsmasq> {
  const bin = findDnsmasq();
  if (!bin) throw new Error('dnsmasq not found: install it (`apt-get install dnsmasq-base`, which `make test` does) or set DNSMASQ_BIN');
  const dir = await tempDir('weir-dnsmasq-');
  const hostsFile = join(dir.path, 'hosts');
  const port = await freeUdpPort();
  let hosts = records.hosts;
  let srv = records.srv ?? [];
  let child: ChildProcess | null = null;
  let log = '';
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);

  const hostsText = (h: DnsRecords['hosts']): string => Object.entries(h).flatMap(([name, addrs]) => addrs.map((a) => `${a} ${name}\n`)).join('');
  const answers = async (h: DnsRecords['hosts']): Promise<boolean> => {
    for (const [name, addrs] of Object.entries(h)) {
      const want = addrs.filter((a) => !a.includes(':')).sort().join(',');
      const got = await resolver.resolve4(name).then((x) => x.sort().join(','), () => '');
      if (want !== got) return false;
    }
    return true;
  };
  const launch = async (): Promise<void> => {
    await writeFile(hostsFile, hostsText(hosts));
    const args = [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      `--local=/${zone}/`,
      `--addn-hosts=${hostsFile}`,
      '--local-ttl=1',
      '--neg-ttl=1',
      '--log-facility=-',
      `--user=${userInfo().username}`,
      ...srv.map((s) => `--srv-host=${s.name},${s.target},${s.port}`),
    ];
    log = '';
    const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    c.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const deadline = Date.now() + 10_000;
    while (!(await answers(hosts))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`dnsmasq did not come up on port ${port}: ${log}`);
      await sleep(20);
    }
  };
  const halt = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null || !c.pid) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid, 'SIGTERM');
    const t = setTimeout(() => c.pid && c.exitCode === null && process.kill(c.pid, 'SIGKILL'), 2000);
    await gone;
    clearTimeout(t);
  };
  const killOnExit = (): void => {
    if (child?.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  await launch();
  return {
    port,
    pid: () => child?.pid,
    setHosts: async (h) => {
      hosts = h;
      await writeFile(hostsFile, hostsText(h));
      if (child?.pid) process.kill(child.pid, 'SIGHUP');
      const deadline = Date.now() + 10_000;
      while (!(await answers(h))) {
        if (Date.now() > deadline) throw new Error(`dnsmasq did not pick up the new hosts file: ${log}`);
        await sleep(20);
      }
    },
    setSrv: async (s) => {
      srv = s;
      await halt();
      await launch();
    },
    stop: halt,
    start: launch,
    dispose: async () => {
      process.off('exit', killOnExit);
      await halt();
      await dir.remove();
    },
  };
}
