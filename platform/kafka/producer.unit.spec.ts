// Which send failures make the processors' producer start again with a new
// producer id (createHealingProducer): the broker's answers that an
// idempotent producer's sequence state is broken, also when kafkajs wraps
// them after its retries; not an outage or any other refusal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { brokenProducerState, replacedWhenBroken } from './index.ts';

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

// The healing both producers share: a stand-in producer that fails as told.
describe('replacedWhenBroken', () => {
  const producer = (id: number, failWith?: () => unknown) => ({
    id,
    sent: [] as string[],
    async send(value: string): Promise<string> {
      await new Promise((r) => setImmediate(r));
      if (failWith) throw failWith();
      this.sent.push(value);
      return `${id}:${value}`;
    },
  });

  it('a broken state fails that send, renews once, and the next goes through the new producer', async () => {
    const first = producer(1, () => protocol('OUT_OF_ORDER_SEQUENCE_NUMBER', 45));
    const second = producer(2);
    const renewed: number[] = [];
    const replacedFor: unknown[] = [];
    const healing = replacedWhenBroken(
      first,
      async (old) => {
        renewed.push(old.id);
        await new Promise((r) => setTimeout(r, 20));
        return second;
      },
      (err) => replacedFor.push(err),
    );
    // two sends fail together: one replacement
    const failed = await Promise.allSettled([
      healing.send((p) => p.send('a')),
      healing.send((p) => p.send('b')),
    ]);
    assert.deepEqual(
      failed.map((f) => f.status),
      ['rejected', 'rejected'],
    );
    assert.deepEqual(renewed, [1]);
    assert.equal(replacedFor.length, 1);
    assert.equal(await healing.send((p) => p.send('c')), '2:c');
    assert.deepEqual(second.sent, ['c']);
    assert.equal((await healing.current()).id, 2);
  });

  it('an outage fails the send and keeps the producer', async () => {
    const first = producer(1, () => new KafkaJSConnectionError('Connection error'));
    let renewals = 0;
    const healing = replacedWhenBroken(first, async () => {
      renewals++;
      return producer(2);
    });
    await assert.rejects(
      healing.send((p) => p.send('a')),
      KafkaJSConnectionError,
    );
    assert.equal(renewals, 0);
    assert.equal((await healing.current()).id, 1);
  });
});
