// Scheduled sends and cancel on the real dispatch path (MySQL event store,
// Redis, Kafka, the supplier simulator): a message scheduled a few seconds
// ahead is submitted no earlier than its time, also when the processors are
// restarted in between; cancelled before, it is never submitted; after its
// submission, cancel answers 409 with its status.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cancelMessage, sendMessage } from '../../command-service/index.ts';
import { messageStream } from '../../domain/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { DomainError } from '../../domain/errors.ts';
import { startSends, type SendsHarness } from './support.ts';

describe('scheduled sends and cancel', () => {
  let s: SendsHarness;
  let code: string;
  before(async () => {
    s = await startSends('scheduled', [{ id: 'sch-aliyun', vendor: 'aliyun' }]);
    code = await s.template('notification', { mobile: { maxPerDay: 1 } });
    await s.startProcessors();
  });
  after(async () => {
    await s?.close();
  });

  const send = (mobile: string, sendAt?: string) =>
    sendMessage(
      s.cmd,
      s.tenant,
      { templateCode: code, mobile, params: { order: '7' }, ...(sendAt ? { sendAt } : {}) },
      {},
    );

  it('submits a message scheduled 3 s ahead no earlier, across a restart of the processors', async () => {
    const sendAt = new Date(Date.now() + 3_000).toISOString();
    const answer = await send('13900000001', sendAt);
    assert.equal(answer.notBefore, sendAt);
    // the processors go down and come back before it is due
    await new Promise((r) => setTimeout(r, 500));
    await s.stopProcessors();
    assert.equal(s.status(answer.messageId) ?? 'accepted', 'accepted');
    await new Promise((r) => setTimeout(r, 500));
    await s.startProcessors();
    await s.waitFor([answer.messageId], ['submitted', 'delivered'], 30_000);
    const events = await s.h.eventStore.readStream(messageStream(answer.messageId));
    const submitted = events.find((e) => e.type === 'sms.submitted.v1');
    assert.ok(submitted, 'submitted');
    assert.ok(
      submitted.recordedAt.getTime() >= Date.parse(sendAt),
      `submitted at ${submitted.recordedAt.toISOString()}, not before ${sendAt}`,
    );
    assert.ok(
      events.some((e) => e.type === 'sms.limits-reserved.v1'),
      'limits reserved at send',
    );
    assert.equal((await s.h.received())[answer.messageId], 1, 'received once');
  });

  it('refuses sendAt in the past or beyond 30 days with 422', async () => {
    await assert.rejects(send('13900000002', new Date(Date.now() - 1_000).toISOString()), (e) => {
      assert.ok(e instanceof DomainError || e instanceof AppError);
      assert.equal(e.code, 'SEND_AT_IN_PAST');
      return true;
    });
    const far = new Date(Date.now() + 31 * 86_400_000).toISOString();
    await assert.rejects(send('13900000002', far), { code: 'SEND_AT_TOO_FAR' });
  });

  it('checks the limits at send time: a refusal then fails the message with the rule', async () => {
    // the policy allows one message a day to a number: the first goes, the scheduled second fails
    const first = await send('13900000003');
    const second = await send('13900000003', new Date(Date.now() + 1_500).toISOString());
    await s.waitFor([first.messageId], ['submitted', 'delivered'], 30_000);
    await s.waitFor([second.messageId], ['failed'], 30_000);
    const state = s.h.states.get(second.messageId);
    assert.ok(state?.exists);
    assert.equal(state.lastReason?.code, 'RATE_LIMIT_MOBILE_DAILY');
    assert.equal((await s.h.received())[second.messageId], undefined, 'never sent');
  });

  it('never submits a message cancelled before its time', async () => {
    const answer = await send('13900000004', new Date(Date.now() + 3_000).toISOString());
    const cancelled = await cancelMessage(s.cmd, s.tenant, answer.messageId, {});
    assert.equal(cancelled.status, 'cancelled');
    // a repeated cancel answers the same
    assert.deepEqual(await cancelMessage(s.cmd, s.tenant, answer.messageId, {}), cancelled);
    await s.waitFor([answer.messageId], ['cancelled'], 10_000);
    await new Promise((r) => setTimeout(r, 4_000));
    assert.equal(s.status(answer.messageId), 'cancelled');
    const events = await s.h.eventStore.readStream(messageStream(answer.messageId));
    assert.deepEqual(
      events.map((e) => e.type),
      ['sms.accepted.v1', 'sms.cancelled.v1'],
    );
    assert.equal((await s.h.received())[answer.messageId], undefined, 'never sent');
  });

  it('answers 409 with the status once the message was submitted', async () => {
    const answer = await send('13900000005');
    await s.waitFor([answer.messageId], ['submitted', 'delivered'], 30_000);
    await assert.rejects(cancelMessage(s.cmd, s.tenant, answer.messageId, {}), (e) => {
      assert.ok(e instanceof DomainError);
      assert.equal(e.code, 'MESSAGE_NOT_CANCELLABLE');
      assert.ok(['submitted', 'delivered'].includes(String(e.details?.status)));
      return true;
    });
  });

  it('does not cancel another tenant’s message', async () => {
    const answer = await send('13900000006', new Date(Date.now() + 60_000).toISOString());
    await assert.rejects(
      cancelMessage(
        s.cmd,
        { userId: 'someone-else', role: 'member', kind: 'user' },
        answer.messageId,
        {},
      ),
      { code: 'MESSAGE_NOT_FOUND' },
    );
    await cancelMessage(s.cmd, s.tenant, answer.messageId, {});
  });
});
