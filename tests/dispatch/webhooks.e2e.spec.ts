// The supplier webhooks over HTTP: authentication, malformed payloads,
// receipts before their submission (parked, then applied), inbound and opt-out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessors, parkedReceiptCount, type Running } from '../../processors/index.ts';
import { startHarness, type Harness } from './harness.ts';

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
});
