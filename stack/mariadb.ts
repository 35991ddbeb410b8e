import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StackConfig } from './config.ts';
import { runLogged, startDetached, StackError, which } from './proc.ts';
import type { Ctx, Needs, Service } from './service.ts';

type Conn = {
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
};

async function connect(opts: {
  host?: string;
  port?: number;
  socketPath?: string;
  user: string;
  password?: string;
  database?: string;
  timeoutMs: number;
}): Promise<Conn> {
  const mysql = (await import('mysql2/promise')).default;
  return mysql.createConnection({
    host: opts.host,
    port: opts.port,
    socketPath: opts.socketPath,
    user: opts.user,
    password: opts.password ?? '',
    database: opts.database,
    connectTimeout: opts.timeoutMs,
    multipleStatements: false,
  });
}

async function select1(conn: Conn): Promise<void> {
  try {
    await conn.query('SELECT 1');
  } finally {
    await conn.end().catch(() => undefined);
  }
}

function bootstrapSql(cfg: StackConfig): string[] {
  const { database: db, user, password } = cfg.mariadb;
  const pw = password.replace(/'/g, "''");
  return [
    `CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    ...['%', 'localhost'].flatMap((h) => [
      `CREATE USER IF NOT EXISTS '${user}'@'${h}' IDENTIFIED BY '${pw}'`,
      `ALTER USER '${user}'@'${h}' IDENTIFIED BY '${pw}'`,
      `GRANT ALL PRIVILEGES ON \`${db}\`.* TO '${user}'@'${h}'`,
      // scratch databases for tests: streaming_test, streaming_it_42, ...
      `GRANT ALL PRIVILEGES ON \`${db}\\_%\`.* TO '${user}'@'${h}'`,
    ]),
    // root over TCP without a password (local test stack only; we bind to 127.0.0.1)
    `CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'`,
    `GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION`,
    'FLUSH PRIVILEGES',
  ];
}

function mariadbPaths(cfg: StackConfig) {
  const home = path.join(cfg.dir, 'mariadb');
  const datadir = path.join(home, 'data');
  return {
    home,
    datadir,
    marker: path.join(datadir, '.streaming-initialized'),
    socket: path.join(home, 'mariadb.sock'),
    logFile: path.join(home, 'mariadbd.log'),
    pidFile: path.join(cfg.dir, 'mariadb.pid'),
    osUser: os.userInfo().username,
  };
}
type Paths = ReturnType<typeof mariadbPaths>;

const server = (): string | undefined => which('mariadbd', 'mysqld');
const installDb = (): string | undefined => which('mariadb-install-db', 'mysql_install_db');

/** Our user can log in to our database over TCP. */
async function probeUser(cfg: StackConfig, timeoutMs: number): Promise<void> {
  const { port, database, user, password } = cfg.mariadb;
  return select1(await connect({ host: cfg.host, port, user, password, database, timeoutMs }));
}

/** A fresh datadir, marked as initialised once mariadb-install-db succeeded. */
async function initDatadir(p: Paths, ctx: Ctx): Promise<void> {
  const { datadir, osUser, home, marker } = p;
  // a datadir without our marker is a half-finished initialisation: start over
  fs.rmSync(datadir, { recursive: true, force: true });
  fs.mkdirSync(datadir, { recursive: true });
  const t0 = Date.now();
  ctx.say(`initialising datadir ${datadir}`);
  await runLogged(
    'mariadb-install-db',
    installDb() as string,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      `--user=${osUser}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ],
    path.join(home, 'install-db.log'),
  );
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
  ctx.say(`datadir initialised in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function serverArgs(cfg: StackConfig, p: Paths, tmp: string): string[] {
  const { datadir, socket, osUser, home, logFile } = p;
  const { port } = cfg.mariadb;
  return [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    `--bind-address=${cfg.host}`,
    `--user=${osUser}`,
    `--pid-file=${path.join(home, 'mariadbd.pid')}`,
    `--log-error=${logFile}`,
    `--tmpdir=${tmp}`,
    '--skip-name-resolve',
    '--innodb-flush-log-at-trx-commit=1',
    '--max-connections=500',
    '--innodb-buffer-pool-size=1G',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
  ];
}

/** Our database and user on the server (on someone else's, best effort). */
async function bootstrap(cfg: StackConfig, p: Paths, ctx: Ctx, external: boolean): Promise<void> {
  const { port, database, user, password } = cfg.mariadb;
  const { socket } = p;
  const probe = (timeoutMs: number) => probeUser(cfg, timeoutMs);
  if (external) {
    // Someone else's server: it is fine if our user already works; otherwise try root
    // without a password over TCP (CI images) and create database + user, best effort.
    try {
      await probe(3000);
      return;
    } catch {
      // fall through
    }
  }
  const conn = external
    ? await connect({ host: cfg.host, port, user: 'root', timeoutMs: 3000 }).catch((err: Error) => {
        ctx.say(
          `WARNING: cannot log in as ${user}/${password} nor as root without password (${err.message}); create database ${database} and user ${user} yourself`,
        );
        return undefined;
      })
    : await connect({ socketPath: socket, user: 'root', timeoutMs: 5000 });
  if (!conn) return;
  try {
    for (const sql of bootstrapSql(cfg)) await conn.query(sql);
  } finally {
    await conn.end().catch(() => undefined);
  }
  await probe(5000);
}

export function mariadb(cfg: StackConfig): Service {
  const p = mariadbPaths(cfg);
  const { home, datadir, marker, socket, logFile, pidFile } = p;
  const { port, database, user, password } = cfg.mariadb;
  const probe = (timeoutMs: number) => probeUser(cfg, timeoutMs);

  return {
    name: 'mariadb',
    port,
    marker: datadir,
    pidFile,
    logFile,
    readyTimeoutMs: 90_000,
    describe: () => `(database ${database}, user ${user}/${password})`,
    probe,
    // before bootstrap only root@localhost exists: ask over our socket
    readyProbe: async (timeoutMs) =>
      select1(await connect({ socketPath: socket, user: 'root', timeoutMs })),

    async needs(): Promise<Needs> {
      return server() && installDb()
        ? { debs: [], missing: [] }
        : { debs: ['mariadb-server'], missing: [] };
    },

    async prepare(ctx: Ctx): Promise<void> {
      await ctx.apt();
      if (!server() || !installDb()) {
        throw new StackError(
          'mariadbd/mariadb-install-db still missing after apt-get install mariadb-server',
        );
      }
      if (fs.existsSync(marker)) return;
      await initDatadir(p, ctx);
    },

    start(ctx: Ctx) {
      const tmp = path.join(home, 'tmp');
      fs.mkdirSync(tmp, { recursive: true });
      fs.rmSync(socket, { force: true });
      ctx.say(`starting mariadbd on ${cfg.host}:${port}`);
      return startDetached(server() as string, serverArgs(cfg, p, tmp), { logFile, pidFile });
    },

    afterReady: (ctx: Ctx, external: boolean) => bootstrap(cfg, p, ctx, external),
  };
}
