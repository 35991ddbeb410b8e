// A batch's recipients are checked in bulk (one read, one limits script per
// 200, appends group-committed), and each is still a message of its own with
// its own limits: recipients are reserved one after the other in the order
// of the batch, each all or nothing, so a refused one consumes nothing and
// two sends to one mobile meet each other's interval; a batch repeated after
// some of its recipients were accepted (a crash before the answer was
// recorded) answers those with their first answer, neither refused by the
// limits they reserved nor sent twice.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { acceptRecipient } from '../../command-service/sendingMessages/index.ts';
import { loadTemplate } from '../../command-service/managingTemplates/index.ts';
import {
  approvedRoutes,
  idempotentMessageId,
} from '../../command-service/sendingMessages/accepting.ts';
import { sendBatch, sendMessage } from '../../command-service/index.ts';
import { messageStream } from '../../domain/index.ts';
import { startSends, type SendsHarness } from './support.ts';

describe('batch sends: limits and repeats in bulk', () => {
  let s: SendsHarness;
  before(async () => {
    s = await startSends('batchlimits', [{ id: 'bl-tencent', vendor: 'tencent' }]);
  });
  after(async () => {
    await s?.close();
  });

  it('reserves recipient after recipient, each all or nothing', async () => {
    const code = await s.template('notification', {
      mobile: { minIntervalSeconds: 60 },
      template: { maxPerDay: 5 },
    });
    const m = (n: number) => `+8613911${String(n).padStart(6, '0')}`;
    const base = Math.floor(Math.random() * 900_000);
    // 0: accepted; 1: the same mobile again, refused by the interval (taking
    // nothing of the template's 5); 2–5: accepted; 6, 7: the template's 5 are gone
    const mobiles = [m(base), m(base), m(base + 1), m(base + 2), m(base + 3), m(base + 4)];
    mobiles.push(m(base + 5), m(base + 6));
    const answer = await sendBatch(
      s.cmd,
      s.tenant,
      {
        templateCode: code,
        recipients: mobiles.map((mobile) => ({ mobile, params: { order: '1' } })),
      },
      {},
    );
    const outcome = answer.results.map((r) => (r.status === 'accepted' ? 'accepted' : r.code));
    assert.deepEqual(outcome, [
      'accepted',
      'RATE_LIMIT_MOBILE_INTERVAL',
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      'RATE_LIMIT_TEMPLATE_DAILY',
      'RATE_LIMIT_TEMPLATE_DAILY',
    ]);
    assert.equal(answer.accepted, 5);
    // the template's counter stands at exactly 5: a refused recipient took nothing, a
    // later send of its own is refused by the same rule
    await assert.rejects(
      sendMessage(
        s.cmd,
        s.tenant,
        { templateCode: code, mobile: m(base + 7), params: { order: '2' } },
        {},
      ),
      { code: 'RATE_LIMIT_TEMPLATE_DAILY' },
    );
  });

  it('a repeat after a partial acceptance answers the accepted recipients as they were', async () => {
    const code = await s.template('notification', { mobile: { minIntervalSeconds: 60 } });
    const key = `partial-${Date.now()}`;
    const base = Math.floor(Math.random() * 900_000);
    const recipients = Array.from({ length: 300 }, (_, i) => ({
      mobile: `+8613922${String(base + i).padStart(6, '0')}`,
      params: { order: String(i) },
    }));
    // what a batch that crashed before recording its answer leaves behind: its
    // first 120 recipients accepted under the ids the batch derives for them
    const tenantId = s.tenant.userId;
    const batchId = idempotentMessageId(tenantId, `batch\n${key}`);
    const { template } = await loadTemplate(s.cmd.eventStore, code, s.tenant);
    const routes = await approvedRoutes(s.cmd, template);
    const earlier = new Map<number, { messageId: string; position: number }>();
    for (let i = 0; i < 120; i++) {
      const a = await acceptRecipient(
        s.cmd,
        template,
        routes,
        {
          mobile: recipients[i]!.mobile,
          params: recipients[i]!.params,
          messageId: idempotentMessageId(tenantId, `batch\n${key}\n${i}`),
          idempotencyKey: `${key}#${i}`,
          batch: { batchId, index: i },
        },
        {},
      );
      earlier.set(i, { messageId: a.messageId, position: a.position });
    }
    const answer = await sendBatch(
      s.cmd,
      s.tenant,
      { templateCode: code, recipients, idempotencyKey: key },
      {},
    );
    assert.equal(answer.batchId, batchId);
    assert.equal(answer.accepted, 300, 'no recipient refused by the interval it reserved before');
    for (const r of answer.results) {
      assert.equal(r.status, 'accepted');
      const first = earlier.get(r.index);
      if (first && r.status === 'accepted') {
        assert.equal(r.messageId, first.messageId);
        assert.equal(r.position, first.position, 'the first answer, not a new message');
      }
    }
    // one sms.accepted per message stream: nothing accepted twice
    const ids = answer.results.flatMap((r) => (r.status === 'accepted' ? [r.messageId] : []));
    const streams = await s.cmd.eventStore.readStreams(ids.map((id) => messageStream(id)));
    for (const id of ids) {
      const events = streams.get(messageStream(id)) ?? [];
      assert.equal(events.filter((e) => e.type === 'sms.accepted.v1').length, 1, id);
    }
    // and the whole batch again: the recorded answer
    assert.deepEqual(
      await sendBatch(s.cmd, s.tenant, { templateCode: code, recipients, idempotencyKey: key }, {}),
      answer,
    );
  });
});
