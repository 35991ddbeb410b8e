// The shared runtime of every streaming process: configuration, logger and
// the clients of the real services, opened once and closed in reverse order.
import type { Pool } from 'mysql2/promise';
import type { Redis } from 'ioredis';
import type { Db, MongoClient } from 'mongodb';
import type { Kafka } from 'kafkajs';
import { createPublisher, type Publisher } from '../platform/bus/index.ts';
import type { Logger } from 'winston';
import { loadConfig, type Config } from '../platform/config/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import {
  createKafka,
  createMongo,
  createMysqlPool,
  createRedis,
} from '../platform/clients/index.ts';
import { openEventStore, type EventStore } from '../platform/eventStore/index.ts';
import { kafkaTracker, noTracker, type Tracker } from '../platform/tracking/index.ts';
import { createPipeline, outage, type Pipeline } from '../platform/health/index.ts';

export interface Runtime {
  config: Config;
  logger: Logger;
  mysql: Pool;
  eventStore: EventStore;
  redis: Redis;
  mongo: { client: MongoClient; db: Db };
  kafka: Kafka;
  tracker: Tracker;
  /** What the processors and projections of this process report to /readyz. */
  pipeline: Pipeline;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  service: string;
  /** Publish tracking events to Kafka (services do; one-shot tools need not). */
  tracking?: boolean;
  config?: Config;
}

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const config = options.config ?? loadConfig();
  const logger = createLogger(config, { name: options.service });
  const mysql = createMysqlPool(config);
  const eventStore = await openEventStore(config, mysql);
  const redis = createRedis(config, logger);
  const mongo = createMongo(config, logger);
  await mongo.client.connect();
  const kafka = createKafka(config, logger);
  let producer: Publisher | undefined;
  let tracker: Tracker = noTracker;
  if (options.tracking) {
    // connects on its first publish, so a service starts while Kafka is down
    producer = createPublisher(config, { name: `${options.service}-tracking`, logger });
    const kafkaOutage = outage(logger, options.service, 'kafka (tracking events are buffered)');
    tracker = kafkaTracker(producer, options.service, {
      topic: config.kafka.trackingTopic,
      onError: (err) => kafkaOutage.failed(err),
      onRecovered: ({ dropped }) => {
        kafkaOutage.ok();
        if (dropped > 0)
          logger.warn('tracking events dropped during the Kafka outage', { dropped });
      },
    });
  }
  return {
    config,
    logger,
    mysql,
    eventStore,
    redis,
    mongo,
    kafka,
    tracker,
    pipeline: createPipeline(),
    async close() {
      await tracker.close().catch(() => undefined);
      await producer?.close().catch(() => undefined);
      await eventStore.close().catch(() => undefined);
      mongo.stopWatchdog?.();
      await mongo.client.close().catch(() => undefined);
      redis.disconnect();
      await mysql.end().catch(() => undefined);
    },
  };
}

/** Opens a runtime for a one-shot tool, runs fn, and closes it whatever happens. */
export async function withRuntime<T>(service: string, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime({ service });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}
