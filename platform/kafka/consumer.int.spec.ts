// runSupervisedConsumer on the real broker: a consumer that kafkajs gives up
// on (CRASH with restart = false) is replaced, the group's records are still
// all handled, one line says it died and one that it is back, and stop()
// ends it, with no rebuild after.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { createKafka } from '../clients/index.ts';
import { loadConfig } from '../config/index.ts';
import { createLogger } from '../logger/index.ts';
import { createConsumer, createProducer, ensureTopics, runSupervisedConsumer } from './index.ts';

const { KafkaJSNonRetriableError } = kafkajs as unknown as {
  KafkaJSNonRetriableError: new (message: string) => Error;
};

describe('a supervised Kafka consumer', () => {
  let kafka: Kafka;
  const topic = `t.supervised.${randomBytes(4).toString('hex')}`;

  before(async () => {
    kafka = createKafka(loadConfig({ STREAMING_ENV: 'test', STREAMING_KAFKA_CLIENT_ID: topic }));
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
  });

  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('is rebuilt after a crash kafkajs does not restart, and handles every record', async () => {
    const producer = await createProducer(kafka);
    const values = Array.from({ length: 20 }, (_, i) => `r${i}`);
    await producer.send({
      topic,
      acks: -1,
      messages: values.map((value) => ({ key: value, value })),
    });
    await producer.disconnect();

    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (chunk: Buffer) =>
      lines.push(...chunk.toString().split('\n').filter(Boolean)),
    );
    const logger = createLogger({ logLevel: 'info' }, { stream });

    const handled = new Set<string>();
    let created = 0;
    const crashes: string[] = [];
    let failures = 2; // the first two batches end the consumer for good (as far as kafkajs goes)
    let allHandled: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allHandled = resolve));
    const supervised = await runSupervisedConsumer({
      name: 'supervised-test',
      logger,
      create: () => {
        created++;
        return createConsumer(kafka, { groupId: topic });
      },
      subscribe: { topics: [topic], fromBeginning: true },
      run: {
        eachBatch: async ({ batch }) => {
          if (failures > 0) {
            failures--;
            throw new KafkaJSNonRetriableError('the handler gives up');
          }
          for (const m of batch.messages) handled.add(String(m.value));
          if (handled.size === values.length) allHandled();
        },
      },
      onCrash: (err) => crashes.push((err as Error).name),
    });
    await done;
    await supervised.stop();

    assert.deepEqual([...handled].sort(), [...values].sort(), 'every record handled');
    assert.equal(crashes.length, 2, `two crashes: ${crashes.join(', ')}`);
    assert.ok(created >= 3, `a new consumer after each crash (${created} created)`);
    const died = lines.filter((l) => l.includes('supervised-test lost its Kafka consumer'));
    const back = lines.filter((l) => l.includes('supervised-test recovered its Kafka consumer'));
    // each crash is an outage of its own: one line when it dies, one when its replacement joined
    assert.equal(died.length, 2, `a line per outage: ${died.join('\n')}`);
    assert.equal(back.length, 2, `a line per recovery: ${back.join('\n')}`);

    // stopped means stopped: nothing is built again afterwards
    const after = created;
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(created, after);
  });
});
