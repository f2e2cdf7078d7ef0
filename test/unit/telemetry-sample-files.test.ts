// The log sampling pattern files: file names derived from backend names (injective, reversible, safe on a
// config line), their content, and the directory's lifecycle (created before a check, removed after).
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { tempDir } from '../harness/tmp.js';
import { backendOfSampleAclFile, KEEP_ALL, parseSampleAcl, referencedSampleBackends, sampleAclFileName, sampleAclPath, sampleAclText, SampleFileNameError } from '../../agent/telemetry/sample-acl.js';
import { SampleFiles } from '../../agent/telemetry/sample-files.js';
import { createServer, type Server } from 'node:net';
import { Registry } from 'prom-client';
import { LogSampler, newRouteThreshold } from '../../agent/telemetry/log-sampler.js';
import type { TapRow } from '../../agent/telemetry/counter-tap.js';
import { C, COUNTER_FIELDS, GAUGE_FIELDS } from '../../agent/telemetry/stat-counters.js';
import { seriesValue } from '../harness/prom-text.js';
import { silentLogger } from '../../runtime/log.js';
import { waitFor } from '../harness/tmp.js';
import type { LogSampling } from '../../agent/telemetry/telemetry-settings.js';

const t = suite('log sampling files');

const NAMES = ['shop:blue', 'shop:Blue', 'shop:_blue', 'shop:b_lue', 'shop:b__lue', 'shop:v1.2', 'shop:V1.2', 'db:10.0.0.1_8080', 'a-b:c-d', '.hidden', 'x:é', 'x:+3a', 'x: y', 'x:}', 'x:#', 'a:B', 'a:_b'];

t('file names: lower-case, config-safe characters only; every name decodes back; no two backends share one', () => {
  const files = new Map<string, string>();
  for (const b of NAMES) {
    const f = sampleAclFileName(b);
    assert.match(f, /^[a-z0-9+_-][a-z0-9.+_-]*\.acl$/, `${b} → ${f}`);
    assert.is(backendOfSampleAclFile(f), b, `${b} → ${f} → back`);
    assert.not.ok(files.has(f), `${b} and ${files.get(f)} share ${f}`);
    files.set(f, b);
  }
  assert.is(sampleAclFileName('shop:Blue'), 'shop+3a_blue.acl');
  // Names the encoder never writes are not taken for a route's file.
  for (const f of ['shop+3A_blue.acl', '+61.acl', 'shop_A.acl', 'shop_.acl', 'x.map', '.acl', '.x.acl', 'a b.acl', '.shop.acl.123.456.tmp']) assert.is(backendOfSampleAclFile(f), null, f);
});

t('file names: the longest valid backend (63-character gateway, 63-character route of upper case and "_") fits a file name', () => {
  const gw = 'g'.repeat(63);
  for (const route of ['A'.repeat(63), `a${'_'.repeat(62)}`]) {
    const f = sampleAclFileName(`${gw}:${route}`);
    assert.ok(f.length < 200, `${f.length}`);
  }
  assert.throws(() => sampleAclFileName(''), (e: unknown) => e instanceof SampleFileNameError);
  assert.throws(() => sampleAclFileName('é'.repeat(100)), (e: unknown) => e instanceof SampleFileNameError && /at most/.test(e.message));
});

t('content: one range "K:" per file; keep-all is 1000000: (never matched by rand(1000000))', () => {
  assert.match(sampleAclText(100_000), /^#.*\n100000:\n$/);
  assert.is(parseSampleAcl(sampleAclText(7)), 7);
  assert.is(parseSampleAcl(sampleAclText(KEEP_ALL)), KEEP_ALL);
  assert.is(parseSampleAcl(''), null);
  assert.is(parseSampleAcl('# only a comment\n'), null);
  assert.is(parseSampleAcl('  250000:  \n'), 250_000);
  for (const bad of ['0:', '1000001:', ':5', '5', '1:2', 'x:']) assert.is(parseSampleAcl(bad), null, bad);
  assert.is(newRouteThreshold(null), KEEP_ALL);
  assert.is(newRouteThreshold({ mode: 'auto', targetPerRoute: 100, maxLinesPerSecond: 2000 }), KEEP_ALL);
  assert.is(newRouteThreshold({ mode: 'fixed', oneIn: 10 }), 100_000);
});

t('referenced backends: the files under the directory a config names, nothing else', () => {
  const dir = '/s/log-sample';
  const config = [
    'backend shop:blue',
    `  http-request set-log-level silent if { rand(1000000) -m int -f ${sampleAclPath(dir, 'shop:blue')} }`,
    'backend db:Main_1',
    `  tcp-request content set-log-level silent if { rand(1000000) -m int -f ${sampleAclPath(dir, 'db:Main_1')} }`,
    '  acl x src -f /elsewhere/shop+3ared.acl',
    `  acl y src -f ${dir}/not-ours.txt`,
  ].join('\n');
  assert.equal([...referencedSampleBackends(config, dir)].sort(), ['db:Main_1', 'shop:blue']);
  assert.is(referencedSampleBackends('backend a\n', dir).size, 0);
  // The directory is matched literally (regular-expression characters in a state directory path).
  const odd = '/s/a+b.c/log-sample';
  assert.equal([...referencedSampleBackends(ruleFor(odd, ['shop:x']) + ruleFor('/s/aab.c/log-sample', ['shop:y']), odd)], ['shop:x']);
});

const ruleFor = (dir: string, backends: string[]): string => backends.map((b) => `backend ${b}\n  http-request set-log-level silent if { rand(1000000) -m int -f ${sampleAclPath(dir, b)} }\n`).join('');

t('directory: ensure creates the missing files only, prune removes the ones the installed config no longer names', async () => {
  const tmp = await tempDir();
  try {
    const dir = join(tmp.path, 'log-sample');
    const legacy = join(tmp.path, 'telemetry-log-sample.map');
    writeFileSync(legacy, 'shop:blue 5000\n');
    mkdirSync(dir);
    // Left by the previous agent: a threshold HAProxy has, an unreadable file, a crashed write's temp file.
    writeFileSync(sampleAclPath(dir, 'shop:blue'), sampleAclText(5000));
    writeFileSync(sampleAclPath(dir, 'shop:empty'), '');
    writeFileSync(join(dir, `.${sampleAclFileName('shop:blue')}.123.456.tmp`), '9:');
    writeFileSync(join(dir, 'README'), 'not ours');
    const files = new SampleFiles({ dir, newFileThreshold: 100_000, legacyMapPath: legacy });
    const seen = await files.start();
    assert.equal([...seen].sort(), [['shop:blue', 5000], ['shop:empty', KEEP_ALL]]);
    assert.not.ok(readdirSync(dir).some((n) => n.endsWith('.tmp')), 'temp file removed');

    const v1 = ruleFor(dir, ['shop:blue', 'shop:empty', 'shop:Green']) + `  use_backend %[rand(100),map_int(${legacy},x)]\n`;
    await files.ensure(v1);
    assert.is(readFileSync(sampleAclPath(dir, 'shop:blue'), 'utf8'), sampleAclText(5000), 'an existing file is left as it is');
    assert.is(parseSampleAcl(readFileSync(sampleAclPath(dir, 'shop:Green'), 'utf8')), 100_000, 'a new route starts at the new-file threshold');
    await files.prune(v1);
    assert.ok(existsSync(legacy), 'the old map stays while the installed config names it');

    // A write reaches only routes that have a file.
    assert.equal(await files.write([['shop:Green', 2000], ['shop:gone', 3000]]), [['shop:Green', 2000]]);
    assert.not.ok(existsSync(sampleAclPath(dir, 'shop:gone')));

    const v2 = ruleFor(dir, ['shop:Green']);
    await files.ensure(v2);
    assert.ok(existsSync(sampleAclPath(dir, 'shop:blue')), 'ensure never removes: the running config still names it');
    assert.equal((await files.prune(v2)).sort(), ['shop:blue', 'shop:empty']);
    assert.equal(readdirSync(dir).sort(), [sampleAclFileName('shop:Green'), 'README'].sort());
    assert.is(parseSampleAcl(readFileSync(sampleAclPath(dir, 'shop:Green'), 'utf8')), 2000);
    assert.not.ok(existsSync(legacy), 'the old map goes once no installed config names it');

    // A file written by someone else (or an agent that never read the directory) is adopted, not overwritten.
    const other = new SampleFiles({ dir, newFileThreshold: KEEP_ALL });
    await other.ensure(v2);
    assert.is(other.thresholds().get('shop:Green'), 2000);
  } finally {
    await tmp.remove();
  }
});

t('directory: a write that cannot happen fails with the path and what to check', async () => {
  const tmp = await tempDir();
  try {
    writeFileSync(join(tmp.path, 'file'), 'x');
    const dir = join(tmp.path, 'file', 'log-sample');
    const files = new SampleFiles({ dir, newFileThreshold: KEEP_ALL });
    let message = '';
    await files.ensure(ruleFor(dir, ['a:b'])).catch((e: Error) => (message = e.message));
    assert.match(message, /log sampling: cannot write .*a\+3ab\.acl.*WEIR_STATE_DIR/);
  } finally {
    await tmp.remove();
  }
});

/** A prompt-mode CLI socket answering like HAProxy 2.6 does to the ACL commands; records what it got. */
async function fakeCli(path: string, known: (file: string) => boolean): Promise<{ server: Server; commands: string[] }> {
  const commands: string[] = [];
  let version = 0;
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'prompt') {
          sock.write('\n> ');
          continue;
        }
        commands.push(line);
        const file = line.split(' ').at(-1)!;
        const m = /^(prepare|add|commit) acl (?:@\d+ )?(\S+)/.exec(line);
        const target = m?.[1] === 'add' ? line.split(' ')[3]! : file;
        if (!known(target)) sock.write('Unknown ACL identifier. Please use #<id> or <file>.\n\n> ');
        else if (m?.[1] === 'prepare') sock.write(`New version created: ${++version}\n\n> `);
        else sock.write('\n> ');
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { server, commands };
}

const row = (sessions: number): TapRow => {
  const counters = new Float64Array(COUNTER_FIELDS.length);
  counters[C.stot] = sessions;
  return { mode: 'http', counters, gauges: new Float64Array(GAUGE_FIELDS.length) };
};

async function samplerFixture(dir: string, sampling: Exclude<LogSampling, { mode: 'all' }>, known: Map<string, Set<string>>) {
  const registry = new Registry();
  const files = new SampleFiles({ dir, newFileThreshold: newRouteThreshold(sampling) });
  const sock = join(dir, '..', 'admin.sock');
  const cli = await fakeCli(sock, (file) => existsSync(file) && !file.includes('late'));
  const sampler = new LogSampler({ sampling, files, adminSocket: sock, registry, logger: silentLogger(), known: () => known });
  await files.start();
  sampler.start();
  const keep = async (route: string): Promise<number> => seriesValue(await registry.metrics(), 'weir_log_sample_keep_ratio', { gateway: 'shop', route });
  return { files, sampler, cli, keep, close: () => new Promise<void>((r) => cli.server.close(() => r())) };
}

t('sampler, auto: adopts the thresholds in the files; a change goes into the file, then prepare/add/commit on the worker', async () => {
  const tmp = await tempDir();
  const dir = join(tmp.path, 'log-sample');
  mkdirSync(dir);
  writeFileSync(sampleAclPath(dir, 'shop:blue'), sampleAclText(100_000));
  writeFileSync(sampleAclPath(dir, 'shop:green'), sampleAclText(KEEP_ALL));
  const known = new Map([['shop', new Set(['blue', 'green'])]]);
  const fx = await samplerFixture(dir, { mode: 'auto', targetPerRoute: 100, maxLinesPerSecond: 2000 }, known);
  try {
    assert.is(await fx.keep('blue'), 0.1, 'what the adopted HAProxy has, before any rate is known');
    assert.is(await fx.keep('green'), 1);
    // blue quiet (keep all), green at 1000 requests/s (keep 1 in 10 for 100 lines/s).
    fx.sampler.observe(new Map([['shop:blue', row(0)], ['shop:green', row(0)]]), 0);
    fx.sampler.observe(new Map([['shop:blue', row(0)], ['shop:green', row(1000)]]), 1000);
    await waitFor(() => fx.cli.commands.length >= 6, { what: 'runtime commands' });
    const b = sampleAclPath(dir, 'shop:blue');
    const g = sampleAclPath(dir, 'shop:green');
    assert.equal(fx.cli.commands, [`prepare acl ${b}`, `add acl @1 ${b} 1000000:`, `commit acl @1 ${b}`, `prepare acl ${g}`, `add acl @2 ${g} 100000:`, `commit acl @2 ${g}`]);
    assert.is(parseSampleAcl(readFileSync(b, 'utf8')), KEEP_ALL);
    assert.is(parseSampleAcl(readFileSync(g, 'utf8')), 100_000);
    assert.is(await fx.keep('blue'), 1);
    assert.is(await fx.keep('green'), 0.1);
    // 1100 requests/s: a move under the hysteresis factor is not pushed.
    fx.sampler.observe(new Map([['shop:blue', row(0)], ['shop:green', row(2100)]]), 2000);
    await new Promise((r) => setTimeout(r, 100));
    assert.is(fx.cli.commands.length, 6);
  } finally {
    await fx.close();
    await tmp.remove();
  }
});

t('sampler, fixed: a route new to the worker gets its file first (the reload loads it); routes with a file follow a changed 1/N exactly', async () => {
  const tmp = await tempDir();
  const dir = join(tmp.path, 'log-sample');
  mkdirSync(dir);
  writeFileSync(sampleAclPath(dir, 'shop:blue'), sampleAclText(90_000));
  const known = new Map([['shop', new Set(['blue'])]]);
  const fx = await samplerFixture(dir, { mode: 'fixed', oneIn: 10 }, known);
  try {
    // "late": a route whose file exists (ensure ran before the check) but whose reload has not happened.
    await fx.sampler.ensureFiles(ruleFor(dir, ['shop:blue', 'shop:late']));
    assert.is(parseSampleAcl(readFileSync(sampleAclPath(dir, 'shop:late'), 'utf8')), 100_000);
    known.set('shop', new Set(['blue', 'late']));
    fx.sampler.applied();
    await waitFor(() => fx.cli.commands.length >= 3, { what: 'runtime commands' });
    const b = sampleAclPath(dir, 'shop:blue');
    // 90000 → 100000 is under the auto hysteresis, but 1/N is exact.
    assert.equal(fx.cli.commands, [`prepare acl ${b}`, `add acl @1 ${b} 100000:`, `commit acl @1 ${b}`]);
    assert.is(await fx.keep('late'), 0.1, 'what the new worker will load');
    await fx.sampler.pruneFiles(ruleFor(dir, ['shop:blue']));
    assert.not.ok(existsSync(sampleAclPath(dir, 'shop:late')));
  } finally {
    await fx.close();
    await tmp.remove();
  }
});

t.run();
