import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { CliConnection } from '../../agent/haproxy/cli-connection.js';
import { RuntimeSocketError } from '../../agent/haproxy/errors.js';
import { RuntimeClient } from '../../agent/haproxy/runtime-client.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

// A fake CLI socket that speaks prompt mode like HAProxy 2.6 (framing captured from the real binary).
const t = suite('haproxy CLI framing');

interface Fake {
  path: string;
  connections: number;
  sockets: Socket[];
  close: () => Promise<void>;
}

async function fakeCli(opts: { prompt: string; firstPrompt: string; answer: (cmd: string) => string; byteByByte?: boolean }): Promise<Fake> {
  const dir = await tempDir('weir-cli-');
  const path = join(dir.path, 'fake.sock');
  const fake: Fake = { path, connections: 0, sockets: [], close: async () => undefined };
  const server: Server = createServer((sock) => {
    fake.connections += 1;
    fake.sockets.push(sock);
    sock.setEncoding('utf8');
    let buf = '';
    let payload: string[] | null = null;
    let payloadCmd = '';
    const write = (s: string): void => {
      if (!opts.byteByByte) return void sock.write(s);
      for (const ch of s) sock.write(ch);
    };
    sock.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (payload) {
          write('+ ');
          if (line === '') {
            write(`${opts.answer(`${payloadCmd} [${payload.join('|')}]`)}${opts.prompt}`);
            payload = null;
          } else payload.push(line);
          continue;
        }
        if (line === 'prompt') write(opts.firstPrompt);
        else if (line.endsWith(' <<')) {
          payload = [];
          payloadCmd = line.slice(0, -3);
        } else write(`${opts.answer(line)}${opts.prompt}`);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  fake.close = async () => {
    for (const s of fake.sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await dir.remove();
  };
  return fake;
}

const adminAnswer = (cmd: string): string => {
  if (cmd.startsWith('set ')) return '\n';
  if (cmd === 'bad') return 'Unknown command, but maybe one of the following ones is a better match:\n  quit : disconnect\n\n';
  return `echo:${cmd}\n\n`;
};

t('stats-socket prompt framing, pipelining, byte-by-byte delivery, payload echo', async () => {
  const fake = await fakeCli({ prompt: '> ', firstPrompt: '\n> ', answer: adminAnswer, byteByByte: true });
  const c = new RuntimeClient({ socket: fake.path });
  try {
    const r = await c.batch(['set server a/b weight 1', 'show x', 'bad', { command: 'add map @1 m', payload: ['k1 v1', 'k2 v2'] }, 'show y']);
    assert.equal(
      r.map((x) => [x.ok, x.reply]),
      [
        [true, ''],
        [true, 'echo:show x'],
        [false, 'Unknown command, but maybe one of the following ones is a better match:\n  quit : disconnect'],
        [false, 'echo:add map @1 m [k1 v1|k2 v2]'],
        [true, 'echo:show y'],
      ],
    );
    assert.is(fake.connections, 1);
  } finally {
    c.close();
    await fake.close();
  }
});

t('master prompt, including master[ReloadFailed]>', async () => {
  let failed = false;
  // The prompt is part of the answer so it can change after a "failed reload".
  const fake2 = await fakeCli({
    prompt: '',
    firstPrompt: 'master> ',
    answer: (cmd) => `out:${cmd}\n\n${failed ? 'master[ReloadFailed]> ' : 'master> '}`,
  });
  const c = new CliConnection({ address: fake2.path });
  try {
    assert.equal(await c.send([{ command: 'show proc' }]), ['out:show proc\n']);
    assert.is(c.lastPrompt, 'master> ');
    failed = true;
    assert.equal(await c.send([{ command: 'a' }, { command: 'b' }]), ['out:a\n', 'out:b\n']);
    assert.is(c.lastPrompt, 'master[ReloadFailed]> ');
  } finally {
    c.close();
    await fake2.close();
  }
});

t('reconnects when the server closed the idle session; times out on silence', async () => {
  let silent = false;
  const fake = await fakeCli({ prompt: '> ', firstPrompt: '\n> ', answer: (cmd) => (silent ? '\u0000' : `ok ${cmd}\n`) });
  const c = new CliConnection({ address: fake.path, replyTimeoutMs: 300 });
  try {
    // The newline before "> " belongs to the prompt.
    assert.equal(await c.send([{ command: 'one' }]), ['ok one']);
    for (const s of fake.sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await c.send([{ command: 'two' }]), ['ok two']);
    assert.is(fake.connections, 2);
    silent = true;
    try {
      await c.send([{ command: 'three' }]);
      assert.unreachable('should time out');
    } catch (err) {
      assert.instance(err, RuntimeSocketError);
      assert.match((err as Error).message, /no reply within 300 ms/);
      assert.match((err as Error).message, new RegExp(fake.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
  } finally {
    c.close();
    await fake.close();
  }
});

t('rejects payload lines that would end the payload early', async () => {
  const c = new CliConnection({ address: '/nonexistent.sock' });
  await c.send([{ command: 'add map @1 m', payload: ['a 1', ''] }]).then(
    () => assert.unreachable('should throw'),
    (err: unknown) => assert.instance(err, TypeError),
  );
});

t.run();
