import { suite, assert } from '../harness/uvu.js';
import { buildHaproxyModel, gatewayStructuralKey, weightBuckets, type ModelSettings } from '../../agent/plan/haproxy-model.js';
import { plan } from '../../agent/plan/planner.js';
import { parseGateway } from '../../model/parse.js';
import type { Gateway } from '../../model/gateway.js';

const settings: ModelSettings = { bindAddress: '127.0.0.1', mapsDir: '/s/maps', minSlots: 4, vhostPort: 0 };

function gw(yaml: string): Gateway {
  const r = parseGateway(yaml, { source: 't.yaml', format: 'yaml' });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.gateway;
}
const shop = (w1: number, t1: string[], extra = ''): Gateway =>
  gw(`name: shop\nport: 8080\n${extra}routes:\n  v1:\n    weight: ${w1}%\n    targets: [${t1.join(', ')}]\n  v2:\n    weight: ${100 - w1}%\n    targets: [10.0.0.9:80]\n`);

const m = suite('HAProxy model');

m('weights become 100 buckets in route order', () => {
  const model = buildHaproxyModel([shop(30, ['10.0.0.1:80'])], settings);
  const b = weightBuckets(model.gateways[0]!);
  assert.is(b.length, 100);
  assert.is(b.filter(([, be]) => be === 'shop:v1').length, 30);
  assert.equal(b[0], ['0', 'shop:v1']);
  assert.equal(b[99], ['99', 'shop:v2']);
  assert.equal(model.maps['/s/maps/shop.weights.map'], b);
});

m('slots: at least minSlots, powers of two above, empty ones disabled on a placeholder', () => {
  const model = buildHaproxyModel([shop(50, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'])], settings);
  const slots = model.gateways[0]!.routes[0]!.slots;
  assert.is(slots.length, 8);
  assert.equal(slots.filter((s) => s.enabled).map((s) => s.address), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
  assert.equal(slots[7], { name: 's7', address: '127.0.0.1', port: 1, enabled: false, cookie: null });
});

m('slots keep their targets across changes and never shrink while running', () => {
  const a = buildHaproxyModel([shop(50, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'])], settings);
  const b = buildHaproxyModel([shop(50, ['10.0.0.5:80', '10.0.0.2:80'])], settings, a);
  const slots = b.gateways[0]!.routes[0]!.slots;
  assert.is(slots.length, 8);
  assert.equal(slots[1], { name: 's1', address: '10.0.0.2', port: 80, enabled: true, cookie: null });
  assert.equal(slots[4], { name: 's4', address: '10.0.0.5', port: 80, enabled: true, cookie: null });
  assert.equal(slots[0], { name: 's0', address: '10.0.0.1', port: 80, enabled: false, cookie: null }, 'an emptied slot keeps its address');
});

m('instance stickiness gives every slot a cookie; route stickiness adds the sticky map', () => {
  const model = buildHaproxyModel([shop(50, ['10.0.0.1:80'], 'sticky: instance\n')], settings);
  const g = model.gateways[0]!;
  assert.is(g.routes[0]!.instanceCookie, 'weir_shop_v1');
  assert.equal(g.routes[0]!.slots.map((s) => s.cookie), ['s0', 's1', 's2', 's3']);
  assert.equal(model.maps['/s/maps/shop.sticky.map'], [['v1', 'shop:v1'], ['v2', 'shop:v2']]);
});

m('conditions become named ACLs with a strength map', () => {
  const g = gw('name: c\nport: 81\nroutes:\n  a: {weight: 100, targets: []}\n  b:\n    weight: 0\n    condition: user-agent = Firefox or has cookie x\n    condition_strength: 40%\n    targets: []\n');
  const model = buildHaproxyModel([g], settings);
  const cr = model.gateways[0]!.conditionalRoutes[0]!;
  assert.is(cr.backend, 'c:b');
  assert.is(cr.clauses.length, 2);
  assert.equal(model.maps['/s/maps/c.strength.map'], [['b', '40']]);
  assert.ok(model.gateways[0]!.acls.some((a) => a.name === cr.strengthAcl && a.acl.includes('map_str_int(/s/maps/c.strength.map,0),sub(txn.weir_d1)')));
});

m('the structural key ignores weights, IP slot addresses and slot states, but not DNS names', () => {
  const a = buildHaproxyModel([shop(30, ['10.0.0.1:80'])], settings);
  const b = buildHaproxyModel([shop(70, ['10.0.0.7:81'])], settings, a);
  assert.is(gatewayStructuralKey(a.gateways[0]!), gatewayStructuralKey(b.gateways[0]!));
  const c = buildHaproxyModel([shop(70, ['backend.internal:81'])], settings, a);
  assert.is.not(gatewayStructuralKey(a.gateways[0]!), gatewayStructuralKey(c.gateways[0]!));
});

m.run();

const p = suite('planner');

p('no running config: reload', () => {
  const d = buildHaproxyModel([shop(50, ['10.0.0.1:80'])], settings);
  const r = plan(null, d);
  assert.is(r.reload, true);
  assert.equal(r.runtime, []);
});

p('a weight change is one map swap, no reload', () => {
  const a = buildHaproxyModel([shop(30, ['10.0.0.1:80'])], settings);
  const b = buildHaproxyModel([shop(80, ['10.0.0.1:80'])], settings, a);
  const r = plan(a, b);
  assert.is(r.reload, false);
  assert.is(r.runtime.length, 1);
  assert.is(r.runtime[0]!.kind, 'replace-map');
});

p('a replaced target re-points its slot in place (no window with zero servers)', () => {
  const a = buildHaproxyModel([shop(50, ['10.0.0.1:80'])], settings);
  const r = plan(a, buildHaproxyModel([shop(50, ['10.0.0.2:8080'])], settings, a));
  assert.is(r.reload, false);
  assert.equal(r.runtime, [
    { kind: 'set-server-addr', backend: 'shop:v1', server: 's0', address: '10.0.0.2', port: 8080 },
    { kind: 'set-server-health-up', backend: 'shop:v1', server: 's0' },
  ]);
});

p('an added target fills a free slot; a removed one goes to maintenance, after the adds', () => {
  const a = buildHaproxyModel([shop(50, ['10.0.0.1:80', '10.0.0.2:80'])], settings);
  const b = buildHaproxyModel([shop(50, ['10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80'])], settings, a);
  const r = plan(a, b);
  assert.is(r.reload, false);
  assert.equal(r.runtime, [
    { kind: 'set-server-addr', backend: 'shop:v1', server: 's0', address: '10.0.0.3', port: 80 },
    { kind: 'set-server-health-up', backend: 'shop:v1', server: 's0' },
    { kind: 'set-server-addr', backend: 'shop:v1', server: 's2', address: '10.0.0.4', port: 80 },
    { kind: 'set-server-state', backend: 'shop:v1', server: 's2', state: 'ready' },
    { kind: 'set-server-health-up', backend: 'shop:v1', server: 's2' },
  ]);
  const c = plan(b, buildHaproxyModel([shop(50, ['10.0.0.4:80'])], settings, b));
  assert.equal(c.runtime.map((op) => (op.kind === 'replace-map' ? op.path : 'server' in op ? `${op.kind} ${op.server}` : op.kind)), ['set-server-state s0', 'set-server-state s1']);
  assert.ok(c.runtime.every((op) => op.kind === 'set-server-state' && op.state === 'maint'));
});

p('more targets than slots: reload', () => {
  const a = buildHaproxyModel([shop(50, ['10.0.0.1:80'])], settings);
  const b = buildHaproxyModel([shop(50, ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'])], settings, a);
  const r = plan(a, b);
  assert.is(r.reload, true);
  assert.match(r.reloadReasons.join(), /shop changed structurally/);
});

p('a new route: weights are not pushed at runtime toward a backend HAProxy does not have yet', () => {
  const a = buildHaproxyModel([shop(50, ['10.0.0.1:80'])], settings);
  const g = gw('name: shop\nport: 8080\nroutes:\n  v1: {weight: 40, targets: [10.0.0.1:80]}\n  v2: {weight: 30, targets: [10.0.0.9:80]}\n  v3: {weight: 30, targets: [10.0.0.8:80]}\n');
  const r = plan(a, buildHaproxyModel([g], settings, a));
  assert.is(r.reload, true);
  assert.not.ok(r.runtime.some((op) => op.kind === 'replace-map' && op.path.endsWith('shop.weights.map')));
});

p('a gateway added or removed: reload, with the reason', () => {
  const a = buildHaproxyModel([shop(50, ['10.0.0.1:80'])], settings);
  const other = gw('name: other\nport: 9000\nroutes:\n  x: {targets: [10.0.0.3:1]}\n');
  assert.equal(plan(a, buildHaproxyModel([shop(50, ['10.0.0.1:80']), other], settings, a)).reloadReasons, ['gateway other added']);
  assert.equal(plan(a, buildHaproxyModel([], settings, a)).reloadReasons, ['gateway shop removed']);
});

p.run();
