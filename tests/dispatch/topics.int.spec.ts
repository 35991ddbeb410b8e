// ensureTopics on the real broker: a topic is created with the partitions
// asked for, an existing one with fewer is grown, and none is ever shrunk.
// The dispatcher's limiter bounds the work in progress over all partitions.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../../platform/clients/index.ts';
import { loadConfig } from '../../platform/config/index.ts';
import { ensureTopics } from '../../platform/kafka/index.ts';
import { Limiter } from '../../processors/dispatcher.ts';

describe('ensureTopics', () => {
  let kafka: Kafka;
  const topic = `t.topics.${randomBytes(4).toString('hex')}`;

  const partitions = async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return topics[0]?.partitions.length ?? 0;
    } finally {
      await admin.disconnect();
    }
  };

  before(() => {
    kafka = createKafka(loadConfig({ STREAMING_ENV: 'test', STREAMING_KAFKA_CLIENT_ID: topic }));
  });

  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates, grows and never shrinks the partitions', async () => {
    await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
    assert.equal(await partitions(), 3);
    await ensureTopics(kafka, [{ topic, numPartitions: 8 }]);
    assert.equal(await partitions(), 8);
    await ensureTopics(kafka, [{ topic, numPartitions: 4 }]);
    assert.equal(await partitions(), 8);
    await ensureTopics(kafka, [{ topic }]);
    assert.equal(await partitions(), 8);
  });
});

describe('Limiter', () => {
  it('runs at most its limit at once and every task to the end', async () => {
    const limiter = new Limiter(3);
    let active = 0;
    let peak = 0;
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, i % 3));
          active--;
          done.push(i);
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.equal(done.length, 20);
  });

  it('frees its slot when a task throws', async () => {
    const limiter = new Limiter(1);
    await assert.rejects(
      limiter.run(() => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await limiter.run(() => Promise.resolve(7)), 7);
  });
});
