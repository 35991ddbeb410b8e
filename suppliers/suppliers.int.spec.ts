// The real adapters against the supplier simulator, started in-process on an
// ephemeral port, with a local express listener standing in for our webhooks.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { AliyunAdapter } from './aliyun.ts';
import { expectedAliyunSignature, rfc3986 } from '../simulator/aliyunAuth.ts';
import { createSupplierAdapter } from './index.ts';
import {
  ALIYUN_PUSH_ACK,
  parseAliyunInbound,
  parseAliyunReceipts,
  parseTencentInbound,
  parseTencentReceipts,
  TENCENT_PUSH_ACK,
} from './pushes.ts';
import type { QueryOutcome, SendRequest, SupplierAccount, SupplierAdapter } from './types.ts';

interface Push {
  path: string;
  body: unknown;
}

let sim: Simulator;
let hook: Server;
let hookUrl = '';
const pushes: Push[] = [];
/** Paths whose next N pushes answer 500. */
const failNext = new Map<string, number>();

async function admin(
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${sim.url}/admin${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

function account(
  vendor: 'aliyun' | 'tencent',
  overrides: Partial<SupplierAccount> = {},
): SupplierAccount {
  return {
    id: `${vendor}-1`,
    vendor,
    // Aliyun's SDK requests the root of the host; Tencent's signature covers any base path
    endpoint: vendor === 'aliyun' ? `${sim.url}/` : `${sim.url}/tencent/`,
    accessKeyId: vendor === 'aliyun' ? 'LTAI-test' : 'AKID-test',
    accessKeySecret: vendor === 'aliyun' ? 'aliyun-secret' : 'tencent-secret',
    signName: '流媒体',
    ...(vendor === 'tencent' ? { smsSdkAppId: '1400006666' } : {}),
    timeoutMs: 2000,
    ...overrides,
  };
}

async function configure(
  vendor: 'aliyun' | 'tencent',
  behaviour: Record<string, unknown> = {},
): Promise<void> {
  await admin('PUT', `/accounts/${vendor}-1`, {
    vendor,
    accessKeyId: vendor === 'aliyun' ? 'LTAI-test' : 'AKID-test',
    accessKeySecret: vendor === 'aliyun' ? 'aliyun-secret' : 'tencent-secret',
    ...(vendor === 'tencent' ? { smsSdkAppId: '1400006666' } : {}),
    receiptUrl: `${hookUrl}/${vendor}/receipts`,
    inboundUrl: `${hookUrl}/${vendor}/inbound`,
    signName: '流媒体',
    behaviour: { receiptDelayMs: 5, pushRetryBaseMs: 20, ...behaviour },
  });
  // what the account has approved at the vendor: the signature and the template of request()
  await admin('PUT', `/accounts/${vendor}-1/signatures/${encodeURIComponent('流媒体')}`, {});
  await admin('PUT', `/accounts/${vendor}-1/templates/SMS_154950909`, {
    content: vendor === 'aliyun' ? '您的验证码是${code}' : '您的验证码是{1}',
    type: 0,
  });
}

let seq = 0;
function request(overrides: Partial<SendRequest> = {}): SendRequest {
  seq++;
  return {
    messageId: `msg-${process.pid}-${seq}`,
    mobile: '+8613800138000',
    signature: '流媒体',
    templateCode: 'SMS_154950909',
    params: { code: '123456' },
    content: '【流媒体】您的验证码是123456',
    ...overrides,
  };
}

async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 3000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function countsOf(messageId: string): Promise<{ received: number; accepted: number }> {
  const r = await admin('GET', `/messages?outId=${encodeURIComponent(messageId)}`);
  return { received: Number(r.received), accepted: Number(r.accepted) };
}

before(async () => {
  const app = express();
  app.use(express.json());
  app.post('/:vendor/:kind', (req, res) => {
    const left = failNext.get(req.path) ?? 0;
    if (left > 0) {
      failNext.set(req.path, left - 1);
      res.status(500).json({ error: 'try later' });
      return;
    }
    pushes.push({ path: req.path, body: req.body });
    res.json(req.params.vendor === 'aliyun' ? ALIYUN_PUSH_ACK : TENCENT_PUSH_ACK);
  });
  hook = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
  sim = await startSimulator({ port: 0 });
});

after(async () => {
  await sim.close();
  await new Promise<void>((resolve) => hook.close(() => resolve()));
});

beforeEach(async () => {
  await admin('POST', '/reset', { accounts: true });
  pushes.length = 0;
  failNext.clear();
  await configure('aliyun');
  await configure('tencent');
});

for (const vendor of ['aliyun', 'tencent'] as const) {
  describe(`${vendor} adapter against the simulator`, () => {
    const adapter = (overrides: Partial<SupplierAccount> = {}): SupplierAdapter =>
      createSupplierAdapter(account(vendor, overrides));

    it('send is accepted, recorded once, with a vendor-shaped id', async () => {
      const req = request();
      const out = await adapter().send(req);
      assert.equal(out.kind, 'accepted', JSON.stringify(out));
      assert.ok(out.kind === 'accepted');
      assert.match(out.supplierMessageId, vendor === 'aliyun' ? /^\d{18}\^0$/ : /^2433:\d+$/);
      assert.deepEqual(await countsOf(req.messageId), { received: 1, accepted: 1 });
      const listed = await admin('GET', `/messages?outId=${req.messageId}`);
      const [m] = listed.messages as Array<Record<string, unknown>>;
      assert.equal(m?.mobile, '+8613800138000');
      assert.equal(m?.templateCode, 'SMS_154950909');
      assert.deepEqual(m?.params, vendor === 'aliyun' ? { code: '123456' } : ['123456']);
    });

    it('a wrong secret is rejected by the signature check', async () => {
      const out = await adapter({ accessKeySecret: 'not-the-secret' }).send(request());
      assert.equal(out.kind, 'rejected');
      assert.equal(
        out.kind === 'rejected' && out.code,
        vendor === 'aliyun' ? 'SignatureDoesNotMatch' : 'AuthFailure.SignatureFailure',
      );
      assert.ok(!JSON.stringify(out).includes('secret'));
    });

    it('an unknown key is rejected', async () => {
      const out = await adapter({ accessKeyId: 'nobody' }).send(request());
      assert.equal(out.kind, 'rejected');
      assert.equal(
        out.kind === 'rejected' && out.code,
        vendor === 'aliyun' ? 'InvalidAccessKeyId.NotFound' : 'AuthFailure.SecretIdNotFound',
      );
    });

    it('rejectRate 1 is a definite rejection with the configured code', async () => {
      const code =
        vendor === 'aliyun'
          ? 'isv.MOBILE_NUMBER_ILLEGAL'
          : 'InvalidParameterValue.IncorrectPhoneNumber';
      await configure(vendor, { rejectRate: 1, rejectCode: code });
      const req = request();
      const out = await adapter().send(req);
      assert.equal(out.kind, 'rejected');
      assert.equal(out.kind === 'rejected' && out.code, code);
      assert.deepEqual(await countsOf(req.messageId), { received: 1, accepted: 0 });
    });

    it('per-number limit and balance codes are rejections', async () => {
      const code =
        vendor === 'aliyun'
          ? 'isv.BUSINESS_LIMIT_CONTROL'
          : 'FailedOperation.InsufficientBalanceInSmsPackage';
      await configure(vendor, { rejectRate: 1, rejectCode: code });
      const out = await adapter().send(request());
      assert.equal(out.kind, 'rejected');
    });

    it('flow control of the API is transient and records nothing', async () => {
      await configure(vendor, { transientRate: 1 });
      const req = request();
      const out = await adapter().send(req);
      assert.equal(out.kind, 'transient', JSON.stringify(out));
      assert.equal(
        out.kind === 'transient' && out.code,
        vendor === 'aliyun' ? 'Throttling.User' : 'RequestLimitExceeded',
      );
      assert.deepEqual(await countsOf(req.messageId), { received: 1, accepted: 0 });
    });

    it('rejectAfter: accepts the first N, then rejects', async () => {
      await configure(vendor, { rejectAfter: 3 });
      const kinds = [];
      for (let i = 0; i < 5; i++) kinds.push((await adapter().send(request())).kind);
      assert.deepEqual(kinds, ['accepted', 'accepted', 'accepted', 'rejected', 'rejected']);
    });

    it('timeout after accept is unknown, and query then finds the message', async () => {
      await configure(vendor, { timeoutAfterAcceptRate: 1, hangMs: 10_000, receiptDelayMs: 0 });
      const req = request();
      const sentAt = new Date();
      const out = await adapter({ timeoutMs: 300 }).send(req);
      assert.equal(out.kind, 'unknown', JSON.stringify(out));
      assert.equal(out.kind === 'unknown' && out.code, 'TIMEOUT');
      assert.deepEqual(await countsOf(req.messageId), { received: 1, accepted: 1 });
      const found = await eventually(async () => {
        const q = await adapter().query({ messageId: req.messageId, mobile: req.mobile, sentAt });
        return q.kind === 'found' ? q : undefined;
      });
      assert.equal(found.kind, 'found');
      assert.ok(['pending', 'delivered'].includes(found.status));
    });

    it('query of a message the vendor never saw is not_found', async () => {
      const q: QueryOutcome = await adapter().query({
        messageId: 'never-sent',
        mobile: '+8613800138000',
        sentAt: new Date(),
      });
      assert.deepEqual(q, { kind: 'not_found', conclusive: vendor === 'aliyun' });
    });

    it('query reports a failed delivery with its code', async () => {
      await configure(vendor, {
        deliverFailRate: 1,
        deliverFailCode: 'MK:0005',
        receiptDelayMs: 0,
      });
      const req = request();
      const sent = await adapter().send(req);
      assert.equal(sent.kind, 'accepted');
      const q = await eventually(async () => {
        const r = await adapter().query({
          messageId: req.messageId,
          mobile: req.mobile,
          sentAt: new Date(),
          ...(sent.kind === 'accepted' ? { supplierMessageId: sent.supplierMessageId } : {}),
        });
        return r.kind === 'found' && r.status !== 'pending' ? r : undefined;
      });
      assert.deepEqual(q, {
        kind: 'found',
        supplierMessageId: sent.kind === 'accepted' ? sent.supplierMessageId : '',
        status: 'failed',
        errorCode: 'MK:0005',
      });
    });

    it('a delivery receipt is pushed to our listener in the vendor format', async () => {
      const req = request();
      const out = await adapter().send(req);
      assert.ok(out.kind === 'accepted');
      const id = vendor === 'aliyun' ? 'biz_id' : 'sid';
      const push = await eventually(() =>
        pushes.find(
          (p) =>
            p.path === `/${vendor}/receipts` &&
            Array.isArray(p.body) &&
            p.body.some((r: Record<string, unknown>) => r[id] === out.supplierMessageId),
        ),
      );
      assert.ok(Array.isArray(push.body));
      const [receipt] =
        vendor === 'aliyun' ? parseAliyunReceipts(push.body) : parseTencentReceipts(push.body);
      assert.equal(receipt?.supplierMessageId, out.supplierMessageId);
      assert.equal(receipt?.delivered, true);
      assert.equal(receipt?.mobile, '+8613800138000');
      if (vendor === 'aliyun') {
        assert.equal(receipt?.messageId, req.messageId);
        assert.equal(receipt?.errorCode, 'DELIVERED');
        assert.deepEqual(Object.keys((push.body as object[])[0] ?? {}).sort(), [
          'biz_id',
          'err_code',
          'err_msg',
          'out_id',
          'phone_number',
          'report_time',
          'send_time',
          'sms_size',
          'success',
        ]);
      } else {
        assert.equal(receipt?.errorCode, 'DELIVRD');
        assert.deepEqual(Object.keys((push.body as object[])[0] ?? {}).sort(), [
          'description',
          'errmsg',
          'mobile',
          'nationcode',
          'report_status',
          'sid',
          'user_receive_time',
        ]);
      }
    });

    it('a failed push is retried until acknowledged', async () => {
      failNext.set(`/${vendor}/receipts`, 2);
      const out = await adapter().send(request());
      assert.ok(out.kind === 'accepted');
      await eventually(() => pushes.find((p) => p.path === `/${vendor}/receipts`));
      const stats = await admin('GET', `/accounts/${vendor}-1/stats`);
      assert.equal(stats.pushFailures, 2);
      assert.equal(stats.receiptsPushed, 1);
    });

    it('duplicates and batches receipts when told to', async () => {
      await configure(vendor, {
        duplicateReceiptRate: 1,
        receiptDelayMs: 0,
        pushBatchWindowMs: 50,
      });
      const a = adapter();
      const sent = await Promise.all([a.send(request()), a.send(request()), a.send(request())]);
      assert.ok(sent.every((s) => s.kind === 'accepted'));
      await sim.idle();
      const items = pushes
        .filter((p) => p.path === `/${vendor}/receipts`)
        .flatMap((p) => p.body as unknown[]);
      assert.equal(items.length, 6);
      assert.ok(pushes.length < 6, 'receipts are batched');
    });

    it('pushes an inbound SMS in the vendor format', async () => {
      await admin('POST', '/inbound', {
        accountId: `${vendor}-1`,
        mobile: '+8613800138000',
        text: 'TD',
        extend: '12',
      });
      const push = await eventually(() => pushes.find((p) => p.path === `/${vendor}/inbound`));
      const [inbound] =
        vendor === 'aliyun' ? parseAliyunInbound(push.body) : parseTencentInbound(push.body);
      assert.equal(inbound?.mobile, '+8613800138000');
      assert.equal(inbound?.text, 'TD');
      assert.equal(inbound?.extendCode, '12');
      assert.equal(Array.isArray(push.body), vendor === 'aliyun');
    });

    it('sends the extension code in the vendor field; a reply to the message carries it back', async () => {
      const req = request({ extendCode: '12' });
      const out = await adapter().send(req);
      assert.ok(out.kind === 'accepted', JSON.stringify(out));
      const plainReq = request();
      const plain = await adapter().send(plainReq);
      assert.ok(plain.kind === 'accepted');
      const seen = async (id: string) =>
        (
          (await admin('GET', `/messages?outId=${id}`)) as {
            messages: { extendCode?: string }[];
          }
        ).messages[0];
      assert.equal((await seen(req.messageId))?.extendCode, '12');
      const plainSeen = await seen(plainReq.messageId);
      assert.ok(plainSeen);
      assert.equal(plainSeen.extendCode, undefined);
      const before = pushes.length;
      await admin('POST', '/inbound', {
        accountId: `${vendor}-1`,
        replyTo: req.messageId,
        text: 'TD',
      });
      const push = await eventually(() =>
        pushes.slice(before).find((p) => p.path === `/${vendor}/inbound`),
      );
      const [inbound] =
        vendor === 'aliyun' ? parseAliyunInbound(push.body) : parseTencentInbound(push.body);
      assert.equal(inbound?.mobile, req.mobile);
      assert.equal(inbound?.extendCode, '12');
    });

    it('connection refused is transient', async () => {
      const out = await adapter({ endpoint: 'http://127.0.0.1:1/' }).send(request());
      assert.equal(out.kind, 'transient');
    });

    it('the same seed gives the same pattern of rejections', async () => {
      const pattern = async (): Promise<string[]> => {
        await admin('POST', '/reset', {});
        await configure(vendor, { rejectRate: 0.5, seed: 99 });
        const kinds: string[] = [];
        for (let i = 0; i < 12; i++) kinds.push((await adapter().send(request())).kind);
        return kinds;
      };
      const first = await pattern();
      assert.deepEqual(await pattern(), first);
      assert.ok(first.includes('accepted') && first.includes('rejected'));
    });
  });
}

/** A request signed as the gateway checks it, for probing the simulator directly. */
function signedQuery(method: string, params: Record<string, string>, secret: string): string {
  const all = { ...params, Signature: expectedAliyunSignature(method, params, secret) };
  return Object.entries(all)
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join('&');
}

const aliyunTimestamp = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('aliyun gateway checks', () => {
  it('a reused SignatureNonce is refused', async () => {
    const params = {
      AccessKeyId: 'LTAI-test',
      Action: 'QuerySendDetails',
      Format: 'JSON',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: 'fixed-nonce',
      SignatureVersion: '1.0',
      Timestamp: aliyunTimestamp(new Date()),
      Version: '2017-05-25',
      PhoneNumber: '13800138000',
      SendDate: '20240101',
      PageSize: '10',
      CurrentPage: '1',
    };
    const post = () =>
      fetch(`${sim.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: signedQuery('POST', params, 'aliyun-secret'),
      });
    const first = await post();
    assert.equal(first.status, 200);
    assert.equal(((await first.json()) as { Code: string }).Code, 'OK');
    const second = await post();
    assert.equal(second.status, 400);
    assert.equal(((await second.json()) as { Code: string }).Code, 'SignatureNonceUsed');
  });

  it('GET with the signature in the query works too', async () => {
    const params = {
      AccessKeyId: 'LTAI-test',
      Action: 'QuerySendDetails',
      Format: 'JSON',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: `n-${Date.now()}`,
      SignatureVersion: '1.0',
      Timestamp: aliyunTimestamp(new Date()),
      Version: '2017-05-25',
      PhoneNumber: '13800138000',
      SendDate: '20240101',
      PageSize: '10',
    };
    const res = await fetch(`${sim.url}/?${signedQuery('GET', params, 'aliyun-secret')}`);
    assert.equal(((await res.json()) as { Code: string }).Code, 'OK');
  });

  it('a skewed clock is refused and classified transient', async () => {
    const skewed = new AliyunAdapter(account('aliyun'), () => new Date(Date.now() - 3600_000));
    const out = await skewed.send(request());
    assert.equal(out.kind, 'transient');
    assert.equal(out.kind === 'transient' && out.code, 'InvalidTimeStamp.Expired');
  });

  it('an international number is sent as country code + number', async () => {
    const req = request({ mobile: '+85212345678' });
    const out = await createSupplierAdapter(account('aliyun')).send(req);
    assert.equal(out.kind, 'accepted');
    const listed = await admin('GET', `/messages?outId=${req.messageId}`);
    assert.equal((listed.messages as Array<{ mobile: string }>)[0]?.mobile, '+85212345678');
  });
});

describe('never sent twice', () => {
  it('/admin/received counts every SendSms per message id', async () => {
    const a = createSupplierAdapter(account('aliyun'));
    const t = createSupplierAdapter(account('tencent'));
    const r1 = request();
    const r2 = request();
    await a.send(r1);
    await t.send(r2);
    await t.send(r2);
    const received = await admin('GET', '/received');
    assert.deepEqual(received.byMessageId, { [r1.messageId]: 1, [r2.messageId]: 2 });
    assert.deepEqual(received.acceptedByMessageId, { [r1.messageId]: 1, [r2.messageId]: 2 });
    const stats = await admin('GET', '/accounts/tencent-1/stats');
    assert.deepEqual(stats.byMessageId, { [r2.messageId]: { received: 2, accepted: 2 } });
  });
});
