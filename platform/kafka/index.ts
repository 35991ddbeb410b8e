// Kafka plumbing on top of platform/clients createKafka: topic creation,
// a producer that waits for every in-sync replica, and consumers.
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Consumer,
  ConsumerRunConfig,
  ConsumerSubscribeTopics,
  Kafka,
  Producer,
} from 'kafkajs';
import { backoffMs, outage } from '../health/index.ts';
import type { Logger } from '../logger/index.ts';

/** Accepted messages to dispatch (key = message id). */
export { DISPATCH_TOPIC } from '../../contracts/index.ts';

export interface TopicSpec {
  topic: string;
  numPartitions?: number;
}

/**
 * Creates the topics that do not exist yet, and grows existing ones that have
 * fewer partitions than asked for (idempotent; waits for leaders). Partitions
 * are never removed.
 */
export async function ensureTopics(kafka: Kafka, topics: readonly TopicSpec[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions ?? 4 })),
        });
      } catch (err) {
        // Another process created it meanwhile.
        if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
      }
    }
    const sized = topics.filter((t) => t.numPartitions !== undefined);
    if (sized.length === 0) return;
    const { topics: metadata } = await admin.fetchTopicMetadata({
      topics: sized.map((t) => t.topic),
    });
    const grow = sized.flatMap((t) => {
      const have = metadata.find((m) => m.name === t.topic)?.partitions.length ?? 0;
      return have > 0 && have < t.numPartitions!
        ? [{ topic: t.topic, count: t.numPartitions! }]
        : [];
    });
    if (grow.length === 0) return;
    try {
      await admin.createPartitions({ validateOnly: false, timeout: 10_000, topicPartitions: grow });
    } catch (err) {
      // Another process grew it meanwhile.
      if ((err as { type?: string }).type !== 'INVALID_PARTITIONS') throw err;
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * An idempotent producer, not connected yet: sends are acknowledged by all
 * in-sync replicas (acks = -1) and kafkajs retries them without duplicating.
 */
const idempotentProducer = (kafka: Kafka): Producer =>
  kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: true,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  });

/** A connected idempotentProducer. */
export async function createProducer(kafka: Kafka): Promise<Producer> {
  const producer = idempotentProducer(kafka);
  await producer.connect();
  return producer;
}

/**
 * Broker answers after which an idempotent producer's sequence state is
 * broken for good: kafkajs retries the send with the same producer id and
 * sequence, and every retry gets the same answer (seen after a broker
 * restart: the relay stalled on OUT_OF_ORDER_SEQUENCE_NUMBER until its
 * process restarted). Only a new producer, with a new producer id, sends again.
 */
const BROKEN_PRODUCER_STATE = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'DUPLICATE_SEQUENCE_NUMBER',
]);

/** Whether err (or what it wraps) says the producer's idempotent state is broken. */
export function brokenProducerState(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 4) return false;
  // kafkajs names the broker's error in `type`, @platformatic/kafka in `apiId`
  // (and gathers several in `errors`)
  const e = err as {
    type?: unknown;
    apiId?: unknown;
    cause?: unknown;
    originalError?: unknown;
    errors?: unknown;
  };
  for (const name of [e.type, e.apiId])
    if (typeof name === 'string' && BROKEN_PRODUCER_STATE.has(name)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => brokenProducerState(x, depth + 1)))
    return true;
  return brokenProducerState(e.cause, depth + 1) || brokenProducerState(e.originalError, depth + 1);
}

/** The part of a producer the processors use. */
export type Sender = Pick<Producer, 'send' | 'disconnect'>;

/**
 * A producer replaced by a new one (a new producer id, from `renew`) when a
 * send fails because its idempotent state is broken; that send still fails
 * (the caller retries it, as after any failed send), the next one goes
 * through the new producer. Sends wait while a replacement is under way.
 * The kafkajs producer and the @platformatic/kafka publisher (platform/bus)
 * both heal through it.
 */
export function replacedWhenBroken<P>(
  first: P,
  renew: (old: P) => Promise<P>,
  onReplaced?: (err: unknown) => void,
): { send<T>(op: (producer: P) => Promise<T>): Promise<T>; current(): Promise<P> } {
  let current = first;
  let replacing: Promise<void> | undefined;
  const replace = (err: unknown) =>
    (replacing ??= (async () => {
      onReplaced?.(err);
      current = await renew(current);
    })().finally(() => (replacing = undefined)));
  return {
    async send(op) {
      if (replacing) await replacing;
      try {
        return await op(current);
      } catch (err) {
        if (brokenProducerState(err)) await replace(err);
        throw err;
      }
    },
    async current() {
      if (replacing) await replacing;
      return current;
    },
  };
}

/** createProducer's producer, healed by replacedWhenBroken. */
export async function createHealingProducer(
  kafka: Kafka,
  onReplaced?: (err: unknown) => void,
): Promise<Sender> {
  const healing = replacedWhenBroken(
    await createProducer(kafka),
    async (old) => {
      await old.disconnect().catch(() => undefined);
      const next = idempotentProducer(kafka);
      // a broker still away: the next send connects it
      await next.connect().catch(() => undefined);
      return next;
    },
    onReplaced,
  );
  return {
    send: (record) => healing.send((p) => p.send(record)),
    async disconnect() {
      await (await healing.current()).disconnect();
    },
  };
}

export interface ConsumerOptions {
  groupId: string;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /**
   * Most bytes one fetch takes of a partition (kafkajs default 1 MiB). A
   * consumer that works through a batch before fetching the next pauses the
   * partition meanwhile; a small batch keeps what waits in memory small.
   */
  maxBytesPerPartition?: number;
}

/** A connected consumer in a group (not yet subscribed or running). */
export async function createConsumer(kafka: Kafka, options: ConsumerOptions): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 1_000,
    rebalanceTimeout: 20_000,
    // A fetch waits at most this long for data (it answers as soon as a record
    // comes, so this costs no latency); disconnect waits for the fetch in
    // flight, so it also bounds how long a stop takes. 2 s, not 500 ms: an
    // idle consumer then fetches (and heartbeats) twice a second less.
    maxWaitTimeInMs: 2_000,
    ...(options.maxBytesPerPartition ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
    allowAutoTopicCreation: true,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5_000 },
  });
  await consumer.connect();
  return consumer;
}

/** What a supervised consumer reads and how it handles it. */
export interface SupervisedConsumerSpec {
  /** Builds a connected consumer (not yet subscribed); called again for each rebuild. */
  create: () => Promise<Consumer>;
  subscribe: ConsumerSubscribeTopics;
  run: ConsumerRunConfig;
  /** Log component, e.g. 'dispatcher'. */
  name: string;
  logger: Logger;
  /** Each crash (kafkajs restarts the retriable ones itself; the rest are rebuilt here). */
  onCrash?: (err: unknown) => void;
  /** The consumer joined its group (after a start, a restart or a rebuild). */
  onJoin?: () => void;
}

export interface SupervisedConsumer {
  /** Stops the current consumer and any rebuild under way. */
  stop(): Promise<void>;
}

/**
 * A consumer group member that is never dead for good. kafkajs restarts a
 * consumer after a crash only when the error is retriable; after any other
 * crash (seen after a broker outage longer than the client's retries, and a
 * handler error such as a Mongo outage in the pump) it stays disconnected
 * and nothing consumes until the process restarts. Here such a consumer is
 * replaced: a new one is created, subscribed and run, with backoff while the
 * broker is still away. One line is logged when it dies and one when its
 * replacement runs. Offsets are whatever the group committed, so a rebuilt
 * consumer re-reads what was handled but not committed (handlers are
 * idempotent). The first start is awaited and throws as before.
 */
export async function runSupervisedConsumer(
  spec: SupervisedConsumerSpec,
): Promise<SupervisedConsumer> {
  const log = spec.logger.child({ component: spec.name });
  const dead = outage(log, spec.name, 'its Kafka consumer');
  let stopped = false;
  let current: Consumer | undefined;
  let rebuilding: Promise<void> | undefined;
  let wakeStop: () => void = () => undefined;
  const stopping = new Promise<void>((resolve) => (wakeStop = resolve));

  const start = async (): Promise<Consumer> => {
    const consumer = await spec.create();
    try {
      consumer.on(consumer.events.CRASH, (e) => {
        spec.onCrash?.(e.payload.error);
        if (!e.payload.restart && !stopped && consumer === current) {
          dead.failed(e.payload.error);
          rebuilding ??= rebuild().finally(() => (rebuilding = undefined));
        }
      });
      consumer.on(consumer.events.GROUP_JOIN, () => {
        if (consumer === current) dead.ok();
        spec.onJoin?.();
      });
      await consumer.subscribe(spec.subscribe);
      current = consumer;
      await consumer.run(spec.run);
      return consumer;
    } catch (err) {
      current = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
  };

  const rebuild = async (): Promise<void> => {
    const old = current;
    current = undefined;
    await old?.disconnect().catch(() => undefined);
    for (let attempt = 0; !stopped; attempt++) {
      await Promise.race([sleep(backoffMs(attempt)), stopping]);
      if (stopped) return;
      try {
        // a stop() meanwhile waits for this rebuild, then disconnects `current`
        await start();
        return;
      } catch (err) {
        dead.failed(err);
      }
    }
  };

  await start();
  return {
    async stop() {
      stopped = true;
      wakeStop();
      await rebuilding;
      await current?.disconnect();
    },
  };
}
