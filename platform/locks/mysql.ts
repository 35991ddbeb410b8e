// A MySQL named lock held on a connection of its own, watched: it is lost
// when that connection fails or ends (a server restart takes every named lock
// with it) or when a heartbeat finds the lock is no longer this connection's.
// The holder then stops its work and takes the lock again, from its
// checkpoint, once the server answers.
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { coreConnectionOf, type MysqlPool } from '../clients/index.ts';

export interface MysqlLockSession {
  /** The connection that holds the lock (do not release it yourself). */
  readonly conn: PoolConnection;
  /** True until the lock is lost or released. */
  readonly held: boolean;
  /** Resolves with the reason once the lock is lost (or released). */
  readonly lost: Promise<string>;
  /** Runs a query on the lock's connection; a connection error marks the lock lost. */
  query<T extends RowDataPacket[]>(sql: string, params?: unknown[]): Promise<T>;
  /** Releases the lock and the connection (destroyed when it failed). Idempotent. */
  release(): Promise<void>;
}

export interface MysqlLockOptions {
  /** SQL expression of the lock name, with its `?` params (it may use DATABASE()). */
  nameSql: string;
  params: unknown[];
  /** How long GET_LOCK waits, in seconds (0: try once). */
  waitSeconds: number;
  /**
   * How often the lock is checked to still be ours (default 5 s). A broken
   * connection is noticed at once (its error and end events); the check is
   * for a lock lost without them, and each is a statement on an idle system.
   */
  heartbeatMs?: number;
}

/** A named lock (its SQL name expression and params) on a connection the caller holds. */
export type MysqlLockName = Pick<MysqlLockOptions, 'nameSql' | 'params'>;

/**
 * MySQL named locks are server-wide: a name scoped to the connection's database, whose
 * rows the lock guards (64 characters at most: a digest of the database name).
 */
export const DATABASE_SCOPED_NAME_SQL = "CONCAT(?, ':', LEFT(SHA1(IFNULL(DATABASE(), '')), 16))";

/** GET_LOCK on a connection, waiting up to `waitSeconds`; true when taken. */
export async function getNamedLock(
  conn: PoolConnection,
  name: MysqlLockName,
  waitSeconds: number,
): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT GET_LOCK(${name.nameSql}, ?) AS got`, [
    ...name.params,
    waitSeconds,
  ]);
  return Number(rows[0]?.got) === 1;
}

/** RELEASE_LOCK on the connection that took it. */
export async function releaseNamedLock(conn: PoolConnection, name: MysqlLockName): Promise<void> {
  await conn.query(`SELECT RELEASE_LOCK(${name.nameSql})`, name.params);
}

/** Runs work while holding the lock (waiting up to waitSeconds for it); throws when it stays busy. */
export async function withMysqlLock<T>(
  pool: MysqlPool,
  options: MysqlLockOptions,
  work: () => Promise<T>,
): Promise<T> {
  const session = await tryMysqlLock(pool, options);
  if (!session) {
    throw new Error(
      `could not take the lock ${String(options.params[0])} within ${options.waitSeconds} s`,
    );
  }
  try {
    return await work();
  } finally {
    await session.release();
  }
}

/**
 * Takes a connection and tries to take the lock on it. Undefined when another
 * connection holds it; throws when the server cannot be reached.
 */
export async function tryMysqlLock(
  pool: MysqlPool,
  options: MysqlLockOptions,
): Promise<MysqlLockSession | undefined> {
  const conn = await pool.getConnection();
  let got: boolean;
  try {
    got = await getNamedLock(conn, options, options.waitSeconds);
  } catch (err) {
    conn.destroy();
    throw err;
  }
  if (!got) {
    conn.release();
    return undefined;
  }
  return watchedSession(conn, options);
}

/** The session of a lock just taken on `conn`: watched for its loss until released. */
function watchedSession(conn: PoolConnection, options: MysqlLockOptions): MysqlLockSession {
  let held = true;
  let broken = false;
  let resolveLost: (reason: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => (resolveLost = resolve));
  const lose = (reason: string, connectionBroken: boolean) => {
    broken ||= connectionBroken;
    if (!held) return;
    held = false;
    clearInterval(timer);
    resolveLost(reason);
  };
  const raw = coreConnectionOf(conn);
  const onError = (err: Error) => lose(`lock connection failed: ${err.message}`, true);
  const onEnd = () => lose('lock connection ended', true);
  raw.on('error', onError);
  raw.on('end', onEnd);

  const query = async <T extends RowDataPacket[]>(sql: string, params: unknown[] = []) => {
    try {
      const [rows] = await conn.query<T>(sql, params);
      return rows;
    } catch (err) {
      // Not an SQL error of the statement itself: the connection is gone.
      if ((err as { fatal?: boolean }).fatal || !held)
        lose(`lock connection failed: ${String(err)}`, true);
      throw err;
    }
  };

  let beating = false;
  const timer = setInterval(() => {
    if (beating || !held) return;
    beating = true;
    query<RowDataPacket[]>(`SELECT IS_USED_LOCK(${options.nameSql}) = CONNECTION_ID() AS mine`, [
      ...options.params,
    ])
      .then((rows) => {
        if (Number(rows[0]?.mine) !== 1)
          lose('the lock is no longer held by this connection', false);
      })
      .catch((err: unknown) => lose(`lock heartbeat failed: ${String(err)}`, true))
      .finally(() => (beating = false));
  }, options.heartbeatMs ?? 5_000);
  timer.unref();

  let released: Promise<void> | undefined;
  return {
    conn,
    get held() {
      return held;
    },
    lost,
    query,
    release() {
      released ??= (async () => {
        const wasHeld = held;
        lose('released', false);
        raw.off('error', onError);
        raw.off('end', onEnd);
        if (wasHeld && !broken) {
          try {
            await releaseNamedLock(conn, options);
          } catch {
            broken = true; // the lock goes with the connection anyway
          }
        }
        if (broken) conn.destroy();
        else conn.release();
      })();
      return released;
    },
  };
}
