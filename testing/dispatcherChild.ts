// A dispatcher in a process of its own, for the crash test: config from
// STREAMING_* variables, processor options from DISPATCH_OPTIONS (JSON).
// DISPATCH_CHILD_RUN=all runs every processor (relay, timers, receipts,
// dispatcher) instead, as the benchmark's processors service;
// DISPATCH_CHILD_POOL sets the MySQL pool size (default 20).
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createKafka } from '../platform/clients/index.ts';
import { loadConfig } from '../platform/config/index.ts';
import { MysqlEventStore } from '../platform/eventStore/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import { noTracker } from '../platform/tracking/index.ts';
import { startDispatcher, startProcessors } from '../processors/index.ts';

const config = loadConfig(process.env);
const pool = mysql.createPool({
  uri: config.mysql.url,
  connectionLimit: Number(process.env.DISPATCH_CHILD_POOL ?? 20),
  timezone: 'Z',
});
const eventStore = await MysqlEventStore.create(pool, { pollIntervalMs: 20 });
const redis = new Redis(config.redis.url);
const logger = createLogger({ logLevel: 'error' });
const start = process.env.DISPATCH_CHILD_RUN === 'all' ? startProcessors : startDispatcher;
const running = await start({
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
