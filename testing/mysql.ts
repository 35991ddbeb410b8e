import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

export const mysqlUrl =
  process.env.STREAMING_MYSQL_URL ?? 'mysql://streaming:streaming@127.0.0.1:3306/streaming';

export interface TestDatabase {
  name: string;
  url: string;
  pool: mysql.Pool;
  drop(): Promise<void>;
}

/** A database of its own for one test file, dropped afterwards: tests never share rows. */
export async function freshDatabase(prefix: string, poolSize = 20): Promise<TestDatabase> {
  const name = `streaming_t_${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(mysqlUrl);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.end();
  const url = new URL(mysqlUrl);
  url.pathname = `/${name}`;
  const pool = mysql.createPool({
    uri: url.toString(),
    connectionLimit: poolSize,
    timezone: 'Z',
    supportBigNumbers: true,
  });
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      const conn = await mysql.createConnection(mysqlUrl);
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}
