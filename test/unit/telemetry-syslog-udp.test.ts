import { createSocket } from 'node:dgram';
import { test, assert } from '../harness/uvu.js';
import { waitFor } from '../harness/tmp.js';
import { startSyslogUdp, SyslogReceiverError } from '../../agent/telemetry/syslog-udp.js';

const send = (port: number, msgs: string[]): Promise<void> =>
  new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    let left = msgs.length;
    for (const m of msgs)
      s.send(m, port, '127.0.0.1', (err) => {
        if (err) reject(err);
        if (--left === 0) s.close(() => resolve());
      });
  });

test('one line per datagram, trailing newline/NUL stripped, refusals counted as dropped', async () => {
  const got: string[] = [];
  const rx = await startSyslogUdp({ port: 0, sink: (l) => (got.push(l), !l.includes('refuse')) });
  try {
    await send(rx.address().port, ['<134>1 a\n', '<134>b\r\n\0', 'refuse me', 'é'.repeat(3000)]);
    await waitFor(() => got.length === 4, { what: '4 datagrams' });
    assert.equal(got.slice(0, 3), ['<134>1 a', '<134>b', 'refuse me']);
    assert.is(got[3], 'é'.repeat(3000));
    assert.equal(rx.stats(), { datagrams: 4, bytes: 9 + 9 + 9 + 6000, dropped: 1 });
  } finally {
    await rx.close();
  }
});

test('a throwing sink does not kill the receiver', async () => {
  let n = 0;
  const rx = await startSyslogUdp({
    port: 0,
    sink: () => {
      n += 1;
      if (n === 1) throw new Error('boom');
    },
  });
  try {
    await send(rx.address().port, ['x']);
    await waitFor(() => n === 1);
    await send(rx.address().port, ['y']);
    await waitFor(() => n === 2);
    assert.is(rx.stats().dropped, 1);
  } finally {
    await rx.close();
  }
});

test('refuses non-loopback addresses unless allowed; bind errors are typed', async () => {
  await startSyslogUdp({ host: '0.0.0.0', port: 0, sink: () => true }).then(
    () => assert.unreachable('bound 0.0.0.0'),
    (e: unknown) => assert.ok(e instanceof SyslogReceiverError && /non-loopback/.test(e.message)),
  );
  const a = await startSyslogUdp({ port: 0, sink: () => true });
  try {
    await startSyslogUdp({ port: a.address().port, sink: () => true }).then(
      () => assert.unreachable('double bind'),
      (e: unknown) => assert.ok(e instanceof SyslogReceiverError && e.message.includes(String(a.address().port))),
    );
  } finally {
    await a.close();
  }
});

test.run();
