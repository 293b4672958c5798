// Local TCP sockets on an address, read from this namespace's /proc/net/tcp and tcp6: real
// listeners and a real connection on loopback must be found with their ports and states.
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { localSocketsOn, parseProcNetTcp, tcpStateName } from '../../src/host/local-sockets.js';

function listen(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.on('error', () => undefined));
    s.once('error', reject);
    s.listen(0, host, () => resolve(s));
  });
}

const portOf = (s: Server) => (s.address() as { port: number }).port;

describe('local sockets (/proc/net/tcp, tcp6)', () => {
  let v4: Server;
  let v6: Server;
  let client: Socket;
  before(async () => {
    v4 = await listen('127.0.0.1');
    v6 = await listen('::1');
    client = createConnection(portOf(v4), '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', () => r()));
  });
  after(() => {
    client.destroy();
    v4.close();
    v6.close();
  });

  test('a listener and both ends of a connection on 127.0.0.1, with their states', () => {
    const found = localSocketsOn(new Set(['127.0.0.1']));
    const p = portOf(v4);
    assert.ok(
      found.some((s) => s.port === p && tcpStateName(s.state) === 'LISTEN'),
      JSON.stringify(found),
    );
    assert.ok(
      found.some((s) => s.port === p && s.state === 1),
      'the accepted end: ESTABLISHED',
    );
    assert.ok(
      found.some((s) => s.port === client.localPort && s.state === 1),
      'the client end',
    );
    assert.ok(found.every((s) => s.addr === '127.0.0.1'));
  });

  test('an IPv6 listener on ::1; nothing for an address no socket uses', () => {
    const found = localSocketsOn(new Set(['::1']));
    assert.ok(
      found.some((s) => s.port === portOf(v6) && tcpStateName(s.state) === 'LISTEN'),
      JSON.stringify(found),
    );
    assert.deepEqual(localSocketsOn(new Set(['203.0.113.99'])), []);
  });

  test('parses the kernel format (hex words in host order)', () => {
    const v4text =
      '  sl  local_address rem_address   st\n   0: 0A7100CB:0050 020064C6:9C40 06 00000000:00000000\n';
    assert.deepEqual(parseProcNetTcp(v4text, 4), [{ addr: '203.0.113.10', port: 80, state: 6 }]);
    const v6text =
      '  sl  local_address                         remote_address                        st\n' +
      '   0: B80D0120000000000000000010000000:0050 00000000000000000000000000000000:0000 0A\n';
    assert.deepEqual(parseProcNetTcp(v6text, 6), [{ addr: '2001:db8::10', port: 80, state: 10 }]);
  });
});
