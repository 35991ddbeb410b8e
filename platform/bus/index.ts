// The bus port: what the processors and services publish to Kafka, without
// naming a Kafka client. Two adapters stand behind it, chosen by
// STREAMING_KAFKA_PUBLISHER:
// - 'platformatic' (the default): @platformatic/kafka, which publishes the
//   relay's shape about 1.5 times as fast with 40% less CPU than kafkajs
//   (bench/kafkaClients.ts, BENCHMARKS.md);
// - 'kafkajs': the healing kafkajs producer of platform/kafka.
// Consumers stay on kafkajs (runSupervisedConsumer): it consumes with less CPU
// per record, and a dispatcher's consumer is never its bottleneck.
//
// Both adapters are idempotent producers acknowledged by every in-sync
// replica, both put a key on the partition the Java client (and kafkajs's
// DefaultPartitioner) puts it on — so the relay and the timers, whichever
// client each runs, send one message's records to one partition — and both
// replace their producer (a new producer id) when the broker says its
// sequence state is broken for good. Neither connects before its first
// publish, so a service starts while Kafka is down.
import {
  compatibilityPartitioner,
  ProduceAcks,
  Producer as PlatformaticProducer,
  stringSerializers,
} from '@platformatic/kafka';
import { createKafka } from '../clients/index.ts';
import type { Config } from '../config/index.ts';
import { createHealingProducer, replacedWhenBroken, type Sender } from '../kafka/index.ts';
import type { Logger } from '../logger/index.ts';

/** A keyed record (the value is JSON text). */
export interface BusRecord {
  key: string;
  value: string;
}

export interface Publisher {
  /** Resolves once every in-sync replica has the records (acks = all); throws otherwise. */
  publish(topic: string, records: readonly BusRecord[]): Promise<void>;
  close(): Promise<void>;
}

export type PublisherClient = 'platformatic' | 'kafkajs';

export interface PublisherOptions {
  /** Suffix of the client id, e.g. 'relay'. */
  name: string;
  logger?: Logger;
  /** Overrides config.kafka.publisher (tests and the benchmark compare both). */
  client?: PublisherClient;
  /** The producer was replaced after the broker refused its sequence. */
  onReplaced?: (err: unknown) => void;
}

/** A publisher on the configured client. */
export function createPublisher(
  config: Pick<Config, 'kafka'>,
  options: PublisherOptions,
): Publisher {
  const client = options.client ?? config.kafka.publisher;
  return client === 'kafkajs'
    ? kafkajsPublisher(config, options)
    : platformaticPublisher(config, options);
}

function kafkajsPublisher(config: Pick<Config, 'kafka'>, options: PublisherOptions): Publisher {
  const kafka = createKafka(config, options.logger);
  let sender: Promise<Sender> | undefined;
  const connected = () =>
    (sender ??= createHealingProducer(kafka, options.onReplaced).catch((err: unknown) => {
      sender = undefined; // connect again on the next publish
      throw err;
    }));
  return {
    async publish(topic, records) {
      if (records.length === 0) return;
      const producer = await connected();
      await producer.send({ topic, acks: -1, messages: records.map((r) => ({ ...r })) });
    },
    async close() {
      const producer = await sender?.catch(() => undefined);
      await producer?.disconnect();
    },
  };
}

function platformaticPublisher(
  config: Pick<Config, 'kafka'>,
  options: PublisherOptions,
): Publisher {
  const create = () =>
    new PlatformaticProducer({
      clientId: `${config.kafka.clientId}-${options.name}`,
      bootstrapBrokers: [...config.kafka.brokers],
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      partitioner: compatibilityPartitioner,
      autocreateTopics: true,
      retries: 8,
      retryDelay: 300,
    });
  const healing = replacedWhenBroken(
    create(),
    async (old) => {
      const next = create();
      await old.close(true).catch(() => undefined);
      return next;
    },
    options.onReplaced,
  );
  return {
    async publish(topic, records) {
      if (records.length === 0) return;
      // a failed publish is retried by the caller; after a broken state, through a new producer
      await healing.send((p) =>
        p.send({ messages: records.map((r) => ({ topic, key: r.key, value: r.value })) }),
      );
    },
    async close() {
      await (await healing.current()).close();
    },
  };
}
