// The Aliyun and Tencent adapters, through the vendors' SDKs, against raw
// loopback sockets that fail in the ways that decide transient (nothing
// written) against unknown (the request may have been acted on).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { AliyunAdapter } from './aliyun.ts';
import { observeExchange } from './exchange.ts';
import { TencentAdapter, tencentTarget } from './tencent.ts';
import type { SendOutcome, SupplierAccount } from './types.ts';

interface Listener {
  endpoint: string;
  connections: () => number;
  close: () => Promise<void>;
}

async function listen(onConnection: (socket: net.Socket) => void): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/`,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Answers each request, once its head has arrived, with a raw HTTP response. */
const answering = (raw: string) => (s: net.Socket) =>
  s.once('data', () => s.end(raw.replace(/\n/g, '\r\n')));

const SECRET = 'the-access-key-secret';
const KEY_ID = 'LTAI5tAccessKeyIdForTest';

type Vendor = 'aliyun' | 'tencent';

const account = (vendor: Vendor, endpoint: string, timeoutMs = 2000): SupplierAccount => ({
  id: vendor,
  vendor,
  endpoint,
  accessKeyId: KEY_ID,
  accessKeySecret: SECRET,
  signName: 'sign',
  ...(vendor === 'tencent' ? { smsSdkAppId: '1400006666' } : {}),
  timeoutMs,
});

const send = (vendor: Vendor, endpoint: string, timeoutMs?: number): Promise<SendOutcome> => {
  const a = account(vendor, endpoint, timeoutMs);
  const adapter = vendor === 'aliyun' ? new AliyunAdapter(a) : new TencentAdapter(a);
  return adapter.send({
    messageId: 'm-1',
    mobile: '+8613800138000',
    signature: 'sign',
    templateCode: vendor === 'aliyun' ? 'SMS_1' : '1',
    params: { code: '1234' },
    content: 'x',
  });
};

function assertNoCredentials(out: SendOutcome): void {
  const text = JSON.stringify(out);
  for (const leak of [SECRET, KEY_ID, 'Signature', 'AccessKeyId', '127.0.0.1', 'tencentcloudapi'])
    assert.ok(!text.includes(leak), `${leak} in ${text}`);
}

const json = (status: string, body: unknown): string => {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status}\nContent-Type: application/json\nContent-Length: ${text.length}\nConnection: close\n\n${text}`;
};

/** Each vendor's flow-control answer: Aliyun a 400 with a Code, Tencent a 200 with Response.Error. */
const flowControl: Record<Vendor, { raw: string; code: string; message: string }> = {
  aliyun: {
    raw: json('400 Bad Request', { Code: 'Throttling.User', Message: 'Request was denied.' }),
    code: 'Throttling.User',
    message: 'Request was denied.',
  },
  tencent: {
    raw: json('200 OK', {
      Response: {
        Error: { Code: 'RequestLimitExceeded', Message: 'Too many requests.' },
        RequestId: 'r-1',
      },
    }),
    code: 'RequestLimitExceeded',
    message: 'Too many requests.',
  },
};

for (const vendor of ['aliyun', 'tencent'] as const) {
  describe(`${vendor} adapter: was the request written?`, () => {
    const closers: Array<() => Promise<void>> = [];
    after(async () => {
      for (const c of closers) await c();
    });

    it('connection refused: transient', async () => {
      const srv = await listen(() => {});
      await srv.close();
      const out = await send(vendor, srv.endpoint);
      assert.equal(out.kind, 'transient', JSON.stringify(out));
      assert.equal(out.kind === 'transient' && out.code, 'ECONNREFUSED');
      assertNoCredentials(out);
    });

    it('DNS failure: transient', async () => {
      const out = await send(vendor, 'http://no-such-host.invalid/');
      assert.equal(out.kind, 'transient', JSON.stringify(out));
      assertNoCredentials(out);
    });

    it('the server reads the request and never answers: unknown at our deadline', async () => {
      const srv = await listen((s) => s.resume());
      closers.push(srv.close);
      const started = Date.now();
      const out = await send(vendor, srv.endpoint, 300);
      assert.equal(out.kind, 'unknown', JSON.stringify(out));
      assert.equal(out.kind === 'unknown' && out.code, 'TIMEOUT');
      // the server never answers: the deadline is what ends the call (300 ms; the margin
      // is for a loaded machine, far below any default of the SDKs)
      assert.ok(Date.now() - started < 5_000, 'the deadline is the account timeout');
      assert.equal(srv.connections(), 1, 'no retry');
      assertNoCredentials(out);
    });

    it('an answer that trickles in is cut at the whole-call deadline', async () => {
      const srv = await listen((s) =>
        s.once('data', () => {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{');
          const drip = setInterval(() => s.write(' '), 50);
          s.on('close', () => clearInterval(drip));
        }),
      );
      closers.push(srv.close);
      const started = Date.now();
      const out = await send(vendor, srv.endpoint, 400);
      assert.equal(out.kind, 'unknown', JSON.stringify(out));
      // the drip would last 50 s; the margin is for a loaded machine
      assert.ok(Date.now() - started < 5_000);
    });

    it('the server resets after reading the request: unknown, sent once', async () => {
      const srv = await listen((s) => s.once('data', () => s.resetAndDestroy()));
      closers.push(srv.close);
      const out = await send(vendor, srv.endpoint);
      assert.equal(out.kind, 'unknown', JSON.stringify(out));
      assert.equal(srv.connections(), 1, 'no retry');
      assertNoCredentials(out);
    });

    it('a 503 without a vendor body: transient', async () => {
      const srv = await listen(
        answering('HTTP/1.1 503 Service Unavailable\nContent-Length: 4\nConnection: close\n\nbusy'),
      );
      closers.push(srv.close);
      const out = await send(vendor, srv.endpoint);
      assert.equal(out.kind, 'transient', JSON.stringify(out));
      assert.equal(out.kind === 'transient' && out.code, 'HTTP_503');
    });

    it('a 500 without a vendor body: unknown', async () => {
      const srv = await listen(
        answering(
          'HTTP/1.1 500 Internal Server Error\nContent-Length: 4\nConnection: close\n\noops',
        ),
      );
      closers.push(srv.close);
      assert.equal((await send(vendor, srv.endpoint)).kind, 'unknown');
    });

    it('a 200 that is not JSON: unknown', async () => {
      const srv = await listen(
        answering('HTTP/1.1 200 OK\nContent-Length: 6\nConnection: close\n\n<html>'),
      );
      closers.push(srv.close);
      assert.equal((await send(vendor, srv.endpoint)).kind, 'unknown');
    });

    it('flow control is transient and not retried by the SDK', async () => {
      const srv = await listen(answering(flowControl[vendor].raw));
      closers.push(srv.close);
      const out = await send(vendor, srv.endpoint);
      assert.deepEqual(
        { ...out, latencyMs: 0 },
        {
          kind: 'transient',
          code: flowControl[vendor].code,
          message: flowControl[vendor].message,
          latencyMs: 0,
        },
      );
      assert.equal(srv.connections(), 1);
    });
  });
}

describe('tencent SDK target', () => {
  it('addresses sms.tencentcloudapi.com on the endpoint port and connects to the endpoint host', () => {
    assert.deepEqual(tencentTarget('http://127.0.0.1:8090/tencent/'), {
      protocol: 'http://',
      endpoint: 'sms.tencentcloudapi.com:8090/tencent',
      connectTo: '127.0.0.1',
    });
    assert.deepEqual(tencentTarget('https://sms.tencentcloudapi.com/'), {
      protocol: 'https://',
      endpoint: 'sms.tencentcloudapi.com',
      connectTo: undefined,
    });
    assert.deepEqual(tencentTarget('http://[::1]:8090/').connectTo, '::1');
  });
});

describe('observeExchange', () => {
  it('reports a call that fails before any request as not sent', async () => {
    const r = await observeExchange(1000, () => Promise.reject(new Error('bad input')));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.sent, false);
    assert.equal(!r.ok && r.timedOut, false);
  });

  it('a call that outlives the deadline is reported as timed out', async () => {
    const r = await observeExchange(20, () => new Promise(() => {}));
    assert.equal(!r.ok && r.timedOut, true);
  });
});
