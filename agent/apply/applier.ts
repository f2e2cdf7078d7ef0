// Applying to HAProxy. Two paths:
// - runtime: map swaps and slot changes through the admin socket, then the same state is
//   written into the config and map files so a later reload or restart keeps it;
// - reload: stage → `haproxy -c` → atomic rename → dump server state → master `reload` →
//   confirm in `show proc`; on failure the previous files are restored.
import { mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { forEachLimited } from '../../runtime/bounded-concurrency.js';
import { join } from 'node:path';
import type { Logger } from '../../runtime/log.js';
import { checkConfig, type Diagnostic } from '../haproxy/config-check.js';
import type { MasterClient } from '../haproxy/master-client.js';
import type { RuntimeClient } from '../haproxy/runtime-client.js';
import { parseServerState, serializeServerState } from '../haproxy/state-file.js';
import type { HaproxyModel } from '../plan/haproxy-model.js';
import type { RuntimeOp } from '../plan/planner.js';
import { gatewayAtLine, type ConfigRenderer, type RenderedConfig, type RenderSettings } from '../render/renderer.js';
import { writeFileAtomic } from '../../runtime/atomic-file.js';
import { templateServerNames } from '../plan/discovery-model.js';
import { applyTlsOps } from './tls-apply.js';
import type { TlsRuntimeOp } from '../plan/tls-plan.js';

export interface ApplierPaths {
  configFile: string;
  mapsDir: string;
  stageDir: string;
  serverStateFile: string;
  /** [edge] crt-lists and certificate PEMs (0700 directory, 0600 files). */
  tlsDir?: string;
}

/**
 * Files a config names that another module owns (the log sampling pattern files, whose content changes at
 * runtime): `ensure` before a config is checked or written, so HAProxy never sees a config naming a missing
 * file; `prune` once a config is installed and running, so files go only after the reload that drops them.
 */
export interface ConfigSideFiles {
  ensure(config: string): Promise<void>;
  prune(config: string): Promise<void>;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class ConfigRejectedError extends Error {
  override readonly name = 'ConfigRejectedError';
  constructor(
    readonly diagnostics: Diagnostic[],
    /** Gateways the errors point at (by line or proxy name); empty when they cannot be attributed. */
    readonly culprits: Map<string, string[]>,
  ) {
    const alerts = diagnostics.filter((d) => d.level === 'alert').map((d) => d.message);
    super(`haproxy -c rejected the configuration: ${alerts.slice(0, 3).join('; ') || 'no message'}`);
  }
}

export class Applier {
  private lastRendered: RenderedConfig | null = null;
  /** What this process last wrote to each live file, so unchanged files are not rewritten. */
  private readonly written = new Map<string, string>();
  /** The map files of the last live write (null before the first). */
  private liveMaps: Set<string> | null = null;

  constructor(
    private readonly opts: {
      bin: string;
      paths: ApplierPaths;
      renderer: ConfigRenderer;
      renderSettings: RenderSettings;
      runtime: RuntimeClient;
      master: MasterClient;
      logger: Logger;
      onRuntimeCommands?: (ok: number, failed: number) => void;
      sideFiles?: ConfigSideFiles;
    },
  ) {}

  get rendered(): RenderedConfig | null {
    return this.lastRendered;
  }

  async render(model: HaproxyModel): Promise<RenderedConfig> {
    return this.opts.renderer.render(model, this.opts.renderSettings);
  }

  /** Runs runtime operations; throws on the first failure (the caller falls back to a reload). */
  async applyRuntime(ops: RuntimeOp[]): Promise<void> {
    const rt = this.opts.runtime;
    const serverCmds: string[] = [];
    const tlsOps: TlsRuntimeOp[] = [];
    let tlsCommands = 0;
    let maps = 0;
    try {
      for (const op of ops) {
        if (op.kind === 'replace-map') {
          await rt.replaceMap(op.path, op.entries);
          maps += 1;
        } else if (op.kind === 'set-server-addr') {
          serverCmds.push(`set server ${op.backend}/${op.server} addr ${op.address} port ${op.port}`);
        } else if (op.kind === 'set-server-state') {
          serverCmds.push(`set server ${op.backend}/${op.server} state ${op.state}`);
        } else if (op.kind === 'set-server-health-up') {
          serverCmds.push(`set server ${op.backend}/${op.server} health up`);
        } else {
          tlsOps.push(op);
        }
      }
      if (serverCmds.length > 0) await rt.batchOrThrow(serverCmds);
      // [edge] After the servers: a crt-list entry may only name a committed certificate.
      if (tlsOps.length > 0) tlsCommands += await applyTlsOps(rt, tlsOps);
      this.opts.onRuntimeCommands?.(maps + serverCmds.length + tlsCommands, 0);
    } catch (err) {
      this.opts.onRuntimeCommands?.(maps, 1);
      throw err;
    }
  }

  /** Writes the running state into the live config and map files (no reload) so reloads and restarts keep it. */
  async persist(rendered: RenderedConfig): Promise<void> {
    await this.writeLive(rendered);
    this.lastRendered = rendered;
  }

  /** Renders and checks `model` in the stage directory. Throws ConfigRejectedError naming the culprit gateways. */
  async stage(model: HaproxyModel): Promise<RenderedConfig> {
    const rendered = await this.render(model);
    const { stageDir, mapsDir } = this.opts.paths;
    const stageMaps = join(stageDir, 'maps');
    await rm(stageDir, { recursive: true, force: true });
    await mkdir(stageMaps, { recursive: true });
    // The check opens every `-f` file the config names: a new route's sampling file must exist first.
    await this.opts.sideFiles?.ensure(rendered.config);
    // The config names map files by absolute path. Check a copy that points at staged copies of
    // the maps that change and at the live files for the rest (thousands of gateways: few writes).
    const changed = new Set(Object.keys(rendered.maps).filter((p) => this.written.get(p) !== rendered.maps[p]));
    const prefix = `${mapsDir}/`;
    const stagedConfig = rendered.config.replace(new RegExp(`${escapeRegExp(prefix)}([^\\s,)]+)`, 'g'), (path: string, name: string) =>
      changed.has(path) ? join(stageMaps, name) : path,
    );
    await forEachLimited([...changed], 16, (path) => writeFile(path.replace(prefix, `${stageMaps}/`), rendered.maps[path] ?? ''));
    const stagedFile = join(stageDir, 'haproxy.cfg');
    await writeFile(stagedFile, await this.stageTls(rendered, stagedConfig));
    const result = await checkConfig(this.opts.bin, stagedFile);
    if (!result.ok) {
      const culprits = new Map<string, string[]>();
      for (const d of result.diagnostics) {
        if (d.level !== 'alert') continue;
        let gw: string | null = null;
        if (d.line !== undefined && d.file === stagedFile) gw = gatewayAtLine(rendered.spans(), d.line);
        if (!gw && d.proxy) {
          const name = d.proxy.split(':')[0] ?? '';
          if (model.gateways.some((g) => g.name === name)) gw = name;
        }
        if (gw) culprits.set(gw, [...(culprits.get(gw) ?? []), d.message]);
      }
      throw new ConfigRejectedError(result.diagnostics, culprits);
    }
    return rendered;
  }

  /**
   * [edge] Copies the crt-lists and PEMs into `stage/tls` and points the staged config (and the
   * staged crt-lists) at them, so `haproxy -c` loads exactly the certificates it would serve.
   */
  private async stageTls(rendered: RenderedConfig, config: string): Promise<string> {
    const files = Object.entries(rendered.tlsFiles ?? {});
    const tlsDir = this.opts.paths.tlsDir;
    if (files.length === 0 || !tlsDir) return config;
    const stageTls = join(this.opts.paths.stageDir, 'tls');
    await mkdir(stageTls, { recursive: true, mode: 0o700 });
    const staged = (text: string): string => text.split(`${tlsDir}/`).join(`${stageTls}/`);
    await forEachLimited(files, 16, ([path, content]) => writeFile(staged(path), path.endsWith('.crt-list') ? staged(content) : content, { mode: 0o600 }));
    return staged(config);
  }

  /** Installs a checked config and reloads; restores the previous files if the reload fails. */
  async installAndReload(rendered: RenderedConfig, model: HaproxyModel): Promise<{ durationMs: number; workerPid: number }> {
    // Every start path installs (and records) a render before the first reload.
    const previous = this.lastRendered;
    await this.writeLive(rendered);
    await this.dumpServerState(model);
    try {
      const outcome = await this.opts.master.reload({ timeoutMs: 60_000 });
      // Old workers keep serving existing connections, our CLI connection included: reconnect to the new one.
      this.opts.runtime.close();
      this.lastRendered = rendered;
      await this.pruneSideFiles(rendered);
      return { durationMs: outcome.durationMs, workerPid: outcome.newWorkerPid };
    } catch (err) {
      this.opts.runtime.close();
      if (previous) await this.writeLive(previous).catch(() => undefined);
      throw err;
    }
  }

  /** Installs a checked config without reloading (first start, before HAProxy runs). */
  async install(rendered: RenderedConfig): Promise<void> {
    await this.writeLive(rendered);
    this.lastRendered = rendered;
    // Nothing to restore if HAProxy then fails to start: this config stays the one on disk.
    await this.pruneSideFiles(rendered);
  }

  /** A failure here leaves extra files behind, never a config without its files: logged, not thrown. */
  private async pruneSideFiles(rendered: RenderedConfig): Promise<void> {
    await this.opts.sideFiles?.prune(rendered.config).catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message }, 'cannot remove files of removed routes'));
  }

  private async writeLive(rendered: RenderedConfig): Promise<void> {
    const { mapsDir, configFile } = this.opts.paths;
    await mkdir(mapsDir, { recursive: true });
    // Before the config lands on disk: a reload or a master restart reads it with the files it names.
    await this.opts.sideFiles?.ensure(rendered.config);
    const changed = Object.entries(rendered.maps).filter(([path, content]) => this.written.get(path) !== content);
    // Renamed into place but not fsynced: HAProxy reads these on a reload or a restart of its
    // master, which a process crash does not stop; after a power cut the agent renders them
    // again at start (from the store, or the last-good cache, which is fsynced).
    await forEachLimited(changed, 16, async ([path, content]) => {
      await writeFileAtomic(path, content, 0o644, { durable: false });
      this.written.set(path, content);
    });
    await this.writeTls(rendered);
    if (this.written.get(configFile) !== rendered.config) {
      await writeFileAtomic(configFile, rendered.config, 0o644, { durable: false });
      this.written.set(configFile, rendered.config);
    }
    // Map files of removed gateways would otherwise pile up; only a changed map set can leave any.
    const live = new Set(Object.keys(rendered.maps));
    const sameSet = this.liveMaps !== null && this.liveMaps.size === live.size && [...live].every((p) => this.liveMaps?.has(p));
    this.liveMaps = live;
    if (sameSet) return;
    for (const name of await readdir(mapsDir)) {
      const path = join(mapsDir, name);
      if (name.endsWith('.map') && !live.has(path)) {
        await unlink(path).catch(() => undefined);
        this.written.delete(path);
      }
    }
  }

  /** [edge] Writes changed crt-lists and PEMs (0600: they hold private keys) and removes ones no longer used. */
  private async writeTls(rendered: RenderedConfig): Promise<void> {
    const tlsDir = this.opts.paths.tlsDir;
    if (!tlsDir) return;
    const files = rendered.tlsFiles ?? {};
    const entries = Object.entries(files);
    if (entries.length > 0) await mkdir(tlsDir, { recursive: true, mode: 0o700 });
    await forEachLimited(
      entries.filter(([path, content]) => this.written.get(path) !== content),
      16,
      async ([path, content]) => {
        await writeFileAtomic(path, content, 0o600, { durable: false });
        this.written.set(path, content);
      },
    );
    const names = await readdir(tlsDir).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(tlsDir, name);
      if ((name.endsWith('.pem') || name.endsWith('.crt-list')) && !(path in files)) {
        await unlink(path).catch(() => undefined);
        this.written.delete(path);
      }
    }
  }

  /**
   * Keeps health and maintenance state across the reload, but only for servers whose address
   * and port stay the same: HAProxy applies the state file's port over the config's (notes §3).
   */
  private async dumpServerState(model: HaproxyModel): Promise<void> {
    const wanted = new Map<string, string>();
    // [edge] DNS-discovered servers keep what HAProxy resolved (`init-addr last`), as long as their name stays.
    const discovered = new Map<string, { kind: 'dns' | 'srv'; fqdn: string }>();
    for (const g of model.gateways) {
      for (const r of g.routes) {
        for (const s of r.slots) if (s.enabled) wanted.set(`${r.backend}/${s.name}`, `${s.address}|${s.port}`);
        for (const d of r.discovery) for (const n of templateServerNames(d)) discovered.set(`${r.backend}/${n}`, d);
      }
    }
    const sameName = (row: { srv_fqdn: string; srv_port: string; srvrecord: string }, d: { kind: 'dns' | 'srv'; fqdn: string }): boolean =>
      d.kind === 'srv' ? row.srvrecord === d.fqdn : `${row.srv_fqdn}:${row.srv_port}` === d.fqdn;
    let text: string;
    try {
      text = await this.opts.runtime.showServersState();
    } catch (err) {
      this.opts.logger.warn({ err }, 'cannot dump server state before reload; health state starts fresh');
      text = '1\n';
    }
    let state;
    try {
      state = parseServerState(text);
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'unreadable server state; health state starts fresh');
      state = parseServerState('1\n');
    }
    const kept = state.rows.filter((row) => {
      const d = discovered.get(`${row.be_name}/${row.srv_name}`);
      return d !== undefined && sameName(row, d);
    });
    const rows = state.rows
      .filter((row) => {
        const want = wanted.get(`${row.be_name}/${row.srv_name}`);
        return want === `${row.srv_addr}|${row.srv_port}` || want === `${row.srv_fqdn}|${row.srv_port}`;
      })
      // Only health state carries over: the new config decides which slots are enabled.
      .map((row) => ({ ...row, srv_admin_state: '0' }))
      .concat(kept);
    // Read once by the next worker: a power cut loses nothing the agent does not rebuild.
    await writeFileAtomic(this.opts.paths.serverStateFile, serializeServerState({ ...state, rows }), 0o644, { durable: false });
  }
}
