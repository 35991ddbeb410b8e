import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { httpRequest, TransportError } from './httpTransport.ts';

async function listen(
  onConnection: (socket: net.Socket) => void,
): Promise<{ url: URL; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TransportError);
    return err;
  }
  assert.fail('expected a TransportError');
}

const req = (url: URL, timeoutMs = 2000) => ({
  url,
  method: 'POST' as const,
  headers: {},
  body: 'x=1',
  timeoutMs,
});

describe('httpRequest: was the request written?', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of closers) await c();
  });

  it('connection refused: not sent', async () => {
    const srv = await listen(() => {});
    await srv.close();
    const err = await failure(httpRequest(req(srv.url)));
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.sent, false);
  });

  it('DNS failure: not sent', async () => {
    const err = await failure(httpRequest(req(new URL('http://no-such-host.invalid/'))));
    assert.equal(err.sent, false);
  });

  it('server reads the request and never answers: timeout, sent', async () => {
    const srv = await listen((s) => s.resume());
    closers.push(srv.close);
    const err = await failure(httpRequest(req(srv.url, 200)));
    assert.equal(err.code, 'TIMEOUT');
    assert.equal(err.sent, true);
  });

  it('server resets after reading the request: sent', async () => {
    const srv = await listen((s) => s.once('data', () => s.resetAndDestroy()));
    closers.push(srv.close);
    const err = await failure(httpRequest(req(srv.url)));
    assert.equal(err.sent, true);
  });

  it('a complete answer is returned whatever its status', async () => {
    const srv = await listen((s) =>
      s.once('data', () =>
        s.end(
          'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno',
        ),
      ),
    );
    closers.push(srv.close);
    assert.deepEqual(await httpRequest(req(srv.url)), { status: 503, body: 'no' });
  });
});
