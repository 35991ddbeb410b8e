// Dispatch against real MySQL, Redis, Kafka and the supplier simulator:
// failover, uncertain submissions, duplicated and reordered receipts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessors, type Running } from '../../processors/index.ts';
import { startHarness, withStatus, type Harness } from '../../testing/dispatchHarness.ts';

describe('failover: the primary rejects after its first 100', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness('failover', [
      {
        id: 'pri-aliyun',
        vendor: 'aliyun',
        behaviour: { id: 'pri-aliyun', rejectAfter: 100, rejectCode: 'isv.AMOUNT_NOT_ENOUGH' },
      },
      { id: 'bak-tencent', vendor: 'tencent', behaviour: { id: 'bak-tencent' } },
    ]);
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
  });

  it('delivers all 1,000, 900 through the backup, each received exactly once', async () => {
    const ids = await h.accept(1000);
    await h.waitFinal(ids, 120_000);
    const notDelivered = ids.filter((id) => withStatus(h.states, [id], 'delivered').length === 0);
    const trail = notDelivered[0]
      ? (await h.eventStore.readStream(`message-${notDelivered[0]}`)).map((e) => e.type)
      : [];
    assert.equal(notDelivered.length, 0, `all delivered; one that was not: ${trail.join(', ')}`);
    const via = (account: string) =>
      ids.filter((id) => {
        const s = h.states.get(id);
        return s?.exists && s.supplierAccount === account;
      }).length;
    assert.equal(via('pri-aliyun'), 100);
    assert.equal(via('bak-tencent'), 900);
    const accepted = (await h.admin('GET', '/received')) as {
      acceptedByMessageId: Record<string, number>;
    };
    for (const id of ids) {
      assert.equal(accepted.acceptedByMessageId[id], 1, `message ${id} accepted once in total`);
    }
    const primary = (await h.admin('GET', '/accounts/pri-aliyun/stats')) as { rejected: number };
    // 900 at least: on a loaded machine a refusal can come after the adapter's
    // timeout; that message is then uncertain, its re-send is refused again
    // (a second rejection of the same message) and it fails over like the rest
    assert.ok(primary.rejected >= 900, `${primary.rejected} rejected by the primary`);
  });
});

describe('the supplier hangs after accepting 5% of requests', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness(
      'uncertain',
      [
        {
          id: 'hang-aliyun',
          vendor: 'aliyun',
          timeoutMs: 800,
          behaviour: {
            id: 'hang-aliyun',
            timeoutAfterAcceptRate: 0.05,
            hangMs: 3_000,
            receiptDelayMs: 2_500,
            seed: 7,
          },
        },
        { id: 'spare-tencent', vendor: 'tencent', behaviour: { id: 'spare-tencent' } },
      ],
      { reconcileDelayMs: 300 },
    );
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
  });

  it('records those as uncertain, reconciles them by query and never re-sends', async () => {
    const ids = await h.accept(400);
    await h.waitFinal(ids, 120_000);
    assert.equal(withStatus(h.states, ids, 'delivered').length, 400);
    const received = await h.received();
    for (const id of ids) assert.equal(received[id], 1, `message ${id} was sent once`);
    const uncertain: string[] = [];
    for (const id of ids) {
      const events = await h.eventStore.readStream(`message-${id}`);
      const types = events.map((e) => e.type);
      if (!types.includes('sms.submission-uncertain.v1')) continue;
      uncertain.push(id);
      // Reconciled either by the status query (a submission marked reconciled)
      // or, when the receipt came first (a loaded machine runs the query late),
      // by the receipt itself: either way at the account it was sent to, once.
      const submitted = events.find((e) => e.type === 'sms.submitted.v1');
      const receipt = events.find((e) => e.type === 'sms.delivered.v1');
      const trail = JSON.stringify(events.map((e) => e.type));
      if (submitted) {
        assert.equal(submitted.data.reconciled, true, `${id}: ${trail}`);
        assert.equal(submitted.data.supplierAccount, 'hang-aliyun', `${id}: ${trail}`);
      } else {
        assert.ok(receipt, `${id}: reconciled by a query or a receipt: ${trail}`);
        assert.equal(receipt.data.supplierAccount, 'hang-aliyun', `${id}: ${trail}`);
      }
    }
    const stats = (await h.admin('GET', '/accounts/hang-aliyun/stats')) as { hung: number };
    assert.ok(stats.hung > 0, 'the simulator hung some requests');
    // Every hung request was recorded as uncertain (and reconciled, above). On a
    // loaded machine other requests may also run past the adapter's timeout:
    // they are uncertain too, and just as reconciled, never re-sent.
    assert.ok(
      uncertain.length >= stats.hung,
      `${uncertain.length} uncertain, ${stats.hung} hung by the simulator`,
    );
  });
});

describe('receipts duplicated and reordered', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness('receipts', [
      {
        id: 'dup-tencent',
        vendor: 'tencent',
        behaviour: {
          id: 'dup-tencent',
          duplicateReceiptRate: 0.5,
          reorderReceipts: true,
          deliverFailRate: 0.3,
          pushBatchWindowMs: 50,
          seed: 11,
        },
      },
      {
        id: 'dup-aliyun',
        vendor: 'aliyun',
        behaviour: { id: 'dup-aliyun', duplicateReceiptRate: 0.5, reorderReceipts: true },
      },
    ]);
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
  });

  it('ends every message in the state its (first) receipt reported', async () => {
    const ids = await h.accept(300);
    await h.waitFinal(ids, 90_000);
    await h.sim.idle();
    const list = (await h.admin('GET', '/messages?accountId=dup-tencent')) as {
      messages: { messageId: string; status: string }[];
    };
    const truth = new Map(list.messages.map((m) => [m.messageId, m.status]));
    assert.equal(truth.size, 300);
    let failed = 0;
    for (const id of ids) {
      const s = h.states.get(id);
      assert.ok(s?.exists);
      const expected = truth.get(id) === 'delivered' ? 'delivered' : 'undelivered';
      if (expected === 'undelivered') failed++;
      assert.equal(s.status, expected, `message ${id}`);
      const events = await h.eventStore.readStream(`message-${id}`);
      const finals = events.filter(
        (e) => e.type === 'sms.delivered.v1' || e.type === 'sms.undelivered.v1',
      );
      assert.equal(finals.length, 1, `${id}: one final event despite duplicate receipts`);
    }
    assert.ok(failed > 0, 'some deliveries failed');
    const stats = (await h.admin('GET', '/accounts/dup-tencent/stats')) as {
      receiptsDuplicated: number;
    };
    assert.ok(stats.receiptsDuplicated > 0);
  });
});
