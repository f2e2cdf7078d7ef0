// Runs a real agent (real HAProxy, real file store) in-process on free loopback ports.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, type AgentStatus } from '../../agent/agent.js';
import { silentLogger, createLogger } from '../../runtime/log.js';
import { resolveSettings, type AgentSettings } from '../../agent/settings.js';
import { FileStore } from '../../store/file-store.js';
import { MasterClient, type ProcInfo } from '../../agent/haproxy/master-client.js';
import { haproxyBin } from './haproxy-bin.js';
import { freePorts } from './ports.js';
import { tempDir, waitFor } from './tmp.js';

export interface AgentFixture {
  agent: Agent;
  dir: string;
  storeRoot: string;
  gatewaysDir: string;
  stateDir: string;
  settings: AgentSettings;
  vhostPort: number;
  monitorPort: number;
  write: (name: string, body: string, ext?: 'yaml' | 'json') => Promise<void>;
  remove: (name: string) => Promise<void>;
  status: () => AgentStatus;
  /** Waits until the applied version set satisfies `pred`. */
  waitStatus: (pred: (s: AgentStatus) => boolean, what: string, timeoutMs?: number) => Promise<AgentStatus>;
  /** Every worker, old ones still finishing their connections included. */
  workerPids: () => Promise<number[]>;
  /** The workers serving new connections (survived no reload): what "the same worker" compares. */
  currentWorkerPids: () => Promise<number[]>;
  reloads: () => Promise<number>;
  restart: (overrides?: Record<string, string>) => Promise<void>;
  stop: () => Promise<void>;
  cleanup: () => Promise<void>;
}

async function showProc(stateDir: string): Promise<ProcInfo> {
  const m = new MasterClient({ socket: join(stateDir, 'master.sock') });
  try {
    return await m.showProc();
  } finally {
    m.close();
  }
}

export async function startAgent(opts: { env?: Record<string, string>; files?: Record<string, string>; dir?: string; store?: (root: string) => FileStore } = {}): Promise<AgentFixture> {
  const tmp = opts.dir ? { path: opts.dir, remove: () => rm(opts.dir ?? '', { recursive: true, force: true }) } : await tempDir('weir-agent-');
  const storeRoot = join(tmp.path, 'store');
  const gatewaysDir = join(storeRoot, 'default', 'default', 'gateways');
  const stateDir = join(tmp.path, 'state');
  await mkdir(gatewaysDir, { recursive: true });
  for (const [file, body] of Object.entries(opts.files ?? {})) await writeFile(join(gatewaysDir, file), body);
  const [vhostPort = 0, monitorPort = 0] = await freePorts(2);
  const env: Record<string, string> = {
    WEIR_STORE: `file://${storeRoot}`,
    WEIR_STATE_DIR: stateDir,
    WEIR_HTTP_ADDR: '127.0.0.1:0',
    WEIR_BIND_ADDRESS: '127.0.0.1',
    WEIR_HAPROXY_BIN: haproxyBin(),
    WEIR_VHOST_PORT: String(vhostPort),
    WEIR_MONITOR_PORT: String(monitorPort),
    WEIR_RELOAD_MIN_INTERVAL_MS: '200',
    WEIR_DEBOUNCE_MS: '5',
    WEIR_POLL_INTERVAL_MS: '500',
    WEIR_HARD_STOP_AFTER: '3s',
    ...opts.env,
  };
  const logger = process.env.WEIR_TEST_LOGS ? createLogger({ level: 'debug' }) : silentLogger();
  let settings = resolveSettings({}, env, 'test-agent');
  const make = async (): Promise<Agent> => {
    const agent = new Agent(settings, opts.store ? opts.store(storeRoot) : new FileStore(storeRoot), logger);
    await agent.start();
    return agent;
  };
  const fx: AgentFixture = {
    agent: await make(),
    dir: tmp.path,
    storeRoot,
    gatewaysDir,
    stateDir,
    settings,
    vhostPort,
    monitorPort,
    write: async (name, body, ext = 'yaml') => {
      // Atomic like an editor or the control API: readers never see half a file.
      const tmpFile = join(gatewaysDir, `.${name}.tmp`);
      await writeFile(tmpFile, body);
      const { rename } = await import('node:fs/promises');
      await rename(tmpFile, join(gatewaysDir, `${name}.${ext}`));
    },
    remove: async (name) => {
      await rm(join(gatewaysDir, `${name}.yaml`), { force: true });
      await rm(join(gatewaysDir, `${name}.json`), { force: true });
    },
    status: () => fx.agent.getStatus(),
    waitStatus: (pred, what, timeoutMs = 15_000) => waitFor(() => { const s = fx.agent.getStatus(); return pred(s) ? s : null; }, { what, timeoutMs }).then((s) => s as AgentStatus),
    // The master socket is briefly unreachable while the master re-executes on reload: retry.
    workerPids: () => waitFor(() => showProc(stateDir), { what: 'master CLI', timeoutMs: 10_000 }).then((p) => p.workers.map((w) => w.pid)),
    // An old worker leaving (its last keep-alive connection closed) is not a reload.
    currentWorkerPids: () => waitFor(() => showProc(stateDir), { what: 'master CLI', timeoutMs: 10_000 }).then((p) => p.workers.filter((w) => w.reloads === 0).map((w) => w.pid)),
    reloads: () => waitFor(() => showProc(stateDir), { what: 'master CLI', timeoutMs: 10_000 }).then((p) => p.master.reloads),
    restart: async (overrides = {}) => {
      await fx.agent.stop();
      settings = resolveSettings({}, { ...env, ...overrides }, 'test-agent');
      fx.settings = settings;
      fx.agent = await make();
    },
    stop: () => fx.agent.stop(),
    cleanup: async () => {
      await fx.agent.stop().catch(() => undefined);
      await tmp.remove();
    },
  };
  return fx;
}

/** A gateway definition in YAML with the given routes → targets and weights. */
export function gatewayYaml(name: string, port: number, routes: Record<string, { weight?: number; targets: number[]; extra?: string }>, extra = ''): string {
  const lines = [`name: ${name}`, `port: ${port}`, extra, 'routes:'];
  for (const [route, r] of Object.entries(routes)) {
    lines.push(`  ${route}:`);
    if (r.weight !== undefined) lines.push(`    weight: ${r.weight}%`);
    if (r.extra) lines.push(...r.extra.split('\n').map((l) => `    ${l}`));
    lines.push('    targets:');
    for (const p of r.targets) lines.push(`      - 127.0.0.1:${p}`);
  }
  return `${lines.filter((l) => l !== '').join('\n')}\n`;
}
