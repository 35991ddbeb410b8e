// Who may push to the supplier webhooks, and what the logs say about it:
// - an account's webhookSourceCidrs (STREAMING_SUPPLIERS) limit the networks
//   its receipts and inbound SMS are accepted from: others get 403
//   WEBHOOK_SOURCE_FORBIDDEN and nothing is appended. IPv4 and IPv6 rules, and
//   IPv4 clients as a dual-stack server reports them (::ffff:127.0.0.1).
// - the webhook token (the account's secret, in ?token= or X-Webhook-Token)
//   appears in no log line, whatever the outcome of the request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startHarness, type Harness } from '../command/harness.ts';

const SECRETS = {
  any: 'whsec-any-source-0123456789abcdef',
  v4: 'whsec-ipv4-only-0123456789abcdef',
  v6: 'whsec-ipv6-only-0123456789abcdef',
  far: 'whsec-far-away-0123456789abcdef',
};
const account = (id: string, vendor: 'aliyun' | 'tencent', secret: string, cidrs?: string[]) => ({
  id,
  vendor,
  endpoint: 'http://127.0.0.1:9/',
  accessKeyId: `${id}-key-id`,
  accessKeySecret: `${id}-key-secret`,
  signName: 'streaming',
  webhookSecret: secret,
  ...(vendor === 'tencent' ? { smsSdkAppId: '1400000001' } : {}),
  ...(cidrs ? { webhookSourceCidrs: cidrs } : {}),
});

const aliyunReceipt = (bizId: string) => [
  {
    phone_number: '13900000001',
    send_time: '2024-05-01 10:00:00',
    report_time: '2024-05-01 10:00:05',
    success: true,
    err_code: 'DELIVERED',
    err_msg: '用户接收成功',
    sms_size: '1',
    biz_id: bizId,
  },
];
const tencentInbound = {
  extend: '',
  mobile: '13900000001',
  nationcode: '86',
  sign: 'streaming',
  text: 'hello',
  time: 1714528800,
};

describe('supplier webhooks: source networks and logs', () => {
  let h: Harness;
  let port = '';
  before(async () => {
    h = await startHarness(
      'webhookaccess',
      {
        // dual stack: IPv4 clients arrive as ::ffff:a.b.c.d, IPv6 ones as themselves
        STREAMING_HTTP_HOST: '::',
        STREAMING_SUPPLIERS: JSON.stringify([
          account('ali-any', 'aliyun', SECRETS.any),
          account('ali-v4', 'aliyun', SECRETS.v4, ['127.0.0.0/8']),
          account('ali-v6', 'aliyun', SECRETS.v6, ['2001:db8::/32', '::1']),
          account('ten-far', 'tencent', SECRETS.far, ['203.0.113.0/24', '2001:db8:1::/48']),
        ]),
        STREAMING_DEFAULT_SUPPLIERS: 'ali-any',
      },
      { webhooks: true },
    );
    port = new URL(h.url).port;
  });
  after(async () => {
    await h?.close();
  });

  const push = async (
    from: '127.0.0.1' | '[::1]',
    path: string,
    body: unknown,
    token?: { query?: string; header?: string },
  ) => {
    const q = token?.query ? `?token=${token.query}` : '';
    const res = await fetch(`http://${from}:${port}/v1/webhooks${path}${q}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token?.header ? { 'x-webhook-token': token.header } : {}),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, code: (JSON.parse(text) as { code?: string }).code, text };
  };

  it('accepts an account without an allow-list from anywhere', async () => {
    for (const from of ['127.0.0.1', '[::1]'] as const) {
      const r = await push(from, '/aliyun/receipts', aliyunReceipt(`any-${from}`), {
        query: SECRETS.any,
      });
      assert.equal(r.status, 200, r.text);
    }
  });

  it('applies IPv4 rules to IPv4 clients, also when reported as IPv4-mapped IPv6', async () => {
    const before = await h.countEvents();
    const ok = await push('127.0.0.1', '/aliyun/receipts', aliyunReceipt('v4-ok'), {
      header: SECRETS.v4,
    });
    assert.equal(ok.status, 200, ok.text);
    const refused = await push('[::1]', '/aliyun/receipts', aliyunReceipt('v4-no'), {
      header: SECRETS.v4,
    });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.code, 'WEBHOOK_SOURCE_FORBIDDEN');
    assert.equal(await h.countEvents(), before + 1, 'only the allowed push is appended');
  });

  it('applies IPv6 rules to IPv6 clients; an IPv4 client is not in an IPv6 network', async () => {
    const ok = await push('[::1]', '/aliyun/inbound', '[]', { query: SECRETS.v6 });
    // authenticated and allowed: the (empty) payload is what is refused, not the source
    assert.equal(ok.code, 'WEBHOOK_PAYLOAD_INVALID', ok.text);
    const before = await h.countEvents();
    const refused = await push('127.0.0.1', '/aliyun/receipts', aliyunReceipt('v6-no'), {
      query: SECRETS.v6,
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.code, 'WEBHOOK_SOURCE_FORBIDDEN');
    assert.equal(await h.countEvents(), before);
  });

  it('refuses receipts and inbound SMS from outside the networks, appending nothing', async () => {
    const before = await h.countEvents();
    for (const from of ['127.0.0.1', '[::1]'] as const) {
      for (const path of ['/tencent/inbound', '/tencent/receipts']) {
        const r = await push(from, path, tencentInbound, { query: SECRETS.far });
        assert.equal(r.status, 403, `${from} ${path}: ${r.text}`);
        assert.equal(r.code, 'WEBHOOK_SOURCE_FORBIDDEN');
      }
    }
    // a wrong secret is still 401 first: the account (and its networks) is not known
    const wrong = await push('127.0.0.1', '/tencent/inbound', tencentInbound, {
      query: 'whsec-wrong-0123456789abcdef',
    });
    assert.equal(wrong.status, 401);
    assert.equal(await h.countEvents(), before);
  });

  it('writes no webhook token into any log line, whatever the outcome', async () => {
    const outcomes = [
      await push('127.0.0.1', '/aliyun/receipts', aliyunReceipt('log-ok'), { query: SECRETS.any }),
      await push('127.0.0.1', '/aliyun/receipts', '{"broken":', { query: SECRETS.any }),
      await push('127.0.0.1', '/aliyun/receipts', [{ nonsense: 1 }], { header: SECRETS.any }),
      await push('127.0.0.1', '/aliyun/nowhere', [], { query: SECRETS.any }),
      await push('[::1]', '/aliyun/receipts', aliyunReceipt('log-403'), { query: SECRETS.v4 }),
      await push('127.0.0.1', '/tencent/inbound', tencentInbound, { query: SECRETS.far }),
      await push('127.0.0.1', '/tencent/inbound', tencentInbound, {
        query: 'whsec-someone-guessing-0123456789',
      }),
    ];
    assert.deepEqual(
      outcomes.map((o) => o.status),
      [200, 400, 400, 404, 403, 403, 401],
    );
    // the access log saw every one of them
    await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = h.logs.join('').split('\n').filter(Boolean);
    const webhookLines = lines.filter((l) => l.includes('/v1/webhooks/'));
    assert.ok(webhookLines.length >= outcomes.length, `${webhookLines.length} webhook log lines`);
    for (const secret of [...Object.values(SECRETS), 'whsec-someone-guessing-0123456789']) {
      const leaked = lines.filter((l) => l.includes(secret));
      assert.deepEqual(leaked, [], `the token ${secret.slice(0, 10)}… is in no log line`);
    }
  });
});
