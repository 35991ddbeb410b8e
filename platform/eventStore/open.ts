import type { Pool } from 'mysql2/promise';
import { redisPrefixOf, type Config } from '../config/index.ts';
import { KurrentDbEventStore } from './kurrentdb.ts';
import { MysqlEventStore } from './mysql.ts';
import type { EventStore } from './types.ts';
import { redisAppendWakes, wakeChannel } from './wakes.ts';

/**
 * The configured event store: MySQL (default) on the given pool, its
 * subscriptions woken through the configured Redis when another process
 * commits (wakes.ts), or KurrentDB (which pushes by itself).
 */
export async function openEventStore(
  config: Pick<Config, 'eventStore' | 'mysql' | 'redis'>,
  pool: Pool,
): Promise<EventStore> {
  if (config.eventStore.kind === 'kurrentdb') {
    return new KurrentDbEventStore(config.eventStore.kurrentdbUrl!);
  }
  const wakes = redisAppendWakes({
    url: config.redis.url,
    channel: wakeChannel(redisPrefixOf({ config }), config.mysql.url),
  });
  return MysqlEventStore.create(pool, { wakes });
}
