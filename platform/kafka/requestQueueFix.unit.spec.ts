// The kafkajs request queue with fixKafkaRequestQueue applied: an idle queue
// keeps no timer (before, it re-armed a 1 ms one forever), while a queue with
// pending requests or under a broker's throttle still looks again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fixKafkaRequestQueue,
  kafkaRequestQueueClass,
  requestTimeoutCheckMs,
} from './requestQueueFix.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function queue(options: { requestTimeout?: number; enforceRequestTimeout?: boolean } = {}) {
  const RequestQueue = kafkaRequestQueueClass();
  return new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: options.requestTimeout ?? 1_000,
    enforceRequestTimeout: options.enforceRequestTimeout ?? false,
    clientId: 'test',
    broker: 'localhost:0',
    logger: { namespace: () => silent, ...silent },
  });
}

describe('fixKafkaRequestQueue', () => {
  fixKafkaRequestQueue();

  it('leaves an idle queue without a timer after it checked its pending requests', () => {
    const q = queue();
    q.checkPendingRequests(); // what kafkajs calls after every response
    assert.equal(q.throttleCheckTimeoutId, null);
  });

  it('still schedules a check while requests are pending', () => {
    const q = queue();
    q.pending.push({});
    q.scheduleCheckPendingRequests();
    assert.notEqual(q.throttleCheckTimeoutId, null);
    clearTimeout(q.throttleCheckTimeoutId!);
  });

  it('still schedules a check at the end of a throttle', () => {
    const q = queue();
    q.throttledUntil = Date.now() + 60_000;
    q.scheduleCheckPendingRequests();
    assert.notEqual(q.throttleCheckTimeoutId, null);
    clearTimeout(q.throttleCheckTimeoutId!);
  });

  it('looks for timed-out requests every tenth of the timeout, between 100 ms and 1 s', () => {
    assert.equal(requestTimeoutCheckMs(30_000), 1_000);
    assert.equal(requestTimeoutCheckMs(5_000), 500);
    assert.equal(requestTimeoutCheckMs(200), 100);
  });

  it('still fails an in-flight request that outlived its timeout', async () => {
    const q = queue({ requestTimeout: 1_000, enforceRequestTimeout: true });
    let timedOut = false;
    q.inflight.set(1, {
      sentAt: Date.now() - 5_000,
      requestTimeout: 1_000,
      timeoutRequest: () => (timedOut = true),
    });
    q.scheduleRequestTimeoutCheck();
    try {
      await new Promise((r) => setTimeout(r, requestTimeoutCheckMs(1_000) * 3));
      assert.equal(timedOut, true);
    } finally {
      q.destroy();
    }
  });

  it('keeps no timeout timer when timeouts are not enforced', () => {
    const q = queue();
    q.scheduleRequestTimeoutCheck();
    assert.equal(q.requestTimeoutIntervalId, undefined);
  });
});
