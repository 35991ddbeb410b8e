// One connection of the MySQL event store's own that takes several
// statements in one packet, so that an append transaction (take the position
// lock, insert, commit) is a single round trip: the lock is then held only
// while the server runs those statements, never across a wait for this
// process's event loop. The shared pools stay one statement per query; this
// connection only ever runs SQL the store builds and escapes itself.
import mysql from 'mysql2/promise';
import type { Connection, Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Socket } from 'node:net';
import { coreConnectionOf } from '../clients/mysqlCore.ts';
import { internalField } from '../clients/internals.ts';

/** What mysql2 keeps of a pool's connection options (host, account, database, TLS). */
interface PoolConnectionConfig {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  socketPath?: string;
  ssl?: mysql.SslOptions | false;
  charsetNumber?: number;
  connectTimeout?: number;
}

function configOf(pool: Pool): PoolConnectionConfig {
  const options = internalField(pool.pool, 'config', 'connectionConfig');
  if (typeof options !== 'object' || options === null) {
    throw new Error('mysql2: no connection options on the pool');
  }
  return options as PoolConnectionConfig;
}

function socketOf(conn: Connection): Socket | undefined {
  return coreConnectionOf(conn).stream;
}

export class MultiStatementConnection {
  private readonly config: PoolConnectionConfig;
  private conn: Promise<Connection> | undefined;

  /** On the server, account and database of `pool`; connects on first use. */
  constructor(pool: Pool) {
    this.config = configOf(pool);
  }

  private open(): Promise<Connection> {
    const c = this.config;
    const opening = mysql
      .createConnection({
        host: c.host,
        port: c.port,
        user: c.user,
        password: c.password,
        database: c.database,
        socketPath: c.socketPath,
        ssl: c.ssl || undefined,
        charsetNumber: c.charsetNumber,
        connectTimeout: c.connectTimeout,
        multipleStatements: true,
        enableKeepAlive: true,
        trace: false,
      })
      .then((conn) => {
        // a connection the server or the network closed is replaced on next use
        conn.on('error', () => this.forget(opening));
        coreConnectionOf(conn).once('end', () => this.forget(opening));
        socketOf(conn)?.unref(); // idle, it does not keep the process alive
        return conn;
      });
    opening.catch(() => this.forget(opening));
    return opening;
  }

  private forget(conn: Promise<Connection>): void {
    if (this.conn === conn) this.conn = undefined;
  }

  /** Sends `sql` as one packet; with several statements, one result per statement. */
  async query(sql: string): Promise<(ResultSetHeader | RowDataPacket[])[]> {
    const current = (this.conn ??= this.open());
    const conn = await current;
    const socket = socketOf(conn);
    socket?.ref(); // an answer is awaited: keep the process alive for it
    try {
      const [results] = await conn.query<ResultSetHeader[] | RowDataPacket[][]>(sql);
      return results;
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) {
        this.forget(current);
        conn.destroy();
      }
      throw err;
    } finally {
      socket?.unref();
    }
  }

  /** Drops the connection (the server rolls back whatever it had open). */
  destroy(): void {
    const current = this.conn;
    this.conn = undefined;
    void current?.then((conn) => conn.destroy()).catch(() => undefined);
  }

  async end(): Promise<void> {
    const current = this.conn;
    this.conn = undefined;
    const conn = await current?.catch(() => undefined);
    await conn?.end().catch(() => conn.destroy());
  }
}
