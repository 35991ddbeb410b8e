// Quiet hours of marketing templates on the real dispatch path (MySQL event
// store, Redis, Kafka, the supplier simulator): a marketing send inside them
// is accepted, held, and submitted once they end (a window that ends a few
// seconds from now, in Asia/Shanghai, stands for 21:00–08:00); outside them it
// goes at once; notification and verification templates have none, so their
// sends are never held.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendBatch, sendMessage } from '../../command-service/index.ts';
import { messageStream } from '../../domain/index.ts';
import { startSends, type SendsHarness } from './support.ts';

const ZONE = 'Asia/Shanghai';
/** The wall-clock time in Shanghai `offsetMs` from now, HH:MM:SS. */
const shanghai = (offsetMs: number): string =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone: ZONE,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(Date.now() + offsetMs));

describe('marketing quiet hours', () => {
  let s: SendsHarness;
  before(async () => {
    s = await startSends('quiet', [{ id: 'qh-aliyun', vendor: 'aliyun' }]);
    await s.startProcessors();
  });
  after(async () => {
    await s?.close();
  });

  const send = (templateCode: string, mobile: string, sendAt?: string) =>
    sendMessage(
      s.cmd,
      s.tenant,
      { templateCode, mobile, params: { order: '7' }, ...(sendAt ? { sendAt } : {}) },
      {},
    );
  const submittedAt = async (messageId: string) => {
    const events = await s.h.eventStore.readStream(messageStream(messageId));
    return events.find((e) => e.type === 'sms.submitted.v1')?.recordedAt.getTime();
  };

  it('holds a marketing send inside them and submits it once they end', async () => {
    // quiet since an hour ago, until 4 s from now (seconds: the window's end is exact)
    const quietHours = { start: shanghai(-3_600_000), end: shanghai(4_000), timeZone: ZONE };
    const code = await s.template('marketing', {}, undefined, { quietHours });
    const answer = await send(code, '13700000001');
    assert.ok(answer.notBefore, 'held: the answer says until when');
    const end = Date.parse(answer.notBefore);
    assert.ok(end > Date.now() && end <= Date.now() + 5_000, `held until ${answer.notBefore}`);
    assert.equal(answer.sendAt, undefined, 'held by quiet hours, not by a sendAt');
    // a batch of the same template is held the same way, each recipient
    const batch = await sendBatch(
      s.cmd,
      s.tenant,
      {
        templateCode: code,
        recipients: [{ mobile: '13700000002', params: { order: '8' } }, { mobile: '13700000003' }],
      },
      {},
    );
    const batchIds = batch.results.flatMap((r) => (r.status === 'accepted' ? [r.messageId] : []));
    assert.equal(batch.results[0]?.status, 'accepted');
    for (const r of batch.results) {
      if (r.status === 'accepted') assert.equal(r.notBefore, answer.notBefore);
    }
    const ids = [answer.messageId, ...batchIds];
    await s.waitFor(ids, ['submitted', 'delivered'], 30_000);
    for (const id of ids) {
      const at = await submittedAt(id);
      assert.ok(at !== undefined && at >= end, `${id} submitted at ${at}, not before ${end}`);
      assert.equal((await s.h.received())[id], 1, 'received once');
    }
    const events = await s.h.eventStore.readStream(messageStream(answer.messageId));
    assert.ok(
      events.some((e) => e.type === 'sms.limits-reserved.v1'),
      'its limits reserved when it leaves',
    );
  });

  it('holds a sendAt that falls inside them until they end', async () => {
    const quietHours = { start: shanghai(1_000), end: shanghai(5_000), timeZone: ZONE };
    const code = await s.template('marketing', {}, undefined, { quietHours });
    const sendAt = new Date(Date.now() + 2_500).toISOString();
    const answer = await send(code, '13700000004', sendAt);
    assert.equal(answer.sendAt, sendAt);
    assert.ok(answer.notBefore && Date.parse(answer.notBefore) > Date.parse(sendAt));
    await s.waitFor([answer.messageId], ['submitted', 'delivered'], 30_000);
    const at = await submittedAt(answer.messageId);
    assert.ok(at !== undefined && at >= Date.parse(answer.notBefore));
  });

  it('sends a marketing message outside them at once', async () => {
    const quietHours = { start: shanghai(3_600_000), end: shanghai(7_200_000), timeZone: ZONE };
    const code = await s.template('marketing', {}, undefined, { quietHours });
    const answer = await send(code, '13700000005');
    assert.equal(answer.notBefore, undefined);
    await s.waitFor([answer.messageId], ['submitted', 'delivered'], 30_000);
    const events = await s.h.eventStore.readStream(messageStream(answer.messageId));
    assert.ok(!events.some((e) => e.type === 'sms.limits-reserved.v1'), 'reserved at accept');
  });

  it('gives notification and verification templates none: their sends are never held', async () => {
    const quietHours = { start: shanghai(-3_600_000), end: shanghai(3_600_000), timeZone: ZONE };
    for (const kind of ['notification', 'verification'] as const) {
      const content = 'code ${code}, order ${order}';
      await assert.rejects(s.template(kind, {}, undefined, { quietHours, content }), {
        code: 'QUIET_HOURS_INVALID',
      });
    }
    // a notification sent in the middle of a marketing template's quiet hours leaves at once
    await s.template('marketing', {}, undefined, { quietHours });
    const code = await s.template('notification');
    const answer = await send(code, '13700000006');
    assert.equal(answer.notBefore, undefined);
    await s.waitFor([answer.messageId], ['submitted', 'delivered'], 30_000);
  });
});
