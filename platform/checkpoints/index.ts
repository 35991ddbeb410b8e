// The one MySQL checkpoint table: how far each checkpointed reader of the
// event store has got (the processors, the MySQL projections and their
// builds, the jobs' index), one row per name. A Mongo projection keeps its
// checkpoint beside its documents instead (projectors/mongoModels.ts), since
// it must commit with them.
//
// Until this table, there were three (processor_checkpoints,
// projection_checkpoints, job_checkpoints). ensureCheckpoints() creates this
// one and carries the rows of any of those it finds over, then drops them,
// under a named lock, before anything reads a checkpoint: an upgraded
// system goes on from the same positions. The copy keeps the greater of two
// positions, so a copy interrupted before the drop is simply done again.
// Stop the old processes before the new ones start: an old process still
// running would write to a table that is gone.
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MysqlPool } from '../clients/index.ts';
import { DATABASE_SCOPED_NAME_SQL, withMysqlLock } from '../locks/index.ts';

export const CHECKPOINT_TABLE = 'checkpoints';

/** The tables this one replaced; carried over and dropped by ensureCheckpoints. */
export const LEGACY_CHECKPOINT_TABLES = [
  'processor_checkpoints',
  'projection_checkpoints',
  'job_checkpoints',
] as const;

const ddl = `CREATE TABLE IF NOT EXISTS ${CHECKPOINT_TABLE} (
  name VARCHAR(190) NOT NULL PRIMARY KEY,
  position BIGINT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;

type Db = MysqlPool | PoolConnection;

const ready = new WeakMap<MysqlPool, Promise<void>>();

/** Creates the table and carries the legacy tables over, once per pool (again after a failure). */
export function ensureCheckpoints(pool: MysqlPool): Promise<void> {
  let done = ready.get(pool);
  if (!done) {
    done = createAndCarryOver(pool);
    ready.set(pool, done);
    done.catch(() => ready.delete(pool));
  }
  return done;
}

async function createAndCarryOver(pool: MysqlPool): Promise<void> {
  await pool.query(ddl);
  if ((await legacyTablesPresent(pool)).length === 0) return;
  await withMysqlLock(
    pool,
    { nameSql: DATABASE_SCOPED_NAME_SQL, params: ['checkpoints-migration'], waitSeconds: 30 },
    async () => {
      // another process may have done it while this one waited for the lock
      for (const table of await legacyTablesPresent(pool)) {
        await pool.query(
          `INSERT INTO ${CHECKPOINT_TABLE} (name, position, updated_at)
           SELECT name, position, UTC_TIMESTAMP(6) FROM \`${table}\`
           ON DUPLICATE KEY UPDATE position = GREATEST(${CHECKPOINT_TABLE}.position, VALUES(position))`,
        );
        await pool.query(`DROP TABLE \`${table}\``);
      }
    },
  );
}

async function legacyTablesPresent(pool: MysqlPool): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)',
    [LEGACY_CHECKPOINT_TABLES],
  );
  return rows.map((r) => String(r.name));
}

/** The position of `name` (0 when it has none); `forUpdate` locks its row in the caller's transaction. */
export async function readCheckpoint(db: Db, name: string, forUpdate = false): Promise<number> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT position FROM ${CHECKPOINT_TABLE} WHERE name = ?${forUpdate ? ' FOR UPDATE' : ''}`,
    [name],
  );
  return Number(rows[0]?.position ?? 0);
}

/** The positions of several names; a name without a row is left out. */
export async function readCheckpoints(db: Db, names: string[]): Promise<Map<string, number>> {
  if (names.length === 0) return new Map();
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT name, position FROM ${CHECKPOINT_TABLE} WHERE name IN (?)`,
    [names],
  );
  return new Map(rows.map((r) => [String(r.name), Number(r.position)]));
}

/** Moves `name` forward to `position`; a checkpoint never moves backwards. */
export async function saveCheckpoint(db: Db, name: string, position: number): Promise<void> {
  await db.query(
    `INSERT INTO ${CHECKPOINT_TABLE} (name, position, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))
     ON DUPLICATE KEY UPDATE position = GREATEST(position, VALUES(position)), updated_at = VALUES(updated_at)`,
    [name, position],
  );
}

/** Sets `name` to `position`, backwards too (a blue/green swap hands a build's position on). */
export async function setCheckpoint(db: Db, name: string, position: number): Promise<void> {
  await db.query(
    `INSERT INTO ${CHECKPOINT_TABLE} (name, position, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))
     ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)`,
    [name, position],
  );
}

/** Gives `name` a row at 0 if it has none, so that a transaction can lock it without gap locks. */
export async function initCheckpoint(db: Db, name: string): Promise<void> {
  await db.query(
    `INSERT IGNORE INTO ${CHECKPOINT_TABLE} (name, position, updated_at) VALUES (?, 0, UTC_TIMESTAMP(6))`,
    [name],
  );
}

export async function deleteCheckpoint(db: Db, name: string): Promise<void> {
  await db.query(`DELETE FROM ${CHECKPOINT_TABLE} WHERE name = ?`, [name]);
}
