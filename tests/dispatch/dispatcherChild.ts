// A dispatcher in a process of its own, for the crash test: config from
// STREAMING_* variables, processor options from DISPATCH_OPTIONS (JSON).
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createKafka } from '../../platform/clients/index.ts';
import { loadConfig } from '../../platform/config/index.ts';
import { MysqlEventStore } from '../../platform/eventStore/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { noTracker } from '../../platform/tracking/index.ts';
import { startDispatcher } from '../../processors/index.ts';

const config = loadConfig(process.env);
const pool = mysql.createPool({ uri: config.mysql.url, connectionLimit: 20, timezone: 'Z' });
const eventStore = await MysqlEventStore.create(pool, { pollIntervalMs: 20 });
const redis = new Redis(config.redis.url);
const logger = createLogger({ logLevel: 'error' });
const running = await startDispatcher({
  config,
  logger,
  eventStore,
  mysql: pool,
  redis,
  kafka: createKafka(config),
  tracker: noTracker,
  options: JSON.parse(process.env.DISPATCH_OPTIONS ?? '{}') as Record<string, never>,
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void running.close().then(async () => {
    await eventStore.close();
    await pool.end();
    redis.disconnect();
    process.exit(0);
  });
});
