// No message stays submitted, and receipts are bound to their message, against
// real MySQL, Redis, Kafka and the supplier simulator in its vendor-strict
// modes: receipts dropped, a vendor that forgot some messages, a
// QuerySendDetails that lags behind SendSms, receipts pushed by the wrong
// account or with the wrong vendor id.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessors, type Running } from '../../processors/index.ts';
import { startHarness, secret, withStatus, type Harness } from '../../testing/dispatchHarness.ts';

async function until(what: string, ms: number, check: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const vendor of ['aliyun', 'tencent'] as const) {
  describe(`${vendor}: receipts dropped, the status pull closes every message`, () => {
    let h: Harness;
    let running: Running;
    const account = `quiet-${vendor}`;
    before(async () => {
      h = await startHarness(
        `pull-${vendor}`,
        [{ id: account, vendor, behaviour: { id: account, dropReceiptRate: 1 } }],
        { receiptPullAfterMs: 2_500, receiptExpireAfterMs: 8_000 },
      );
      running = await startProcessors(h.deps);
    });
    after(async () => {
      await running?.close();
      await h?.close();
    });

    it('100 end delivered through the pull; the 10 the vendor forgot end expired', async () => {
      const ids = await h.accept(100);
      await until('all submitted', 60_000, () =>
        ids.every((id) => {
          const s = h.states.get(id);
          return s?.exists === true && s.status !== 'accepted';
        }),
      );
      const forgotten = ids.slice(0, 10);
      const res = await h.admin('POST', `/accounts/${account}/forget`, { messageIds: forgotten });
      assert.equal(res.forgotten, 10);
      await h.waitFinal(ids, 120_000);

      assert.deepEqual(withStatus(h.states, forgotten, 'expired').sort(), [...forgotten].sort());
      const known = ids.slice(10);
      assert.equal(withStatus(h.states, known, 'delivered').length, known.length);
      const stats = (await h.admin('GET', `/accounts/${account}/stats`)) as {
        receiptsPushed: number;
        queries: number;
      };
      assert.equal(stats.receiptsPushed, 0, 'no receipt was pushed');
      assert.ok(stats.queries > 0);
      for (const id of known) {
        const events = await h.eventStore.readStream(`message-${id}`);
        const delivered = events.find((e) => e.type === 'sms.delivered.v1');
        assert.ok(delivered, id);
        assert.equal(delivered.metadata.actor.id, 'dispatcher', 'applied by the pull');
      }
      const received = await h.received();
      for (const id of ids) assert.equal(received[id], 1, `${id} sent once`);
      for (const id of forgotten) {
        const events = await h.eventStore.readStream(`message-${id}`);
        const expired = events.find((e) => e.type === 'sms.expired.v1');
        assert.ok(expired, id);
        assert.equal(expired.data.supplierAccount, account);
      }
    });
  });
}

describe('aliyun: QuerySendDetails lags behind a send that timed out', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness(
      'pull-lag',
      [
        {
          id: 'lag-aliyun',
          vendor: 'aliyun',
          timeoutMs: 400,
          behaviour: {
            id: 'lag-aliyun',
            timeoutAfterAcceptRate: 1,
            hangMs: 2_000,
            queryLagMs: 3_000,
            // receipts late enough that the reconciling query, not a receipt, settles the call
            receiptDelayMs: 10_000,
          },
        },
      ],
      { reconcileDelayMs: 200, reconcileWindowMs: 8_000 },
    );
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
  });

  it('"not found" inside the reconcile window is not believed: each message is sent once', async () => {
    const ids = await h.accept(20);
    await h.waitFinal(ids, 120_000);
    assert.equal(withStatus(h.states, ids, 'delivered').length, ids.length);
    const received = await h.received();
    for (const id of ids) assert.equal(received[id], 1, `${id} sent once`);
    for (const id of ids) {
      const types = (await h.eventStore.readStream(`message-${id}`)).map((e) => e.type);
      assert.ok(types.includes('sms.submission-uncertain.v1'), `${id} timed out`);
    }
    const stats = (await h.admin('GET', '/accounts/lag-aliyun/stats')) as { queries: number };
    assert.ok(stats.queries > ids.length, 'queried while the vendor did not know yet');
  });
});

describe('receipts bound to their message', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness('bound', [
      { id: 'own-aliyun', vendor: 'aliyun', behaviour: { id: 'own-aliyun', dropReceiptRate: 1 } },
      { id: 'other-aliyun', vendor: 'aliyun', behaviour: { id: 'other-aliyun' } },
    ]);
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
  });

  const push = async (account: string, items: unknown[]) => {
    const res = await fetch(
      `${h.webhooks.url}/v1/webhooks/aliyun/receipts?token=${secret(account)}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(items),
      },
    );
    assert.equal(res.status, 200);
  };
  const receipt = (messageId: string, bizId: string) => ({
    phone_number: '13900000000',
    send_time: '2026-01-01 10:00:00',
    report_time: '2026-01-01 10:00:05',
    success: true,
    err_code: 'DELIVERED',
    err_msg: '用户接收成功',
    sms_size: '1',
    biz_id: bizId,
    out_id: messageId,
  });

  it('another account or another biz id changes nothing and is counted; the right one applies', async () => {
    const [id] = await h.accept(1);
    await until('submitted', 30_000, () => {
      const s = h.states.get(id!);
      return s?.exists === true && s.status === 'submitted';
    });
    const s = h.states.get(id!);
    assert.ok(s?.exists && s.supplierAccount === 'own-aliyun' && s.supplierMessageId);
    const bizId = s.supplierMessageId;
    const before = (await h.eventStore.readStream(`message-${id}`)).length;

    await push('other-aliyun', [receipt(id!, bizId)]);
    await push('own-aliyun', [receipt(id!, `${bizId}-forged`)]);
    await until('both counted', 30_000, () =>
      ['ACCOUNT_MISMATCH', 'SUPPLIER_ID_MISMATCH'].every((code) =>
        h.tracked.some((t) => t.type === 'receipt.mismatched' && t.code === code),
      ),
    );
    const counted = h.tracked.filter((t) => t.type === 'receipt.mismatched');
    assert.deepEqual(counted.map((t) => [t.supplierAccount, t.code]).sort(), [
      ['other-aliyun', 'ACCOUNT_MISMATCH'],
      ['own-aliyun', 'SUPPLIER_ID_MISMATCH'],
    ]);
    assert.equal((await h.eventStore.readStream(`message-${id}`)).length, before, 'unchanged');
    assert.deepEqual(withStatus(h.states, [id!], 'submitted'), [id], 'still submitted');
    const recorded = [
      ...(await h.eventStore.readStream('receipts-other-aliyun')),
      ...(await h.eventStore.readStream('receipts-own-aliyun')),
    ].filter((e) => e.type === 'receipt.mismatched.v1');
    assert.deepEqual(recorded.map((e) => e.data.reason).sort(), [
      'ACCOUNT_MISMATCH',
      'SUPPLIER_ID_MISMATCH',
    ]);

    await push('own-aliyun', [receipt(id!, bizId)]);
    await h.waitFinal([id!], 30_000);
    assert.deepEqual(withStatus(h.states, [id!], 'delivered'), [id]);
  });
});

for (const [vendor, code] of [
  ['aliyun', 'isv.BUSINESS_LIMIT_CONTROL'],
  ['tencent', 'LimitExceeded.PhoneNumberDailyLimit'],
] as const) {
  describe(`${vendor}: a rejection about the recipient is final`, () => {
    let h: Harness;
    let running: Running;
    before(async () => {
      h = await startHarness(`recipient-${vendor}`, [
        {
          id: `limited-${vendor}`,
          vendor,
          behaviour: { id: `limited-${vendor}`, rejectRate: 1, rejectCode: code },
        },
        { id: `spare-${vendor}`, vendor, behaviour: { id: `spare-${vendor}` } },
      ]);
      running = await startProcessors(h.deps);
    });
    after(async () => {
      await running?.close();
      await h?.close();
    });

    it(`${code} fails the message without failing over`, async () => {
      const ids = await h.accept(10);
      await h.waitFinal(ids, 60_000);
      assert.equal(withStatus(h.states, ids, 'failed').length, ids.length);
      for (const id of ids) {
        const events = await h.eventStore.readStream(`message-${id}`);
        assert.ok(!events.some((e) => e.type === 'sms.failed-over.v1'), `${id} not failed over`);
        const failed = events.find((e) => e.type === 'sms.failed.v1');
        assert.equal((failed?.data.reason as { code: string }).code, code);
      }
      const spare = (await h.admin('GET', `/accounts/spare-${vendor}/stats`)) as {
        received: number;
      };
      assert.equal(spare.received, 0, 'the other supplier was never asked');
    });
  });
}
