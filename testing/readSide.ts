// The read side under test: its own MySQL database (with the event store in
// it), its own Mongo database and its own Redis key prefix.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { loadConfig, type Config } from '../platform/config/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import { MysqlEventStore } from '../platform/eventStore/index.ts';
import type { ProjectorDeps } from '../projectors/index.ts';
import { freshDatabase, type TestDatabase } from './mysql.ts';
import { dropReadModelDatabases } from '../platform/readModels/index.ts';

/** Shared Redis database: tests keep to their own key prefix there. */
export const REDIS_URL = 'redis://127.0.0.1:6379/0';
/** The Redis database this area owns exclusively: the only one a test may flush. */
export const OWN_REDIS_URL = 'redis://127.0.0.1:6379/3';

export interface ReadSide {
  deps: ProjectorDeps & { eventStore: MysqlEventStore };
  config: Config;
  database: TestDatabase;
  mongoName: string;
  drop(): Promise<void>;
}

export async function readSide(
  prefix: string,
  env: Record<string, string> = {},
  redisUrl = REDIS_URL,
  poolSize?: number,
): Promise<ReadSide> {
  const database = await freshDatabase(prefix, poolSize);
  const mongoName = `streaming_t_${prefix}_${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    STREAMING_MYSQL_URL: database.url,
    STREAMING_REDIS_URL: redisUrl,
    STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${mongoName}`,
    STREAMING_LOG_LEVEL: 'warn',
    ...env,
  });
  const logger = createLogger(config);
  const eventStore = await MysqlEventStore.create(database.pool, { pollIntervalMs: 20 });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  const client = new MongoClient(config.mongo.url, { retryWrites: false });
  const db = client.db(mongoName);
  const deps = {
    config,
    logger,
    eventStore,
    mysql: database.pool,
    redis,
    mongo: { client, db },
    redisPrefix: `t:${randomBytes(4).toString('hex')}:`,
  };
  return {
    deps,
    config,
    database,
    mongoName,
    async drop() {
      await eventStore.close();
      const keys = await redis.keys(`${deps.redisPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      await dropReadModelDatabases(db).catch(() => undefined);
      await client.close();
      await database.drop();
    },
  };
}

export { appendWorkload, type Workload } from './workload.ts';
