// The send benchmarks' shared setup, so that bench/accept.ts (HTTP),
// bench/grpcAccept.ts (gRPC next to HTTP) and bench/lagUnderAccept.ts measure
// the same thing the same way: the service in a child process on a fresh
// MySQL database and its own Redis prefix; a fresh tenant with one template
// that carries every kind of limit (approved through the deciders, as the
// vendors would); sends to random mobiles so that the per-mobile limits do
// not bite; the figures written to bench/results/ with the command and the
// machine's load average.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createMongo } from '../platform/clients/index.ts';
import { loadConfig, type Config } from '../platform/config/index.ts';
import { MysqlEventStore } from '../platform/eventStore/index.ts';
import { createLogger, type Logger } from '../platform/logger/index.ts';
import { noTracker } from '../platform/tracking/index.ts';
import { approveTemplate } from '../testing/approvals.ts';
import { freshDatabase, type TestDatabase } from '../testing/mysql.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** `--name <number>` from the command line, else `def`. */
export function numberArg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
export function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

export const randomMobile = () => `13${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;

/** One send of the benchmark: the template to a random mobile with fresh params. */
export const sendBody = (templateCode: string) => ({
  templateCode,
  mobile: randomMobile(),
  params: { order: randomBytes(4).toString('hex') },
});

/**
 * The send benchmarks' template policy: every kind of limit is reserved on
 * each send (one Lua script in Redis); random mobiles keep the per-mobile
 * limits from biting.
 */
export const benchPolicy = {
  mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 },
  template: { maxPerDay: 100_000_000 },
  tenant: { maxPerDay: 100_000_000 },
};

export interface BenchTenant {
  token: string;
  templateCode: string;
}

/**
 * A fresh user on the command service at `base` and its template; `approve`
 * records the vendors' approval of it and its signature (no reviewer runs here).
 */
export async function benchTenant(
  base: string,
  approve: (templateCode: string) => Promise<void>,
): Promise<BenchTenant> {
  const username = `bench${randomBytes(3).toString('hex')}`;
  await post(`${base}/v1/users`, { username, password: 'benchmark password' });
  const { token } = (await post(`${base}/v1/sessions`, {
    username,
    password: 'benchmark password',
  })) as { token: string };
  const { templateCode } = (await post(
    `${base}/v1/templates`,
    {
      name: 'bench',
      kind: 'notification',
      signature: 'Bench',
      content: 'Order ${order} shipped.',
      policy: benchPolicy,
    },
    token,
  )) as { templateCode: string };
  await approve(templateCode);
  return { token, templateCode };
}

/** POST /v1/messages for `duration` seconds over `connections` keep-alive connections (autocannon). */
export function httpSendLoad(
  base: string,
  tenant: BenchTenant,
  options: { connections: number; duration: number },
): Promise<autocannon.Result> {
  return autocannon({
    url: `${base}/v1/messages`,
    connections: options.connections,
    duration: options.duration,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tenant.token}` },
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: JSON.stringify(sendBody(tenant.templateCode)) }),
      },
    ],
  });
}

/** A fresh tenant, then the HTTP send load (bench/accept.ts, bench/lagUnderAccept.ts). */
export async function sendLoad(
  base: string,
  options: {
    connections: number;
    duration: number;
    beforeLoad?: () => void;
    beforeLoadAsync?: () => Promise<void>;
    approve: (templateCode: string) => Promise<void>;
  },
): Promise<autocannon.Result> {
  const tenant = await benchTenant(base, options.approve);
  await options.beforeLoadAsync?.();
  options.beforeLoad?.();
  return httpSendLoad(base, tenant, options);
}

/** The stores a bench service runs on (in its child process), from BENCH_MYSQL_URL and BENCH_PREFIX. */
export interface ServiceStores {
  config: Config;
  logger: Logger;
  mysql: mysql.Pool;
  eventStore: MysqlEventStore;
  redis: Redis;
  redisPrefix: string;
  tracker: typeof noTracker;
  mongo?: ReturnType<typeof createMongo>;
  close(): Promise<void>;
}

export async function openServiceStores(
  options: {
    /** Called before the first query, e.g. to count statements. */
    onPool?: (pool: mysql.Pool) => void;
    /** Called before the first command, e.g. to count them. */
    onRedis?: (redis: Redis) => void;
    mongo?: boolean;
  } = {},
): Promise<ServiceStores> {
  const config = loadConfig({ STREAMING_ENV: 'test', STREAMING_LOG_LEVEL: 'warn', ...process.env });
  const pool = mysql.createPool({
    uri: process.env.BENCH_MYSQL_URL!,
    connectionLimit: 20,
    timezone: 'Z',
  });
  options.onPool?.(pool);
  const eventStore = await MysqlEventStore.create(pool);
  const redis = new Redis(config.redis.url);
  options.onRedis?.(redis);
  const mongo = options.mongo ? createMongo(config) : undefined;
  await mongo?.client.connect();
  return {
    config,
    logger: createLogger({ logLevel: 'warn' }),
    mysql: pool,
    eventStore,
    redis,
    redisPrefix: process.env.BENCH_PREFIX ?? '',
    tracker: noTracker,
    ...(mongo ? { mongo } : {}),
    async close() {
      await eventStore.close();
      await pool.end();
      await mongo?.client.close();
      redis.disconnect();
    },
  };
}

export interface ServiceChild {
  /** The groups of `ready` in the child's first matching output. */
  ready: string[];
  db: TestDatabase;
  output(): string;
  /** Records the vendors' approval of a template (through the deciders, on the child's database). */
  approve(templateCode: string): Promise<void>;
  /** SIGTERM and wait for the exit (once). */
  stop(): Promise<void>;
  /** stop(), then drop the database and the Redis keys of the prefix. */
  cleanup(): Promise<void>;
}

/**
 * Runs `script --serve` in a child process on a fresh database and Redis
 * prefix, and waits until its stdout matches `ready` (a line the serve side
 * prints with its address).
 */
export async function startServiceChild(
  script: string,
  options: { name: string; ready: RegExp; nodeArgs?: string[] },
): Promise<ServiceChild> {
  const db = await freshDatabase(options.name);
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), script, '--serve'],
    {
      env: { ...process.env, BENCH_MYSQL_URL: db.url, BENCH_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = await new Promise<string[]>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = options.ready.exec(out);
      if (m) resolve(m.slice(1));
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  const vendors = new Map(
    loadConfig({ STREAMING_ENV: 'test' }).suppliers.map((a) => [a.id, a.vendor]),
  );
  let approvals: MysqlEventStore | undefined;
  let stopping: Promise<unknown> | undefined;
  const stop = async () => {
    stopping ??= (child.kill('SIGTERM'), exited);
    await stopping;
  };
  return {
    ready,
    db,
    output: () => out,
    async approve(templateCode) {
      approvals ??= await MysqlEventStore.create(db.pool);
      await approveTemplate(approvals, templateCode, vendors);
    },
    stop,
    async cleanup() {
      await stop();
      const redis = new Redis(loadConfig({ STREAMING_ENV: 'test' }).redis.url);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
      await db.drop();
    },
  };
}

/** The machine, with its load average (1, 5, 15 min) before and after the load. */
export function machine(loadBefore: number[], loadAfter: number[]) {
  return { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadBefore, loadAfter };
}

/** Prints the figures and writes them to bench/results/<name>.json (overwritten). */
export function writeResult(name: string, figures: unknown): void {
  console.log(JSON.stringify(figures, null, 2));
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const file = path.join(here, 'results', `${name}.json`);
  writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`written ${path.relative(process.cwd(), file)}`);
}
