import { test, assert } from '../harness/uvu.js';
import { checkNamespace, formatModelError, type Gateway } from '../../model/index.js';

function gw(name: string, port: number, virtualHosts: string[] = []): Gateway {
  return { name, port, mode: 'http', sticky: null, virtualHosts, balance: 'roundrobin', metadata: {}, routes: [] };
}
const c = (name: string, port: number, vhosts: string[] = [], source = `${name}.yaml`) => ({ source, gateway: gw(name, port, vhosts) });
const names = (list: Array<{ gateway: Gateway }>) => list.map((x) => x.gateway.name);
const messages = (r: ReturnType<typeof checkNamespace>) => r.rejected.flatMap((x) => x.errors.map(formatModelError));

test('no conflicts: all accepted in input order', () => {
  const r = checkNamespace([c('b', 2), c('a', 1, ['x.com'])]);
  assert.equal(names(r.accepted), ['b', 'a']);
  assert.equal(r.rejected, []);
});
test('duplicate port: the name sorting first wins, loser names the winner', () => {
  const r = checkNamespace([c('b', 8080), c('a', 8080)]);
  assert.equal(names(r.accepted), ['a']);
  assert.equal(messages(r), ['b.yaml: port: port 8080 is already used by gateway "a"']);
});
test('incumbent keeps its port', () => {
  const r = checkNamespace([c('b', 8080), c('a', 8080)], { incumbents: new Set(['b']) });
  assert.equal(names(r.accepted), ['b']);
  assert.equal(messages(r), ['a.yaml: port: port 8080 is already used by gateway "b"']);
});
test('duplicate virtual hosts', () => {
  const r = checkNamespace([c('a', 1, ['x.com', 'y.com']), c('b', 2, ['y.com', 'z.com'])]);
  assert.equal(names(r.accepted), ['a']);
  assert.equal(messages(r), ['b.yaml: virtual_hosts: virtual host "y.com" is already used by gateway "a"']);
});
test('duplicate names from two files', () => {
  const r = checkNamespace([c('a', 1, [], 'a.yaml'), c('a', 2, [], 'a.json')]);
  assert.equal(r.accepted.map((x) => x.source), ['a.json']);
  assert.equal(messages(r), ['a.yaml: name: gateway "a" is already defined in a.json']);
});
test('reserved ports', () => {
  const r = checkNamespace([c('a', 80), c('b', 81)], { reservedPorts: new Map([[80, 'the virtual-host frontend']]) });
  assert.equal(names(r.accepted), ['b']);
  assert.equal(messages(r), ['a.yaml: port: port 80 is reserved for the virtual-host frontend']);
});
test('a rejected gateway does not block others', () => {
  // b loses its port to a, so its vhost must stay free for c.
  const r = checkNamespace([c('a', 1), c('b', 1, ['v.com']), c('c', 3, ['v.com'])]);
  assert.equal(names(r.accepted), ['a', 'c']);
  assert.equal(messages(r), ['b.yaml: port: port 1 is already used by gateway "a"']);
});
test('several conflicts reported together', () => {
  const r = checkNamespace([c('a', 1, ['v.com']), c('b', 1, ['v.com'])], { reservedPorts: new Map([[1, 'the stats frontend']]) });
  assert.equal(r.accepted, []);
  assert.equal(messages(r), [
    'a.yaml: port: port 1 is reserved for the stats frontend',
    'b.yaml: port: port 1 is reserved for the stats frontend',
  ]);
  const r2 = checkNamespace([c('b', 1, ['v.com']), c('a', 1, ['v.com'])]);
  assert.equal(messages(r2), ['b.yaml: port: port 1 is already used by gateway "a"', 'b.yaml: virtual_hosts: virtual host "v.com" is already used by gateway "a"']);
});
test.run();
