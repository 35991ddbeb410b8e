// The supplier webhooks over HTTP: authentication, malformed payloads,
// receipts before their submission (parked, then applied), inbound and opt-out,
// and replies linked to their tenant by extension code.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startCommandService } from '../../command-service/index.ts';
import { optOutStream } from '../../domain/inbound/index.ts';
import { noTracker } from '../../platform/tracking/index.ts';
import { startProcessors, parkedReceiptCount, type Running } from '../../processors/index.ts';
import { waitForApproval } from '../../testing/approvals.ts';
import { startHarness, type Harness } from '../../testing/dispatchHarness.ts';

const SECRET = 'whsec-hook-tencent-0123456789abcdef';
const ALI_SECRET = 'whsec-hook-aliyun-0123456789abcdef';

describe('supplier webhooks', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness('webhooks', [
      {
        id: 'hook-tencent',
        vendor: 'tencent',
        behaviour: { id: 'hook-tencent', receiptDelayMs: 100 },
      },
      { id: 'hook-aliyun', vendor: 'aliyun', behaviour: { id: 'hook-aliyun' } },
    ]);
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
  });

  const post = (path: string, body: unknown, raw = false) =>
    fetch(`${h.webhooks.url}/v1/webhooks${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: raw ? (body as string) : JSON.stringify(body),
    });
  const receipt = (sid: string) => ({
    user_receive_time: '2024-05-01 10:00:00',
    nationcode: '86',
    mobile: '13900000001',
    report_status: 'SUCCESS',
    errmsg: 'DELIVRD',
    description: 'ok',
    sid,
  });

  it('answers 401 WEBHOOK_UNAUTHENTICATED to a wrong or missing secret and appends nothing', async () => {
    const head = await h.eventStore.headPosition();
    for (const query of ['?token=wrong-secret-0123456789', '', `?token=${ALI_SECRET}`]) {
      const res = await post(`/tencent/receipts${query}`, [receipt('sid-1')]);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { code: string };
      assert.equal(body.code, 'WEBHOOK_UNAUTHENTICATED');
    }
    const inbound = await post('/aliyun/inbound?token=nope-nope-nope-nope', []);
    assert.equal(inbound.status, 401);
    assert.equal(await h.eventStore.headPosition(), head);
  });

  it('answers 400 to malformed payloads and appends nothing', async () => {
    const head = await h.eventStore.headPosition();
    const cases: [string, unknown, boolean][] = [
      [`/tencent/receipts?token=${SECRET}`, { not: 'an array' }, false],
      [`/tencent/receipts?token=${SECRET}`, [{ ...receipt('x'), report_status: 'MAYBE' }], false],
      [`/tencent/receipts?token=${SECRET}`, [receipt('ok'), { sid: 'half' }], false],
      [`/aliyun/receipts?token=${ALI_SECRET}`, [{ biz_id: 'b' }], false],
      [`/aliyun/inbound?token=${ALI_SECRET}`, '[{"phone_number": ', true],
      [
        `/tencent/inbound?token=${SECRET}`,
        { mobile: '139', nationcode: '86', time: 'soon' },
        false,
      ],
    ];
    for (const [path, body, raw] of cases) {
      const res = await post(path, body, raw);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      const problem = (await res.json()) as { code: string };
      assert.ok(['WEBHOOK_PAYLOAD_INVALID', 'MALFORMED_JSON'].includes(problem.code), problem.code);
    }
    assert.equal(await h.eventStore.headPosition(), head);
  });

  it('parks a receipt that arrives before its submission and applies it later', async () => {
    // The simulator is told to delay its answer, so our receipt for the
    // message's serial number comes first: it must be parked, not dropped.
    await h.admin('PUT', '/accounts/hook-tencent', { latencyMs: 1_500, receiptDelayMs: 60_000 });
    const [id] = await h.accept(1);
    let serial: string | undefined;
    for (let i = 0; i < 100 && !serial; i++) {
      const list = (await h.admin('GET', `/messages?outId=${id}`)) as {
        messages: { supplierMessageId: string }[];
      };
      serial = list.messages[0]?.supplierMessageId;
      if (!serial) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(serial, 'the simulator took the message');
    const res = await post(`/tencent/receipts?token=${SECRET}`, [
      receipt(`00${serial.toUpperCase()}`),
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { result: 0, errmsg: 'OK' });
    await h.waitFinal([id!], 20_000);
    const s = h.states.get(id!);
    assert.ok(s?.exists);
    assert.equal(s.status, 'delivered');
    const events = await h.eventStore.readStream(`message-${id}`);
    assert.deepEqual(
      events.map((e) => e.type),
      ['sms.accepted.v1', 'sms.submitted.v1', 'sms.delivered.v1'],
    );
    for (let i = 0; i < 50 && (await parkedReceiptCount(h.deps)) > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await parkedReceiptCount(h.deps), 0);
    await h.admin('PUT', '/accounts/hook-tencent', { latencyMs: 0, receiptDelayMs: 100 });
  });

  it('records inbound SMS linked to the last message and opts STOP out', async () => {
    const [id] = await h.accept(1);
    await h.waitFinal([id!], 20_000);
    const s = h.states.get(id!);
    assert.ok(s?.exists);
    const mobile = s.accepted.mobile;
    const res = await h.admin('POST', '/inbound', {
      accountId: 'hook-tencent',
      mobile,
      text: '退订',
    });
    assert.equal(res.pushed, true);
    // a repeated push changes nothing
    await h.admin('POST', '/inbound', { accountId: 'hook-tencent', mobile, text: 'hello' });
    const all = await h.eventStore.readAll({ after: 0, limit: 100_000 });
    const inbound = all.filter((e) => e.type === 'inbound.received.v1');
    assert.equal(inbound.length, 2);
    const stop = inbound.find((e) => e.data.content === '退订');
    assert.equal(stop?.data.linkedMessageId, id);
    assert.equal(stop?.data.tenantId, 'tenant-1');
    const optOut = await h.eventStore.readStream(`optout-tenant-1-${mobile}`);
    assert.deepEqual(
      optOut.map((e) => [e.type, e.data.keyword]),
      [['mobile.opted-out.v1', '退订']],
    );
    // the same STOP pushed again by the vendor: no second inbound, no second opt-out
    const again = await fetch(`${h.webhooks.url}/v1/webhooks/tencent/inbound?token=${SECRET}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        extend: '',
        mobile: mobile.slice(3),
        nationcode: '86',
        sign: 'streaming',
        text: '退订',
        time: Math.floor(Date.parse(String(stop?.data.receivedAt)) / 1000),
      }),
    });
    assert.equal(again.status, 200);
    assert.equal((await h.eventStore.readStream(`optout-tenant-1-${mobile}`)).length, 1);
    const after = await h.eventStore.readAll({ after: 0, limit: 100_000 });
    assert.equal(after.filter((e) => e.type === 'inbound.received.v1').length, 2);
  });

  it('links a reply by its extension code to the tenant holding it on the account, else within the account', async () => {
    // the command API on the same event store and Redis prefix as the dispatcher
    const cmd = await startCommandService(
      {
        config: h.config,
        logger: h.logger,
        eventStore: h.eventStore,
        redis: h.redis,
        tracker: noTracker,
        redisPrefix: h.options.redisPrefix!,
      },
      { port: 0 },
    );
    try {
      const call = async (path: string, body: unknown, token?: string) => {
        const res = await fetch(`${cmd.url}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      const tenant = async (name: string) => {
        const username = `${name}${randomBytes(3).toString('hex')}`;
        const password = 'correct horse battery';
        const reg = await call('/v1/users', { username, password });
        assert.equal(reg.status, 201, JSON.stringify(reg.json));
        const login = await call('/v1/sessions', { username, password });
        return { userId: String(reg.json.userId), token: String(login.json.token) };
      };
      const template = async (token: string, body: Record<string, unknown>) => {
        // a signature of the tenant's own (a name belongs to one tenant)
        const signature = `Shop${randomBytes(3).toString('hex')}`;
        const r = await call(
          '/v1/templates',
          { name: 'sale', kind: 'marketing', signature, content: 'Sale today!', ...body },
          token,
        );
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const code = String(r.json.templateCode);
        // the tenant's signature, then both reviewed by the simulator's accounts
        const sig = await call('/v1/signatures', { name: signature }, token);
        assert.ok(sig.status === 201 || sig.status === 200, JSON.stringify(sig.json));
        await waitForApproval(h.eventStore, code);
        return code;
      };
      const mobile = `+86137${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
      const send = async (token: string, templateCode: string) =>
        call('/v1/messages', { templateCode, mobile, params: {} }, token);
      const sent = async (token: string, templateCode: string) => {
        const r = await send(token, templateCode);
        assert.equal(r.status, 202, JSON.stringify(r.json));
        const id = String(r.json.messageId);
        await h.waitFinal([id], 20_000); // its lookups are written before it is submitted
        return id;
      };
      const reply = async (accountId: string, text: string, extend?: string) => {
        const r = await h.admin('POST', '/inbound', {
          accountId,
          mobile,
          text,
          ...(extend !== undefined ? { extend } : {}),
        });
        assert.equal(r.pushed, true, JSON.stringify(r));
        const all = await h.eventStore.readAll({ after: 0, limit: 100_000 });
        const mine = all.filter(
          (e) =>
            e.type === 'inbound.received.v1' && e.data.mobile === mobile && e.data.content === text,
        );
        assert.equal(mine.length, 1, text);
        const data = mine[0]!.data as {
          tenantId?: string;
          linkedMessageId?: string;
          extendCode?: string;
        };
        return { ...data, payload: r.payload };
      };
      const optedOut = async (tenantId: string) =>
        (await h.eventStore.readStream(optOutStream(tenantId, mobile))).map((e) => e.data.keyword);

      const a = await tenant('exta');
      const b = await tenant('extb');
      const aSale = await template(a.token, { extendCode: '12', suppliers: ['hook-aliyun'] });
      const aNotice = await template(a.token, { kind: 'notification', suppliers: ['hook-aliyun'] });
      const bSale = await template(b.token, { suppliers: ['hook-aliyun'] });

      // A sends with extension 12, then B sends to the same number without one
      const fromA = await sent(a.token, aSale);
      const fromB = await sent(b.token, bSale);
      const atSupplier = async (id: string) =>
        ((await h.admin('GET', `/messages?outId=${id}`)) as { messages: { extendCode?: string }[] })
          .messages[0];
      assert.equal((await atSupplier(fromA))?.extendCode, '12');
      assert.equal((await atSupplier(fromB))?.extendCode, undefined);

      // "TD" with extension 12: A's message, A's opt-out, B untouched
      const td = await reply('hook-aliyun', 'TD', '12');
      assert.equal(td.linkedMessageId, fromA);
      assert.equal(td.tenantId, a.userId);
      assert.equal(td.extendCode, '12');
      assert.deepEqual(await optedOut(a.userId), ['TD']);
      assert.deepEqual(await optedOut(b.userId), []);
      const refused = await send(a.token, aSale);
      assert.equal(refused.status, 422);
      assert.equal(refused.json.code, 'MOBILE_OPTED_OUT');
      await sent(a.token, aNotice); // notifications still go
      const laterFromB = await sent(b.token, bSale);

      // no extension, or one that matches nothing: the last message to the number
      const hello = await reply('hook-aliyun', 'hello');
      assert.equal(hello.linkedMessageId, laterFromB);
      assert.equal(hello.tenantId, b.userId);
      const unknown = await reply('hook-aliyun', 'who is this', '99');
      assert.equal(unknown.linkedMessageId, laterFromB);
      // extension 12 through another account is not A's, and nobody sent through that
      // account: nobody's message, nobody opted out (the fallback stays within the account)
      const other = await reply('hook-tencent', 'UNSUBSCRIBE', '12');
      assert.equal(other.linkedMessageId, undefined);
      assert.equal(other.tenantId, undefined);
      assert.deepEqual(await optedOut(b.userId), []);
      assert.deepEqual(await optedOut(a.userId), ['TD']);

      // codes are unique per account: B cannot have 12 on hook-aliyun, by create or by
      // PATCH, nor by adding hook-aliyun to a template that has it elsewhere
      const taken = await call(
        '/v1/templates',
        {
          name: 'sale',
          kind: 'marketing',
          signature: 'ShopB',
          content: 'Sale!',
          extendCode: '12',
          suppliers: ['hook-tencent', 'hook-aliyun'],
        },
        b.token,
      );
      assert.equal(taken.status, 409, JSON.stringify(taken.json));
      assert.equal(taken.json.code, 'EXTEND_CODE_TAKEN');
      assert.deepEqual((taken.json.details as { accounts: string[] }).accounts, ['hook-aliyun']);
      // two tenants asking for a free code at once: exactly one gets it
      const d = await tenant('extd');
      const e = await tenant('exte');
      const race = await Promise.all(
        [d, e].map((t) =>
          call(
            '/v1/templates',
            {
              name: 'race',
              kind: 'marketing',
              signature: `Race${randomBytes(3).toString('hex')}`,
              content: 'Race!',
              extendCode: '4321',
              suppliers: ['hook-aliyun'],
            },
            t.token,
          ),
        ),
      );
      assert.deepEqual(race.map((r) => r.status).sort(), [201, 409], JSON.stringify(race));
      const patch = (token: string, code: string, body: unknown) =>
        fetch(`${cmd.url}/v1/templates/${code}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(body),
        }).then(async (r) => ({ status: r.status, json: (await r.json()) as { code?: string } }));
      const patched = await patch(b.token, bSale, { extendCode: '12' });
      assert.equal(patched.status, 409);
      assert.equal(patched.json.code, 'EXTEND_CODE_TAKEN');
      // 12 on the other account is free for B; A may reuse its own code
      const bTencent = await template(b.token, { extendCode: '12', suppliers: ['hook-tencent'] });
      const moved = await patch(b.token, bTencent, { suppliers: ['hook-tencent', 'hook-aliyun'] });
      assert.equal(moved.status, 409);
      assert.equal(moved.json.code, 'EXTEND_CODE_TAKEN');
      await template(a.token, { extendCode: '12', suppliers: ['hook-aliyun'] });

      // B sends through hook-tencent with 12: a reply there with 12 is B's; a reply on
      // hook-aliyun without a code is still linked to hook-aliyun's last message
      const fromBTencent = await sent(b.token, bTencent);
      const viaTencent = await reply('hook-tencent', 'thanks', '12');
      assert.equal(viaTencent.linkedMessageId, fromBTencent);
      assert.equal(viaTencent.tenantId, b.userId);
      const plain = await reply('hook-aliyun', 'hi again');
      assert.equal(plain.linkedMessageId, laterFromB);
      // a reply with A's code always finds A, even from a number A never sent to
      const stranger = `+86136${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
      const pushed = await h.admin('POST', '/inbound', {
        accountId: 'hook-aliyun',
        mobile: stranger,
        text: 'STOP',
        extend: '12',
      });
      assert.equal(pushed.pushed, true, JSON.stringify(pushed));
      const strangers = (await h.eventStore.readAll({ after: 0, limit: 100_000 })).filter(
        (e) => e.type === 'inbound.received.v1' && e.data.mobile === stranger,
      );
      assert.equal(strangers.length, 1);
      assert.equal(strangers[0]!.data.tenantId, a.userId);
      assert.equal(strangers[0]!.data.linkedMessageId, undefined);
      assert.deepEqual(
        (await h.eventStore.readStream(optOutStream(a.userId, stranger))).map(
          (e) => e.data.keyword,
        ),
        ['STOP'],
      );

      // B's STOP, pushed again by the vendor after a third tenant sent: still B's
      const unsubscribe = await reply('hook-aliyun', 'STOP');
      assert.equal(unsubscribe.tenantId, b.userId);
      assert.deepEqual(await optedOut(b.userId), ['STOP']);
      assert.equal((await send(b.token, bSale)).json.code, 'MOBILE_OPTED_OUT');
      const c = await tenant('extc');
      const cSale = await template(c.token, { suppliers: ['hook-aliyun'] });
      await sent(c.token, cSale);
      const again = await post(`/aliyun/inbound?token=${ALI_SECRET}`, unsubscribe.payload);
      assert.equal(again.status, 200);
      assert.deepEqual(await optedOut(c.userId), []);
      assert.deepEqual(await optedOut(b.userId), ['STOP']);
      assert.equal((await send(c.token, cSale)).status, 202);
    } finally {
      await cmd.close();
    }
  });
});
