import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  checkCallbackTarget,
  isPublicAddress,
  messageCallbackSecret,
  newCallbackSecret,
  openCallbackSecret,
  postCallback,
  sealCallbackSecret,
  signatureHeader,
  verifySignature,
} from './index.ts';

describe('callback signatures', () => {
  it('verify over t and the raw body, and refuse another body, secret or an old t', () => {
    const secret = newCallbackSecret();
    const body = '{"id":"e1","type":"message.delivered"}';
    const now = Date.UTC(2026, 11, 2, 1, 0, 0);
    const header = signatureHeader(secret, body, now);
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.ok(verifySignature(header, body, secret, { nowMs: now }));
    assert.ok(!verifySignature(header, body + ' ', secret, { nowMs: now }));
    assert.ok(!verifySignature(header, body, newCallbackSecret(), { nowMs: now }));
    assert.ok(!verifySignature(header, body, secret, { nowMs: now + 301_000 }), 'a replay');
    assert.ok(!verifySignature(undefined, body, secret));
    assert.ok(!verifySignature('t=x,v1=00', body, secret));
  });

  it('seal secrets to their endpoint, and derive one per tenant for statusCallback', () => {
    const key = Buffer.alloc(32, 7);
    const sealed = sealCallbackSecret(key, 'cb1', 'whsec_abc');
    assert.equal(openCallbackSecret(key, 'cb1', sealed), 'whsec_abc');
    assert.throws(() => openCallbackSecret(key, 'cb2', sealed));
    assert.equal(messageCallbackSecret(key, 't1'), messageCallbackSecret(key, 't1'));
    assert.notEqual(messageCallbackSecret(key, 't1'), messageCallbackSecret(key, 't2'));
  });
});

describe('where callbacks may go (SSRF)', () => {
  it('tells public addresses from loopback, private, link-local and reserved ones', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      'not-an-ip',
    ])
      assert.equal(isPublicAddress(a), false, a);
    for (const a of ['8.8.8.8', '1.1.1.1', '203.0.114.1', '2606:4700::1111', '::ffff:8.8.8.8'])
      assert.equal(isPublicAddress(a), true, a);
  });

  it('refuses a name that resolves to loopback unless private addresses are allowed', async () => {
    await assert.rejects(
      checkCallbackTarget('http://localhost:9/x', { allowPrivate: false }),
      (err: Error & { reason?: string }) => err.reason === 'PRIVATE_ADDRESS',
    );
    await assert.rejects(
      checkCallbackTarget('http://[::1]:9/x', { allowPrivate: false }),
      (err: Error & { reason?: string }) => err.reason === 'PRIVATE_ADDRESS',
    );
    assert.ok((await checkCallbackTarget('http://localhost:9/x', { allowPrivate: true })).length);
    await assert.rejects(
      checkCallbackTarget('http://no-such-host.invalid/', { allowPrivate: true }),
      (err: Error & { reason?: string }) => err.reason === 'UNRESOLVABLE',
    );
  });

  it('at delivery, connects only to the address it checked, and gives up after the timeout', async () => {
    let calls = 0;
    let hold = false;
    const server = createServer((req, res) => {
      calls++;
      if (hold) return; // never answers
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const refused = await postCallback(
        `http://localhost:${port}/`,
        '{}',
        {},
        {
          timeoutMs: 1_000,
          allowPrivate: false,
        },
      );
      assert.equal(refused.status, undefined);
      assert.match(String(refused.error), /not a public address/);
      const literal = await postCallback(
        `http://127.0.0.1:${port}/`,
        '{}',
        {},
        {
          timeoutMs: 1_000,
          allowPrivate: false,
        },
      );
      assert.match(String(literal.error), /not a public address/);
      assert.equal(calls, 0, 'nothing reached the private receiver');
      const ok = await postCallback(
        `http://localhost:${port}/`,
        '{}',
        {},
        {
          timeoutMs: 1_000,
          allowPrivate: true,
        },
      );
      assert.deepEqual([ok.status, ok.error], [204, undefined]);
      hold = true;
      const slow = await postCallback(
        `http://127.0.0.1:${port}/`,
        '{}',
        {},
        {
          timeoutMs: 300,
          allowPrivate: true,
        },
      );
      assert.equal(slow.status, undefined);
      assert.match(String(slow.error), /no answer within 300 ms/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
