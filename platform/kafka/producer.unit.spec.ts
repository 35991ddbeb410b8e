// Which send failures make the processors' producer start again with a new
// producer id (createHealingProducer): the broker's answers that an
// idempotent producer's sequence state is broken, also when kafkajs wraps
// them after its retries; not an outage or any other refusal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { brokenProducerState } from './index.ts';

// kafkajs is CommonJS: its error classes are properties of the default export
const {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
} = kafkajs;

const protocol = (type: string, code: number) =>
  new KafkaJSProtocolError({ type, code, retriable: false, message: type } as never);

describe('brokenProducerState', () => {
  it('names the answers only a new producer gets past', () => {
    assert.ok(brokenProducerState(protocol('OUT_OF_ORDER_SEQUENCE_NUMBER', 45)));
    assert.ok(brokenProducerState(protocol('UNKNOWN_PRODUCER_ID', 59)));
    assert.ok(brokenProducerState(protocol('INVALID_PRODUCER_EPOCH', 47)));
  });

  // as kafkajs's retrier wraps them (src/retry/index.js: { cause: e.cause || e })
  it('finds them inside the errors kafkajs wraps them in', () => {
    const cause = protocol('OUT_OF_ORDER_SEQUENCE_NUMBER', 45);
    assert.ok(
      brokenProducerState(
        new KafkaJSNumberOfRetriesExceeded(cause, {
          retryCount: 8,
          retryTime: 5_000,
          cause,
        } as never),
      ),
    );
    assert.ok(brokenProducerState(Object.assign(new KafkaJSNonRetriableError(cause), { cause })));
  });

  it('leaves outages and other refusals to the ordinary retry', () => {
    assert.equal(brokenProducerState(new KafkaJSConnectionError('Connection error')), false);
    assert.equal(brokenProducerState(protocol('NOT_LEADER_FOR_PARTITION', 6)), false);
    assert.equal(brokenProducerState(new Error('OUT_OF_ORDER_SEQUENCE_NUMBER')), false);
    assert.equal(brokenProducerState(undefined), false);
  });
});
