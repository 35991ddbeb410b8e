// MySQL tables of the processors: checkpoints and parked receipts, plus a
// leadership lock so one process at a time runs a singleton processor.
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MysqlPool } from '../platform/clients/index.ts';

export const processorSchema = [
  `CREATE TABLE IF NOT EXISTS processor_checkpoints (
    name VARCHAR(100) NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB`,
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
  for (const sql of processorSchema) await pool.query(sql);
  ready.add(pool);
}

export async function loadCheckpoint(pool: MysqlPool, name: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT position FROM processor_checkpoints WHERE name = ?',
    [name],
  );
  return rows[0] ? Number(rows[0].position) : 0;
}

export async function saveCheckpoint(
  db: MysqlPool | PoolConnection,
  name: string,
  position: number,
): Promise<void> {
  // GREATEST: a checkpoint never moves backwards.
  await db.query(
    `INSERT INTO processor_checkpoints (name, position) VALUES (?, ?)
     ON DUPLICATE KEY UPDATE position = GREATEST(position, VALUES(position))`,
    [name, position],
  );
}

export interface Leadership {
  /** Resolves true once this process holds the lock, false if closed first. */
  acquired: Promise<boolean>;
  /** False once the lock's connection was lost. */
  readonly held: boolean;
  /** Stop trying to acquire (acquired resolves false if not held yet). */
  abandon(): void;
  release(): Promise<void>;
}

/**
 * MySQL GET_LOCK on a connection of its own, named after the database so
 * test databases do not share locks. The lock dies with the connection (a
 * killed process frees it at once).
 */
export function acquireLeadership(pool: MysqlPool, name: string, retryMs = 500): Leadership {
  let closed = false;
  let held = false;
  let conn: PoolConnection | undefined;
  const acquired = (async () => {
    while (!closed) {
      try {
        conn ??= await pool.getConnection();
        const [rows] = await conn.query<RowDataPacket[]>(
          'SELECT GET_LOCK(LEFT(CONCAT(DATABASE(), ?), 64), 1) AS ok',
          [`:${name}`],
        );
        if (Number(rows[0]?.ok) === 1) {
          held = true;
          conn.connection.once('error', () => (held = false));
          return true;
        }
      } catch {
        conn?.destroy();
        conn = undefined;
      }
      if (!closed) await new Promise((r) => setTimeout(r, retryMs));
    }
    return false;
  })();
  return {
    acquired,
    get held() {
      return held;
    },
    abandon() {
      closed = true;
    },
    async release() {
      closed = true;
      await acquired.catch(() => false);
      if (conn) {
        try {
          if (held)
            await conn.query('SELECT RELEASE_LOCK(LEFT(CONCAT(DATABASE(), ?), 64))', [`:${name}`]);
        } catch {
          // the lock goes with the connection anyway
        }
        conn.release();
        conn = undefined;
      }
      held = false;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
