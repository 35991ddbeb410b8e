// Batch sends on the real dispatch path: 1,000 recipients with 10 invalid
// numbers → 990 accepted and 10 refused with their codes; the same request
// with the same Idempotency-Key → the same answer and nothing sent twice; at
// the simulated vendors the messages arrived in batch calls (Tencent SendSms
// with a PhoneNumberSet, Aliyun SendBatchSms), each number's result mapped
// back to its own message.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendBatch } from '../../command-service/index.ts';
import { startSends, type SendsHarness } from './support.ts';

const recipients = (prefix: string, sameParams: boolean) =>
  Array.from({ length: 1000 }, (_, i) => ({
    // every hundredth number is not a mobile number at all
    mobile: i % 100 === 42 ? `12${i}` : `+86${prefix}${String(i).padStart(6, '0')}`,
    params: { order: sameParams ? '77' : String(i) },
  }));

describe('batch sends', () => {
  let s: SendsHarness;
  before(async () => {
    s = await startSends('batch', [
      { id: 'bat-tencent', vendor: 'tencent' },
      { id: 'bat-aliyun', vendor: 'aliyun' },
    ]);
    await s.startProcessors();
  });
  after(async () => {
    await s?.close();
  });

  const stats = async (account: string) =>
    (await s.h.admin('GET', `/accounts/${account}/stats`)) as {
      received: number;
      batchCalls: number;
      batchNumbers: number;
    };
  const sentTo = async (account: string) => {
    const r = (await s.h.admin('GET', `/accounts/${account}/messages`)) as {
      total: number;
      messages: { mobile: string }[];
    };
    return r.messages.map((m) => m.mobile);
  };

  for (const [account, prefix, sameParams] of [
    ['bat-tencent', '13810', true],
    ['bat-aliyun', '13920', false],
  ] as const) {
    it(`${account}: 990 accepted, 10 refused; a repeat answers the same and sends nothing twice`, async () => {
      const code = await s.template('notification', {}, [account]);
      const input = { templateCode: code, recipients: recipients(prefix, sameParams) };
      const key = `batch-${account}`;
      const before = await stats(account);
      const answer = await sendBatch(s.cmd, s.tenant, { ...input, idempotencyKey: key }, {});
      assert.equal(answer.accepted, 990);
      assert.equal(answer.refused, 10);
      assert.equal(answer.results.length, 1000);
      for (const r of answer.results) {
        assert.equal(r.mobile, input.recipients[r.index]!.mobile);
        if (r.index % 100 === 42) {
          assert.equal(r.status, 'refused');
          assert.equal(r.status === 'refused' && r.code, 'INVALID_MOBILE');
        } else assert.equal(r.status, 'accepted');
      }
      const ids = answer.results.flatMap((r) => (r.status === 'accepted' ? [r.messageId] : []));
      assert.equal(new Set(ids).size, 990, 'a message of its own per recipient');

      // the same request and key: the same answer
      const again = await sendBatch(s.cmd, s.tenant, { ...input, idempotencyKey: key }, {});
      assert.deepEqual(again, answer);
      // another request under the key is refused
      await assert.rejects(
        sendBatch(
          s.cmd,
          s.tenant,
          { ...input, recipients: input.recipients.slice(1), idempotencyKey: key },
          {},
        ),
        { code: 'IDEMPOTENCY_KEY_REUSED' },
      );

      await s.waitFor(ids, ['submitted', 'delivered'], 120_000);
      // once more after the sends: still the first answer, nothing new
      assert.deepEqual(
        await sendBatch(s.cmd, s.tenant, { ...input, idempotencyKey: key }, {}),
        answer,
      );
      await new Promise((r) => setTimeout(r, 500));

      // every accepted number reached the vendor exactly once
      const mobiles = (await sentTo(account)).filter((m) => m.startsWith(`+86${prefix}`));
      assert.equal(mobiles.length, 990, 'one vendor message per accepted recipient');
      assert.equal(new Set(mobiles).size, 990, 'no number twice');
      // and mostly in batch calls: far fewer calls than messages
      const after = await stats(account);
      const calls = after.received - before.received;
      const batched = after.batchNumbers - before.batchNumbers;
      assert.ok(after.batchCalls > before.batchCalls, 'batch calls were made');
      assert.ok(calls < 990 / 2, `${calls} calls for 990 messages`);
      assert.ok(batched > 990 / 2, `${batched} of 990 numbers came in batch calls`);
      // each number's receipt came back to its own message (Aliyun: one BizId for the call)
      await s.waitFor(ids, ['delivered', 'undelivered'], 120_000);
      // each message got its own number's vendor id and status
      for (const id of ids.slice(0, 50)) {
        const st = s.h.states.get(id);
        assert.ok(st?.exists && st.supplierMessageId !== undefined);
        assert.equal(st.supplierAccount, account);
      }
    });
  }

  it('refuses a batch of more than 1,000 or of none', async () => {
    const code = await s.template('notification', {}, ['bat-tencent']);
    const many = Array.from({ length: 1001 }, (_, i) => ({
      mobile: `+8613700${String(i).padStart(6, '0')}`,
      params: { order: '1' },
    }));
    await assert.rejects(sendBatch(s.cmd, s.tenant, { templateCode: code, recipients: many }, {}), {
      code: 'BATCH_SIZE_INVALID',
    });
    await assert.rejects(sendBatch(s.cmd, s.tenant, { templateCode: code, recipients: [] }, {}), {
      code: 'BATCH_SIZE_INVALID',
    });
  });
});
