// Child process for the crash test: runs every projector over the database
// named by the environment, in small batches, until it is killed.
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../../platform/config/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { MysqlEventStore } from '../../platform/eventStore/index.ts';
import { startProjectors } from '../../projectors/index.ts';

const env = process.env;
const config = loadConfig({
  STREAMING_MYSQL_URL: env.CHILD_MYSQL_URL!,
  STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${env.CHILD_MONGO_DB!}`,
  STREAMING_REDIS_URL: env.CHILD_REDIS_URL!,
  STREAMING_LOG_LEVEL: 'error',
});
const pool = mysql.createPool({
  uri: config.mysql.url,
  connectionLimit: 12,
  timezone: 'Z',
  supportBigNumbers: true,
});
const client = new MongoClient(config.mongo.url, { retryWrites: false });
const running = startProjectors(
  {
    config,
    logger: createLogger(config),
    eventStore: await MysqlEventStore.create(pool, { pollIntervalMs: 20 }),
    mysql: pool,
    redis: new Redis(config.redis.url),
    mongo: { client, db: client.db(env.CHILD_MONGO_DB!) },
    redisPrefix: env.CHILD_REDIS_PREFIX!,
  },
  { maxBatch: Number(env.CHILD_BATCH ?? '7'), maxWaitMs: 1 },
);
process.stdout.write('started\n');
setInterval(() => {
  process.stdout.write(`${running.projections.map((p) => p.position).join(',')}\n`);
}, 20);
