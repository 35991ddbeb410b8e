// The kafkajs request queue with fixKafkaRequestQueue applied: an idle queue
// keeps no timer (before, it re-armed a 1 ms one forever), while a queue with
// pending requests or under a broker's throttle still looks again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixKafkaRequestQueue, kafkaRequestQueueClass } from './requestQueueFix.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function queue() {
  const RequestQueue = kafkaRequestQueueClass();
  return new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 1_000,
    enforceRequestTimeout: false,
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
});
