// The Kubernetes manifests parse, carry the fields Kubernetes requires, reference only objects
// and settings that exist, and keep the choices the README documents (probes, hostNetwork,
// drain time, Vault token file, scrape annotations).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../runtime/package-root.js';
import { SETTINGS } from '../../agent/settings.js';
import { CONTROL_SETTINGS } from '../../control/settings.js';
import { assert, suite } from '../harness/uvu.js';

type Obj = Record<string, unknown>;
const t = suite('deploy/kubernetes manifests');
const dir = join(packageRoot(), 'deploy', 'kubernetes');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Obj;
  });
}
const all = files.flatMap((f) => load(f).map((o) => ({ file: f, o })));
const objects = all.filter((x) => x.file !== 'kustomization.yaml').map((x) => x.o);
const find = (kind: string, name: string): Obj => {
  const o = objects.find((x) => x.kind === kind && (x.metadata as Obj).name === name);
  if (!o) throw new Error(`no ${kind}/${name}`);
  return o;
};
const at = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v as Obj | undefined)?.[k], o);
type Container = { name: string; env?: Array<{ name: string; value?: string; valueFrom?: unknown }>; envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>; volumeMounts?: Array<{ name: string; mountPath: string }>; [k: string]: unknown };
const containers = (o: Obj): Container[] => at(o, 'spec.template.spec.containers') as Container[];
const envOf = (c: Container, name: string): string | undefined => c.env?.find((e) => e.name === name)?.value;

t('every document has apiVersion, kind and a name; the kustomization lists every file', () => {
  assert.ok(files.length >= 4);
  for (const { file, o } of all) {
    assert.type(o.apiVersion, 'string', `${file}: apiVersion`);
    assert.type(o.kind, 'string', `${file}: kind`);
    if (o.kind !== 'Kustomization') {
      assert.type(at(o, 'metadata.name'), 'string', `${file}: metadata.name`);
      if (o.kind !== 'Namespace') assert.is(at(o, 'metadata.namespace'), 'weir-system', `${file}: ${String(o.kind)} namespace`);
    }
  }
  const kustomization = all.find((x) => x.file === 'kustomization.yaml')?.o;
  assert.equal([...((kustomization?.resources as string[]) ?? [])].sort(), files.filter((f) => f !== 'kustomization.yaml'));
  const kinds = objects.map((o) => o.kind).sort();
  for (const k of ['ConfigMap', 'DaemonSet', 'Deployment', 'Namespace', 'PersistentVolumeClaim', 'Secret', 'Service']) assert.ok(kinds.includes(k), k);
});

t('workloads: selectors match their pod labels; the Service selects the control pods', () => {
  for (const w of objects.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment')) {
    const sel = at(w, 'spec.selector.matchLabels') as Obj;
    const labels = at(w, 'spec.template.metadata.labels') as Obj;
    for (const [k, v] of Object.entries(sel)) assert.is(labels[k], v, `${String(at(w, 'metadata.name'))}: ${k}`);
  }
  const svc = find('Service', 'weir-control');
  const podLabels = at(find('Deployment', 'weir-control'), 'spec.template.metadata.labels') as Obj;
  for (const [k, v] of Object.entries(at(svc, 'spec.selector') as Obj)) assert.is(podLabels[k], v);
  const port = (containers(find('Deployment', 'weir-control'))[0]?.ports as Array<{ name: string }>).map((p) => p.name);
  assert.ok(port.includes(String(at(svc, 'spec.ports.0.targetPort'))));
});

t('referenced ConfigMaps, Secrets, PVCs and volumes exist; env names are real settings', () => {
  const known = new Set([...SETTINGS.map((s) => s.env), ...CONTROL_SETTINGS.map((s) => s.env), 'VAULT_ADDR', 'VAULT_TOKEN_FILE', 'VAULT_CACERT', 'VAULT_NAMESPACE', 'NATS_TOKEN', 'NATS_CREDS', 'WEIR_CONTROL_OUTBOX_DIR', 'HOST_IP', 'WEIR_LOG_LEVEL']);
  for (const w of objects.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment')) {
    const podSpec = at(w, 'spec.template.spec') as Obj;
    const volumes = (podSpec.volumes as Array<Obj & { name: string }>) ?? [];
    for (const v of volumes) {
      const secret = at(v, 'secret.secretName');
      if (secret) find('Secret', String(secret));
      const claim = at(v, 'persistentVolumeClaim.claimName');
      if (claim) find('PersistentVolumeClaim', String(claim));
    }
    for (const c of containers(w)) {
      for (const m of c.volumeMounts ?? []) assert.ok(volumes.some((v) => v.name === m.name), `${c.name}: volume ${m.name}`);
      for (const ef of c.envFrom ?? []) {
        if (ef.configMapRef) find('ConfigMap', ef.configMapRef.name);
        if (ef.secretRef) find('Secret', ef.secretRef.name);
      }
      for (const e of c.env ?? []) assert.ok(known.has(e.name), `${c.name}: unknown env ${e.name}`);
    }
  }
  for (const o of objects.filter((x) => x.kind === 'ConfigMap' || x.kind === 'Secret')) {
    for (const k of Object.keys((o.data ?? o.stringData ?? {}) as Obj)) if (k !== 'token') assert.ok(known.has(k), `${String(at(o, 'metadata.name'))}: unknown key ${k}`);
  }
  const cm = find('ConfigMap', 'weir-config').data as Obj;
  assert.is(cm.WEIR_STORE, 'vault:secret');
  assert.match(String(cm.VAULT_ADDR), /^https?:\/\//);
  assert.match(String(cm.WEIR_NATS_URL), /^nats:\/\//);
});

t('agent DaemonSet: host network, probes, scrape annotations, Vault token file, drain time', () => {
  const ds = find('DaemonSet', 'weir-agent');
  const spec = at(ds, 'spec.template.spec') as Obj;
  assert.is(spec.hostNetwork, true);
  assert.is(spec.dnsPolicy, 'ClusterFirstWithHostNet');
  const [c] = containers(ds);
  if (!c) throw new Error('no agent container');
  assert.equal(c.args, ['agent']);
  assert.is(at(c, 'readinessProbe.httpGet.path'), '/readyz');
  assert.is(at(c, 'livenessProbe.httpGet.path'), '/healthz');
  const annotations = at(ds, 'spec.template.metadata.annotations') as Obj;
  assert.is(annotations['prometheus.io/scrape'], 'true');
  assert.is(annotations['prometheus.io/port'], String(envOf(c, 'WEIR_HTTP_ADDR')?.split(':').pop()));
  const tokenFile = envOf(c, 'VAULT_TOKEN_FILE') ?? '';
  assert.ok(c.volumeMounts?.some((m) => m.name === 'vault-token' && tokenFile.startsWith(`${m.mountPath}/`)), 'token file is on the secret mount');
  // [edge] Upgrades drop no request: the agent attaches to HAProxy's own pod and keeps it on exit.
  assert.is(envOf(c, 'WEIR_HAPROXY_ON_EXIT'), 'keep');
  assert.is(envOf(c, 'WEIR_HAPROXY_MASTER_SOCKET'), `${envOf(c, 'WEIR_STATE_DIR')}/master.sock`);
  assert.ok(c.volumeMounts?.some((m) => m.name === 'state' && m.mountPath === envOf(c, 'WEIR_STATE_DIR')));
  assert.is(at((spec.volumes as Obj[]).find((v) => v.name === 'state'), 'hostPath.path'), '/var/lib/weir');
  assert.equal(at(c, 'securityContext.capabilities.drop'), ['ALL']);
  assert.ok(at(c, 'resources.requests.memory') && at(c, 'resources.limits.memory'));
  assert.is(at(ds, 'spec.updateStrategy.rollingUpdate.maxUnavailable'), 1);
});

t('[edge] HAProxy DaemonSet: its own pod, updated on delete, same node state dir and master socket as the agent, drained on delete', () => {
  const ds = find('DaemonSet', 'weir-haproxy');
  const agent = containers(find('DaemonSet', 'weir-agent'))[0] as Container;
  const spec = at(ds, 'spec.template.spec') as Obj;
  assert.is(at(ds, 'spec.updateStrategy.type'), 'OnDelete');
  assert.is(spec.hostNetwork, true);
  const [c] = containers(ds);
  if (!c) throw new Error('no haproxy container');
  const script = ((c.args as string[]) ?? []).join('\n');
  assert.match(script, new RegExp(`exec haproxy -W -S ${envOf(agent, 'WEIR_HAPROXY_MASTER_SOCKET')},mode,600 -f ${envOf(agent, 'WEIR_STATE_DIR')}/haproxy.cfg`));
  assert.is(at((spec.volumes as Obj[]).find((v) => v.name === 'state'), 'hostPath.path'), '/var/lib/weir');
  assert.ok(c.volumeMounts?.some((m) => m.name === 'state' && m.mountPath === envOf(agent, 'WEIR_STATE_DIR')));
  assert.match(String((at(c, 'lifecycle.preStop.exec.command') as string[]).join(' ')), /kill -USR1 1/);
  const hardStop = Number(/^(\d+)s$/.exec(envOf(agent, 'WEIR_HARD_STOP_AFTER') ?? '')?.[1]);
  assert.ok(Number(spec.terminationGracePeriodSeconds) > hardStop, 'grace period covers the HAProxy drain');
  assert.ok((at(c, 'securityContext.capabilities.add') as string[]).includes('NET_BIND_SERVICE'));
  // With hostNetwork a host port may be declared by one pod per node only.
  const ports = (p: Container): number[] => ((p.ports as Array<{ containerPort: number }>) ?? []).map((x) => x.containerPort);
  assert.not.ok(ports(agent).some((p) => ports(c).includes(p)));
});

t('control Deployment runs the NATS entry point with its state on the PVC', () => {
  const d = find('Deployment', 'weir-control');
  const [c] = containers(d);
  if (!c) throw new Error('no control container');
  assert.equal(c.command, ['node', '/app/dist/control/nats-main.js']);
  assert.is(at(d, 'spec.strategy.type'), 'Recreate');
  const state = envOf(c, 'WEIR_CONTROL_STATE_DIR') ?? '';
  assert.ok(c.volumeMounts?.some((m) => m.name === 'state' && m.mountPath === state));
  assert.ok((envOf(c, 'WEIR_CONTROL_OUTBOX_DIR') ?? '').startsWith(`${state}/`), 'outbox on the volume');
  assert.is(at(c, 'readinessProbe.httpGet.path'), '/healthz');
});

t.run();
