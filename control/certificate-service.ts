// [edge] Certificates through the control API: `PUT/GET/DELETE …/certificates/{name}`. A PUT
// takes `{"certificate": "<PEM chain, leaf first>", "key": "<PEM private key>"}`, refuses
// what the agents would refuse (model/certificate.ts: no parse, key mismatch, expired, chain out
// of order), stores chain then key as one PEM document (file store: `<name>.pem`), audits it and
// announces it on NATS so agents rotate it at once. No response, log or audit record ever holds
// the key: GET returns the chain and its metadata. A certificate a gateway uses cannot be deleted.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../runtime/log.js';
import type { DocumentStore } from '../store/document-store.js';
import { namespaceKey, type DocumentEntry, type Namespace } from '../store/store.js';
import { certificateInfo, parseCertificate, type CertificateInfo } from '../model/certificate.js';
import type { Gateway } from '../model/gateway.js';
import { actor } from './auth.js';
import { badRequest, conflict, notFound } from './errors.js';
import { VersionConflictError } from '../store/store-writer.js';
import type { AuditRecord, CertificateChangedEvent } from '../events/contract.js';
import type { ControlMetrics } from './metrics.js';
import type { AuditSink, ChangePublisher } from './seams.js';
import type { Preconditions, WriteContext } from './gateway-service.js';

export interface CertificateView extends Partial<CertificateInfo> {
  name: string;
  version: string;
  valid: boolean;
  /** The stored chain (CERTIFICATE blocks only). */
  certificate: string;
  errors?: string[];
  warnings?: string[];
}

export interface CertificateServiceDeps {
  store: DocumentStore;
  audit: AuditSink;
  events?: ChangePublisher | undefined;
  metrics: ControlMetrics;
  log: Logger;
  /** The namespace's gateways, parsed (a certificate in use cannot be deleted). */
  gateways: (ns: Namespace) => Promise<Gateway[]>;
  /** Runs a store call, mapping its failures to API errors (GatewayService.call). */
  call: <T>(op: string, fn: () => Promise<T>) => Promise<T>;
  publishTimeoutMs?: number;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\r?\n?/g;
const KEY_BLOCK = /-----BEGIN (?:ENCRYPTED |RSA |EC )?PRIVATE KEY-----/;

export function checkCertificateName(name: string): void {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) {
    throw badRequest('invalid_name', `${JSON.stringify(name.slice(0, 80))} is not a valid certificate name: use a lower-case DNS label (a-z, 0-9 and "-", 1–63 characters)`);
  }
}

/** The certificate blocks of a stored document: what GET may show. */
const chainOnly = (body: string): string => (body.match(CERT_BLOCK) ?? []).map((b) => (b.endsWith('\n') ? b : `${b}\n`)).join('');

export function viewOf(e: DocumentEntry): CertificateView {
  const r = parseCertificate(e.body);
  if (!r.ok) return { name: e.name, version: e.version, valid: false, certificate: chainOnly(e.body), errors: r.errors };
  return { name: e.name, version: e.version, valid: true, ...certificateInfo(r.certificate), certificate: r.certificate.chainPem, ...(r.warnings.length > 0 ? { warnings: r.warnings } : {}) };
}

export class CertificateService {
  private readonly publishTimeoutMs: number;

  constructor(private readonly deps: CertificateServiceDeps) {
    this.publishTimeoutMs = deps.publishTimeoutMs ?? 2000;
  }

  async list(ns: Namespace): Promise<{ namespace: string; certificates: Array<Omit<CertificateView, 'certificate' | 'chain'>>; problems: Array<{ source: string; message: string }> }> {
    const snap = await this.deps.call('list', () => this.deps.store.listDocuments(ns, 'certificates'));
    return {
      namespace: namespaceKey(ns),
      certificates: snap.entries.map((e) => {
        const { certificate: _c, chain: _ch, ...rest } = viewOf(e);
        return rest;
      }),
      problems: snap.problems.map((p) => ({ source: p.source.split('/').pop() ?? p.source, message: p.message })),
    };
  }

  async get(ns: Namespace, name: string): Promise<DocumentEntry> {
    checkCertificateName(name);
    const e = await this.deps.call('get', () => this.deps.store.getDocument(ns, 'certificates', name));
    if (!e) throw notFound('certificate_not_found', `certificate "${name}" does not exist in ${namespaceKey(ns)}`);
    return e;
  }

  /** Create or replace from `{certificate, key}`. */
  async put(ctx: WriteContext, name: string, value: unknown, pre: Preconditions): Promise<{ created: boolean; view: CertificateView }> {
    checkCertificateName(name);
    const { certificate, key } = certificateBody(value);
    const parsed = parseCertificate(`${certificate.replace(/\s*$/, '\n')}${key}`);
    if (!parsed.ok) {
      const message = parsed.errors.length === 1 ? `certificate "${name}": ${parsed.errors[0]}` : `certificate "${name}": ${parsed.errors.length} problems: ${parsed.errors.join('; ')}`;
      throw badRequest('invalid_certificate', message, parsed.errors.map((m) => ({ certificate: name, message: m })));
    }
    const pem = parsed.certificate.pem;
    const current = await this.deps.call('get', () => this.deps.store.getDocument(ctx.ns, 'certificates', name));
    checkPreconditions(name, pre, current);
    const { version } = await cas(() => this.deps.call('put', () => this.deps.store.putDocument(ctx.ns, 'certificates', name, pem, 'pem', { ifVersion: pre.ifMatch && pre.ifMatch !== '*' ? pre.ifMatch : (current?.version ?? null) })));
    await this.afterWrite(ctx, name, current?.version ?? null, version, current ? 'certificate.replace' : 'certificate.create');
    this.deps.log.info({ certificate: name, namespace: namespaceKey(ctx.ns), fingerprint: parsed.certificate.fingerprintSha256, notAfter: parsed.certificate.notAfter, by: actor(ctx.principal) }, current ? 'certificate replaced' : 'certificate created');
    return {
      created: current === null,
      view: { name, version, valid: true, ...certificateInfo(parsed.certificate), certificate: parsed.certificate.chainPem, ...(parsed.warnings.length > 0 ? { warnings: parsed.warnings } : {}) },
    };
  }

  async delete(ctx: WriteContext, name: string, pre: Preconditions): Promise<void> {
    checkCertificateName(name);
    const current = await this.get(ctx.ns, name);
    checkPreconditions(name, pre, current);
    const users = (await this.deps.gateways(ctx.ns)).filter((g) => g.tls?.certificates.includes(name)).map((g) => g.name);
    if (users.length > 0) throw conflict('certificate_in_use', `certificate "${name}" is used by gateway${users.length > 1 ? 's' : ''} ${users.join(', ')}: remove it from their tls.certificates first`);
    const removed = await cas(() => this.deps.call('delete', () => this.deps.store.deleteDocument(ctx.ns, 'certificates', name, { ifVersion: current.version })));
    if (!removed) throw notFound('certificate_not_found', `certificate "${name}" does not exist in ${namespaceKey(ctx.ns)}`);
    await this.afterWrite(ctx, name, current.version, null, 'certificate.delete');
  }

  /**
   * [edge] A gateway may only reference certificates the namespace holds, in a version the agents
   * accept: otherwise they would refuse it and keep serving the previous version.
   */
  async checkReferences(ns: Namespace, gateway: Gateway): Promise<void> {
    const problems: Array<{ path: string; message: string }> = [];
    for (const [i, name] of (gateway.tls?.certificates ?? []).entries()) {
      const e = await this.deps.call('get', () => this.deps.store.getDocument(ns, 'certificates', name));
      if (!e) problems.push({ path: `tls.certificates[${i}]`, message: `certificate "${name}" does not exist in ${namespaceKey(ns)}: PUT /api/v1/namespaces/${ns.org}/${ns.env}/certificates/${name} first` });
      else {
        const r = parseCertificate(e.body);
        if (!r.ok) problems.push({ path: `tls.certificates[${i}]`, message: `certificate "${name}" is refused: ${r.errors.join('; ')}` });
      }
    }
    if (problems.length === 0) return;
    const missing = problems.some((p) => p.message.includes('does not exist'));
    throw conflict(missing ? 'certificate_not_found' : 'certificate_invalid', problems.map((p) => `request: ${p.path}: ${p.message}`).join('; '), problems.map((p) => ({ source: 'request', ...p })));
  }

  private async afterWrite(ctx: WriteContext, name: string, before: string | null, after: string | null, action: string): Promise<void> {
    const at = new Date().toISOString();
    const rec: AuditRecord = { id: randomUUID(), at, by: actor(ctx.principal), role: ctx.principal.role, action, target: `certificate/${ctx.ns.org}/${ctx.ns.env}/${name}`, beforeVersion: before, afterVersion: after, requestId: ctx.requestId };
    const announced = this.announce(ctx, { certificate: name, version: after, action: after === null ? 'delete' : 'put', by: ctx.principal.name, at });
    const audited = this.deps.audit.record(ctx.ns, rec).catch((err: unknown) => {
      this.deps.metrics.auditErrors.inc();
      this.deps.log.error({ err, audit: rec }, 'audit record not written');
    });
    await Promise.all([announced, audited]);
  }

  private async announce(ctx: WriteContext, ev: CertificateChangedEvent): Promise<void> {
    const publish = this.deps.events?.publishCertificateChanged?.bind(this.deps.events);
    if (!publish) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        publish(ctx.ns, ev),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`publisher did not answer within ${this.publishTimeoutMs} ms`)), this.publishTimeoutMs);
        }),
      ]);
    } catch (err) {
      this.deps.metrics.publishError('certificate_changed');
      this.deps.log.warn({ err, namespace: namespaceKey(ctx.ns), certificate: ev.certificate }, 'certificate change not published');
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `{"certificate": "<PEM chain>", "key": "<PEM key>"}`, nothing else. */
function certificateBody(value: unknown): { certificate: string; key: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('invalid_request', 'expected {"certificate": "<PEM chain, leaf first>", "key": "<PEM private key>"}');
  const v = value as Record<string, unknown>;
  const unknown = Object.keys(v).filter((k) => k !== 'certificate' && k !== 'key');
  if (unknown.length > 0) throw badRequest('invalid_request', `unknown field ${JSON.stringify(unknown[0])}: a certificate is {"certificate", "key"}`);
  if (typeof v.certificate !== 'string' || v.certificate.trim() === '') throw badRequest('invalid_request', 'certificate: required, the PEM chain (leaf first, then intermediates)');
  if (typeof v.key !== 'string' || v.key.trim() === '') throw badRequest('invalid_request', 'key: required, the PEM private key of the leaf certificate');
  if (KEY_BLOCK.test(v.certificate)) throw badRequest('invalid_request', 'certificate: holds a private key; send the key in "key" and only CERTIFICATE blocks in "certificate"');
  if (/-----BEGIN CERTIFICATE-----/.test(v.key)) throw badRequest('invalid_request', 'key: holds a certificate; send the chain in "certificate" and only the private key in "key"');
  return { certificate: v.certificate, key: v.key.endsWith('\n') ? v.key : `${v.key}\n` };
}

function checkPreconditions(name: string, pre: Preconditions, current: DocumentEntry | null): void {
  if (pre.ifNoneMatch && current) throw conflict('version_conflict', `certificate "${name}" already exists (version ${current.version}) and If-None-Match: * was sent`);
  if (pre.ifMatch === undefined) return;
  if (!current) throw conflict('version_conflict', `certificate "${name}" does not exist, but If-Match was sent`);
  if (pre.ifMatch !== '*' && pre.ifMatch !== current.version) throw conflict('version_conflict', `certificate "${name}" is at version ${current.version}, not ${pre.ifMatch} (If-Match); re-read and retry`);
}

/** A concurrent write won: 409 like every other conditional write. */
async function cas<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof VersionConflictError) throw conflict('version_conflict', err.message);
    throw err;
  }
}
