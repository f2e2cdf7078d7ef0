// [edge] Store → the certificates TLS gateways may use. Each certificate document is judged on
// its own (model/certificate.ts): a refused version (does not parse, key mismatch, expired, …)
// is reported with its name and reason and the version HAProxy already serves keeps serving. A
// gateway whose certificates cannot all be served falls back to its last good version, like a
// gateway whose definition is invalid. Keys stay in memory and in the 0600 files HAProxy reads;
// nothing here logs or reports them.
import { forEachLimited } from '../../runtime/bounded-concurrency.js';
import { StoreUnavailableError, type DocumentEntry, type Namespace } from '../../store/store.js';
import type { DocumentStore } from '../../store/document-store.js';
import { certificateInfo, namesCover, parseCertificate, type CertificateInfo, type CertificateResult, type ParsedCertificate } from '../../model/certificate.js';
import type { Gateway } from '../../model/gateway.js';
import type { GatewayProblem, ResolvedGateway } from '../sync/gateway-book.js';
import type { AgentWarning } from '../discovery/dns-record-check.js';

export interface UsableCertificate {
  name: string;
  version: string;
  source: string;
  cert: ParsedCertificate;
  warnings: string[];
}

/** One certificate in /status: what is served, what the store holds if it was refused. No key. */
export interface CertificateStatus extends Partial<CertificateInfo> {
  name: string;
  source: string | null;
  /** The store's version; null when the store does not have it. */
  version: string | null;
  /** The version HAProxy serves (differs from `version` when that one was refused). */
  servingVersion: string | null;
  errors: string[];
  warnings: string[];
}

export interface TlsResolution {
  desired: ResolvedGateway[];
  /** Certificates the desired gateways use, by name. */
  certificates: Map<string, UsableCertificate>;
  problems: GatewayProblem[];
  warnings: AgentWarning[];
}

type Read = { entry: DocumentEntry | null } | { problem: string };

export class CertificateBook {
  /** What HAProxy serves, by name (after a successful apply). */
  private served = new Map<string, UsableCertificate>();
  /** The store's answer per name at the last read. */
  private reads = new Map<string, Read>();
  private readonly parsed = new Map<string, CertificateResult>();
  private readonly stale = new Set<string>();

  constructor(
    private readonly store: Partial<Pick<DocumentStore, 'getDocument'>> & { location: string },
    private readonly ns: Namespace,
  ) {}

  /** A certificate may have changed (store watch, NATS): the next read fetches it again. */
  markStale(name?: string): void {
    if (name === undefined) this.reads.clear();
    else this.stale.add(name);
  }

  /**
   * Reads the certificates `gateways` reference: all of them (`full`), or only those not read
   * yet or marked stale. Throws StoreUnavailableError when the store cannot be read.
   */
  async refresh(gateways: ReadonlyArray<{ gateway: Gateway }>, full: boolean): Promise<void> {
    const names = new Set(gateways.flatMap((g) => g.gateway.tls?.certificates ?? []));
    const todo = [...names].filter((n) => full || !this.reads.has(n) || this.stale.has(n));
    const get = this.store.getDocument?.bind(this.store);
    if (!get) return;
    await forEachLimited(todo, 8, async (name) => {
      try {
        this.reads.set(name, { entry: await get(this.ns, 'certificates', name) });
      } catch (err) {
        if (err instanceof StoreUnavailableError) throw err;
        this.reads.set(name, { problem: (err as Error).message });
      }
      this.stale.delete(name);
    });
  }

  /**
   * Which of `desired` can be served with TLS. A gateway whose certificates are missing or refused
   * (with no served version to fall back to) is replaced by its served version, when that one can.
   * `fallback(name)`: the gateway's served version, if it differs from the desired one.
   */
  resolve(desired: ResolvedGateway[], fallback: (name: string) => ResolvedGateway | undefined, opts: { vhostPort: number }): TlsResolution {
    const certificates = new Map<string, UsableCertificate>();
    const problems: GatewayProblem[] = [];
    const warnings: AgentWarning[] = [];
    const certProblems = new Map<string, GatewayProblem>();
    const out: ResolvedGateway[] = [];
    const usable = (name: string): { cert: UsableCertificate | null; error: string | null } => {
      const read = this.reads.get(name);
      const served = this.served.get(name);
      if (!this.store.getDocument) return { cert: null, error: `this store (${this.store.location}) holds no certificates` };
      if (read === undefined) return { cert: served ?? null, error: served ? null : `certificate "${name}" was not read from the store` };
      let reason: string[];
      let source: string;
      let version: string | null;
      if ('problem' in read) {
        reason = [read.problem];
        source = served?.source ?? name;
        version = null;
      } else if (read.entry === null) {
        reason = [`does not exist in ${this.ns.org}/${this.ns.env} (store it with PUT /api/v1/namespaces/${this.ns.org}/${this.ns.env}/certificates/${name})`];
        source = served?.source ?? name;
        version = null;
      } else {
        const e = read.entry;
        const key = `${e.source}\0${e.version}`;
        let r = this.parsed.get(key);
        if (!r) {
          r = parseCertificate(e.body);
          if (this.parsed.size > 2000) this.parsed.clear();
          this.parsed.set(key, r);
        }
        if (r.ok) return { cert: { name, version: e.version, source: e.source, cert: r.certificate, warnings: r.warnings }, error: null };
        reason = r.errors;
        source = e.source;
        version = e.version;
      }
      if (!certProblems.has(name)) {
        certProblems.set(name, { name: null, source, version, errors: reason.map((m) => `certificate "${name}": ${m}`), servingVersion: served?.version ?? null });
      }
      return { cert: served ?? null, error: served ? null : `certificate "${name}" ${reason.join('; ')}` };
    };

    const check = (g: ResolvedGateway): { ok: boolean; errors: string[]; certs: UsableCertificate[]; warnings: AgentWarning[] } => {
      const tls = g.gateway.tls;
      if (!tls) return { ok: true, errors: [], certs: [], warnings: [] };
      const errors: string[] = [];
      const certs: UsableCertificate[] = [];
      tls.certificates.forEach((name, i) => {
        const u = usable(name);
        if (u.cert) certs.push(u.cert);
        else errors.push(`${g.entry.source}: tls.certificates[${i}]: ${u.error ?? `certificate "${name}" cannot be served`}`);
      });
      if (tls.redirectHttp && opts.vhostPort === 0) errors.push(`${g.entry.source}: tls.redirect_http: the redirect is served on the virtual-host frontend, which this agent has off (WEIR_VHOST_PORT=0)`);
      const w: AgentWarning[] = [];
      if (errors.length === 0) {
        const sniProblems = sniCheck(g, certs);
        errors.push(...sniProblems.errors);
        w.push(...sniProblems.warnings);
      }
      return { ok: errors.length === 0, errors, certs, warnings: w };
    };

    for (const d of desired) {
      const c = check(d);
      if (c.ok) {
        out.push(d);
        for (const u of c.certs) certificates.set(u.name, u);
        warnings.push(...c.warnings);
        continue;
      }
      const prev = fallback(d.gateway.name);
      const p = prev ? check(prev) : null;
      if (prev && p?.ok) {
        out.push(prev);
        for (const u of p.certs) certificates.set(u.name, u);
        warnings.push(...p.warnings);
      }
      problems.push({ name: d.gateway.name, source: d.entry.source, version: d.entry.version, errors: c.errors, servingVersion: prev && p?.ok ? prev.entry.version : null });
    }
    for (const u of certificates.values()) for (const m of u.warnings) warnings.push({ source: `certificate ${u.name}`, message: m });
    return { desired: out, certificates, problems: [...certProblems.values(), ...problems], warnings };
  }

  /** Records what HAProxy serves now. */
  commit(used: Map<string, UsableCertificate>): void {
    this.served = new Map(used);
  }

  /** Served certificates (metrics). */
  servedCertificates(): UsableCertificate[] {
    return [...this.served.values()];
  }

  /** Every certificate referenced or served, for /status. */
  status(referenced: readonly string[]): CertificateStatus[] {
    const names = [...new Set([...referenced, ...this.served.keys()])].sort();
    return names.map((name) => {
      const served = this.served.get(name);
      const read = this.reads.get(name);
      const entry = read && 'entry' in read ? read.entry : null;
      const r = entry ? this.parsed.get(`${entry.source}\0${entry.version}`) : undefined;
      const shown = r?.ok ? r.certificate : served?.cert;
      return {
        name,
        source: entry?.source ?? served?.source ?? null,
        version: entry?.version ?? null,
        servingVersion: served?.version ?? null,
        ...(shown ? certificateInfo(shown) : {}),
        errors: r && !r.ok ? r.errors : read && 'problem' in read ? [read.problem] : entry === null && read ? ['not in the store'] : [],
        warnings: r?.ok ? r.warnings : (served?.warnings ?? []),
      };
    });
  }
}

/**
 * Names SNI can never select: a certificate after the first with no DNS name is refused (only
 * the first serves clients whose SNI matches nothing). Warned: virtual hosts no certificate
 * covers, certificates matching none of the virtual hosts, certificates earlier ones shadow.
 */
function sniCheck(g: ResolvedGateway, certs: UsableCertificate[]): { errors: string[]; warnings: AgentWarning[] } {
  const errors: string[] = [];
  const warnings: AgentWarning[] = [];
  const source = `gateway ${g.gateway.name}`;
  certs.forEach((u, i) => {
    if (i > 0 && u.cert.dnsNames.length === 0) errors.push(`${g.entry.source}: tls.certificates[${i}]: certificate "${u.name}" has no DNS name: no SNI will ever select it (only the first certificate serves clients whose SNI matches none)`);
    if (i > 0 && u.cert.dnsNames.length > 0) {
      const earlier = certs.slice(0, i).flatMap((c) => c.cert.dnsNames);
      if (u.cert.dnsNames.every((n) => earlier.includes(n))) warnings.push({ source, message: `certificate "${u.name}" (${u.cert.dnsNames.join(', ')}) is never selected: earlier certificates have the same names` });
    }
  });
  const hosts = g.gateway.virtualHosts;
  if (hosts.length > 0) {
    for (const h of hosts) if (!certs.some((u) => namesCover(u.cert.dnsNames, h))) warnings.push({ source, message: `no certificate covers virtual host ${h}: its clients get the default certificate "${certs[0]?.name ?? ''}" and a name mismatch` });
    for (const u of certs) if (u.cert.dnsNames.length > 0 && !hosts.some((h) => namesCover(u.cert.dnsNames, h))) warnings.push({ source, message: `certificate "${u.name}" (${u.cert.dnsNames.join(', ')}) matches none of the virtual hosts` });
  }
  return { errors, warnings };
}
