import type { Pool } from 'mysql2/promise';
import type { Config } from '../config/index.ts';
import { KurrentDbEventStore } from './kurrentdb.ts';
import { MysqlEventStore } from './mysql.ts';
import type { EventStore } from './types.ts';

/** The configured event store: MySQL (default) on the given pool, or KurrentDB. */
export async function openEventStore(
  config: Pick<Config, 'eventStore'>,
  pool: Pool,
): Promise<EventStore> {
  if (config.eventStore.kind === 'kurrentdb') {
    return new KurrentDbEventStore(config.eventStore.kurrentdbUrl!);
  }
  return MysqlEventStore.create(pool);
}
