import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateMinute, floorMinute, parseTracking, percentile } from '../../pump/index.ts';

describe('pump aggregation', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 95), 95);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([1, 2], 50), 1);
    assert.equal(percentile([], 50), 0);
  });

  it('aggregates a minute from its raw events, whatever their order', () => {
    const minute = floorMinute(new Date('2026-01-01T10:00:42Z'));
    assert.equal(minute.toISOString(), '2026-01-01T10:00:00.000Z');
    const events = [
      {
        type: 'supplier.call',
        minute,
        supplierAccount: 'a',
        vendor: 'aliyun',
        outcome: 'accepted',
        latencyMs: 30,
      },
      {
        type: 'supplier.call',
        minute,
        supplierAccount: 'a',
        vendor: 'aliyun',
        outcome: 'accepted',
        latencyMs: 10,
      },
      { type: 'supplier.call', minute, supplierAccount: 'a', outcome: 'rejected', code: 'X' },
      { type: 'send.rejected', minute, rule: 'R2' },
      { type: 'send.rejected', minute, rule: 'R1' },
      { type: 'send.accepted', minute },
      { type: 'webhook.received', minute, kind: 'inbound' },
      {
        type: 'receipt.mismatched',
        minute,
        supplierAccount: 'a',
        vendor: 'aliyun',
        code: 'ACCOUNT_MISMATCH',
      },
    ];
    const agg = aggregateMinute(minute, events);
    assert.deepEqual(aggregateMinute(minute, [...events].reverse()), agg);
    assert.equal(agg.total, 8);
    assert.deepEqual(agg.counts, {
      sendAccepted: 1,
      sendRejected: 2,
      supplierCall: 3,
      webhookReceived: 1,
      receiptMismatched: 1,
    });
    assert.deepEqual(agg.receiptMismatches, [
      { account: 'a', vendor: 'aliyun', reason: 'ACCOUNT_MISMATCH', count: 1 },
    ]);
    assert.deepEqual(agg.rejections, [
      { rule: 'R1', count: 1 },
      { rule: 'R2', count: 1 },
    ]);
    assert.deepEqual(agg.suppliers, [
      {
        account: 'a',
        vendor: 'aliyun',
        outcome: 'accepted',
        count: 2,
        latency: { count: 2, min: 10, max: 30, sum: 40, p50: 10, p95: 30, p99: 30 },
        codes: [],
      },
      {
        account: 'a',
        vendor: null,
        outcome: 'rejected',
        count: 1,
        latency: null,
        codes: [{ code: 'X', count: 1 }],
      },
    ]);
  });

  it('says why a tracking event is malformed', () => {
    const ok = { id: '1', type: 'send.accepted', at: '2026-01-01T00:00:00Z', service: 's' };
    assert.equal(parseTracking(JSON.stringify(ok)).ok, true);
    const reasons = [
      parseTracking(null),
      parseTracking('{'),
      parseTracking(JSON.stringify({ ...ok, type: 'nope' })),
      parseTracking(JSON.stringify({ ...ok, at: 'soon' })),
      parseTracking(JSON.stringify({ ...ok, extra: 1 })),
    ].map((p) => (p.ok ? 'ok' : p.reason));
    assert.deepEqual(
      reasons.map((r) => r.split(':')[0]),
      ['empty message', 'not JSON', 'schema', 'schema', 'schema'],
    );
  });
});
