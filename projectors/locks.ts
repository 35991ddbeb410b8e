// One active instance per projection across processes: a MySQL named lock
// held on a dedicated connection. A second, short lock per batch lets a
// replay pause the live projector while it swaps read models.
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { MysqlPool } from '../platform/clients/index.ts';

export const instanceLock = (id: string): string => `projection:${id}`;
export const applyLock = (id: string): string => `projection-apply:${id}`;

export interface HeldConnection {
  conn: PoolConnection;
  release(): Promise<void>;
}

// MySQL named locks are server-wide: each is scoped to the connection's
// database, whose read models it guards (64 characters at most: a digest).
export const lockNameSql = "CONCAT(?, ':', LEFT(SHA1(IFNULL(DATABASE(), '')), 16))";
const scoped = lockNameSql;

/** GET_LOCK with a timeout in seconds; true when acquired. */
export async function getLock(
  conn: PoolConnection,
  name: string,
  seconds: number,
): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT GET_LOCK(${scoped}, ?) AS got`, [
    name,
    seconds,
  ]);
  return Number(rows[0]?.got) === 1;
}

export async function releaseLock(conn: PoolConnection, name: string): Promise<void> {
  await conn.query(`SELECT RELEASE_LOCK(${scoped})`, [name]);
}

/** Runs work while holding `name` on a connection of its own (waiting up to `seconds`). */
export async function withLock<T>(
  pool: MysqlPool,
  name: string,
  seconds: number,
  work: () => Promise<T>,
): Promise<T> {
  const conn = await pool.getConnection();
  try {
    if (!(await getLock(conn, name, seconds))) {
      throw new Error(`could not take the lock ${name} within ${seconds} s`);
    }
    try {
      return await work();
    } finally {
      await releaseLock(conn, name).catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}
