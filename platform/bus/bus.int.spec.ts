// The bus port on the real broker, with each client behind it: what a
// publisher publishes arrives whole; a key lands on the same partition
// whichever client published it (the relay and the timers must agree, or one
// message's records would reach two dispatchers); a publisher made while
// nothing answers throws on publish instead of hanging or crashing, and
// close() then returns.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../clients/index.ts';
import { loadConfig } from '../config/index.ts';
import { brokenProducerState, createConsumer, ensureTopics } from '../kafka/index.ts';
import { createPublisher, type PublisherClient } from './index.ts';

// not a power of two: a partitioner that drops the sign bit differently would show
const PARTITIONS = 6;
const CLIENTS: PublisherClient[] = ['platformatic', 'kafkajs'];

describe('the bus port', () => {
  const suffix = randomBytes(4).toString('hex');
  const topic = `t.bus.${suffix}`;
  const config = loadConfig({ STREAMING_ENV: 'test', STREAMING_KAFKA_CLIENT_ID: `bus-${suffix}` });
  let kafka: Kafka;

  before(async () => {
    kafka = createKafka(config);
    await ensureTopics(kafka, [{ topic, numPartitions: PARTITIONS }]);
  });

  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('delivers every record, each key on one partition whichever client sent it', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `message-${suffix}-${i}`);
    for (const client of CLIENTS) {
      const publisher = createPublisher(config, { name: `test-${client}`, client });
      await publisher.publish(
        topic,
        keys.map((key) => ({ key, value: JSON.stringify({ key, client }) })),
      );
      await publisher.close();
    }

    const seen = new Map<string, Map<PublisherClient, number>>();
    let count = 0;
    let allRead: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allRead = resolve));
    const consumer = await createConsumer(kafka, { groupId: `bus-${suffix}` });
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const { key, client } = JSON.parse(String(message.value)) as {
          key: string;
          client: PublisherClient;
        };
        assert.equal(String(message.key), key);
        const byClient = seen.get(key) ?? new Map<PublisherClient, number>();
        assert.equal(byClient.has(client), false, `${key} from ${client} read once`);
        byClient.set(client, partition);
        seen.set(key, byClient);
        if (++count === keys.length * CLIENTS.length) allRead();
      },
    });
    await done;
    await consumer.disconnect();

    const partitions = new Set<number>();
    for (const key of keys) {
      const byClient = seen.get(key)!;
      assert.equal(byClient.size, CLIENTS.length, `${key} from every client`);
      assert.equal(
        byClient.get('platformatic'),
        byClient.get('kafkajs'),
        `${key} on one partition whichever client published it`,
      );
      partitions.add(byClient.get('kafkajs')!);
    }
    assert.ok(partitions.size > 1, 'keys spread over the partitions');
  });

  for (const client of CLIENTS) {
    it(`${client}: a publish with no broker answering throws, and close() returns`, async () => {
      // a port nothing listens on
      const away = loadConfig({
        STREAMING_ENV: 'test',
        STREAMING_KAFKA_BROKERS: '127.0.0.1:1',
        STREAMING_KAFKA_CLIENT_ID: `bus-away-${suffix}`,
      });
      const publisher = createPublisher(away, { name: 'away', client });
      await assert.rejects(publisher.publish(topic, [{ key: 'k', value: '{}' }]));
      await publisher.close().catch(() => undefined);
    });
  }

  it('recognises a broken sequence state in either client’s errors', () => {
    assert.equal(brokenProducerState({ type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }), true);
    assert.equal(brokenProducerState({ apiId: 'UNKNOWN_PRODUCER_ID' }), true);
    assert.equal(
      brokenProducerState({ errors: [{ message: 'x' }, { apiId: 'INVALID_PRODUCER_EPOCH' }] }),
      true,
    );
    assert.equal(brokenProducerState({ cause: { apiId: 'NOT_LEADER_OR_FOLLOWER' } }), false);
  });
});
