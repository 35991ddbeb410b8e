// MySQL tables of the processors: parked receipts (their checkpoints are in
// platform/checkpoints), plus the name of the leadership lock that lets one
// process at a time run a singleton processor.
import type { MysqlPool } from '../platform/clients/index.ts';
import { ensureCheckpoints } from '../platform/checkpoints/index.ts';
import type { MysqlLockName } from '../platform/locks/index.ts';

export const processorSchema = [
  `CREATE TABLE IF NOT EXISTS parked_receipts (
    event_id VARCHAR(64) NOT NULL PRIMARY KEY,
    account VARCHAR(64) NOT NULL,
    receipt JSON NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_at TIMESTAMP(3) NOT NULL,
    parked_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    KEY parked_receipts_next (next_at)
  ) ENGINE=InnoDB`,
];

const ready = new WeakSet<MysqlPool>();

export async function ensureProcessorSchema(pool: MysqlPool): Promise<void> {
  if (ready.has(pool)) return;
  await ensureCheckpoints(pool);
  for (const sql of processorSchema) await pool.query(sql);
  ready.add(pool);
}

/**
 * The processors' leadership lock (platform/singleInstance takes it): MySQL
 * GET_LOCK on a connection of its own, named after the database so test
 * databases do not share locks. The lock dies with the connection (a killed
 * process frees it at once; a restarted server frees them all, and the holder
 * takes it again).
 */
export const leadershipLock = (name: string): MysqlLockName => ({
  nameSql: 'LEFT(CONCAT(DATABASE(), ?), 64)',
  params: [`:${name}`],
});
