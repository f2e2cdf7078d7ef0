// [edge] The agent's TLS side, kept out of agent.ts: reads and judges the certificates the desired
// gateways reference (CertificateBook), follows certificate changes (store watch; a changed
// certificate re-reads the namespace), exports days to expiry per served certificate, and
// reports certificates and their warnings in /status. Never a key in a log, a status or a metric.
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../runtime/log.js';
import type { DocumentStore } from '../../store/document-store.js';
import type { GatewayStore, Namespace, StopWatching } from '../../store/store.js';
import type { GatewayProblem, ResolvedGateway } from '../sync/gateway-book.js';
import type { AgentWarning } from '../discovery/dns-record-check.js';
import type { CertificateFile } from '../plan/tls-model.js';
import { CertificateBook, type CertificateStatus, type UsableCertificate } from './certificate-book.js';

export type CertificateStore = GatewayStore & Partial<Pick<DocumentStore, 'getDocument' | 'watchDocuments'>>;

export class AgentTls {
  private readonly book: CertificateBook;
  /** Certificates of the last resolution (what the next apply serves). */
  private pending = new Map<string, UsableCertificate>();
  private lastWarnings: AgentWarning[] = [];
  private referenced: string[] = [];
  private stopWatch: StopWatching | null = null;

  constructor(
    private readonly store: CertificateStore,
    private readonly ns: Namespace,
    registry: Registry,
    private readonly logger: Logger,
  ) {
    this.book = new CertificateBook(store, ns);
    const served = (): UsableCertificate[] => this.book.servedCertificates();
    new Gauge({
      name: 'weir_tls_certificate_days_to_expiry',
      help: 'Days until each served certificate expires (not-after minus now; negative once expired).',
      labelNames: ['certificate'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of served()) this.set({ certificate: c.name }, Math.floor((Date.parse(c.cert.notAfter) - Date.now()) / 86_400_000));
      },
    });
    new Gauge({
      name: 'weir_tls_certificate_not_after_timestamp_seconds',
      help: 'Unix time at which each served certificate expires.',
      labelNames: ['certificate'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of served()) this.set({ certificate: c.name }, Date.parse(c.cert.notAfter) / 1000);
      },
    });
    const book = this.book;
    const refs = (): string[] => this.referenced;
    new Gauge({
      name: 'weir_tls_certificates_refused',
      help: 'Certificates referenced by gateways whose stored version is refused (the served version, if any, keeps serving).',
      registers: [registry],
      collect() {
        this.set(book.status(refs()).filter((c) => c.errors.length > 0).length);
      },
    });
  }

  /** Follows certificate documents where the store can watch them; `onChange` asks for a sync. */
  async watch(onChange: (reason: string) => void): Promise<void> {
    if (!this.store.watchDocuments) return;
    this.stopWatch = await this.store
      .watchDocuments(this.ns, 'certificates', (reason, hint) => {
        this.book.markStale(hint?.name);
        onChange(`certificate ${reason}`);
      })
      .catch((err: unknown) => {
        this.logger.warn({ err: (err as Error).message }, 'certificate watch unavailable; certificates are re-read on every poll');
        return null;
      });
  }

  /** A certificate change announced on NATS by name. */
  markStale(name: string): void {
    this.book.markStale(name);
  }

  async stop(): Promise<void> {
    await this.stopWatch?.().catch(() => undefined);
  }

  /**
   * Reads what the gateways reference (`full`: everything; else what is unknown or stale) and
   * keeps the gateways whose certificates can be served. Throws StoreUnavailableError.
   */
  async resolve(desired: ResolvedGateway[], fallback: (name: string) => ResolvedGateway | undefined, full: boolean, vhostPort: number): Promise<{ desired: ResolvedGateway[]; problems: GatewayProblem[] }> {
    const candidates = [...desired, ...desired.map((d) => fallback(d.gateway.name)).filter((x): x is ResolvedGateway => x !== undefined)];
    this.referenced = [...new Set(desired.flatMap((d) => d.gateway.tls?.certificates ?? []))];
    if (!candidates.some((c) => c.gateway.tls)) {
      this.pending = new Map();
      this.lastWarnings = [];
      return { desired, problems: [] };
    }
    await this.book.refresh(candidates, full);
    const r = this.book.resolve(desired, fallback, { vhostPort });
    this.pending = r.certificates;
    if (JSON.stringify(r.warnings) !== JSON.stringify(this.lastWarnings)) for (const w of r.warnings) this.logger.warn({ about: w.source }, w.message);
    this.lastWarnings = r.warnings;
    return { desired: r.desired, problems: r.problems };
  }

  /** Certificate files for the model of the last resolution. */
  files(): Map<string, Omit<CertificateFile, 'name'>> {
    return new Map([...this.pending].map(([name, u]) => [name, { pem: u.cert.pem, contentHash: u.cert.contentHash }]));
  }

  /** After an apply: `applied` gateways are served, with the certificates they reference. */
  commit(applied: readonly ResolvedGateway[]): void {
    const used = new Set(applied.flatMap((a) => a.gateway.tls?.certificates ?? []));
    const served = new Map([...this.book.servedCertificates()].map((c) => [c.name, c]));
    const next = new Map<string, UsableCertificate>();
    for (const name of used) {
      const c = this.pending.get(name) ?? served.get(name);
      if (c) next.set(name, c);
    }
    this.book.commit(next);
  }

  warnings(): AgentWarning[] {
    return this.lastWarnings;
  }

  status(): CertificateStatus[] {
    return this.book.status(this.referenced);
  }
}
