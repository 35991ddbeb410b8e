import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { Kafka, logLevel, type Admin, type LogEntry } from 'kafkajs';
import type { Config } from '../config/index.ts';
import type { EventStore } from '../eventStore/index.ts';
import type { Logger } from '../logger/index.ts';
import type { Pipeline } from '../health/index.ts';
import { outage } from '../health/outage.ts';
import { fixKafkaRequestQueue } from '../kafka/requestQueueFix.ts';
import { internalField } from './internals.ts';

export type MysqlPool = mysql.Pool;

/** A mysql2/promise pool: UTC, utf8mb4, big numbers as exact values, one statement per query. */
export function createMysqlPool(config: Pick<Config, 'mysql'>): MysqlPool {
  return mysql.createPool({
    uri: config.mysql.url,
    connectionLimit: config.mysql.poolSize,
    waitForConnections: true,
    queueLimit: 0,
    multipleStatements: false,
    supportBigNumbers: true,
    bigNumberStrings: false,
    dateStrings: false,
    timezone: 'Z',
    charset: 'utf8mb4',
    connectTimeout: 5_000,
    enableKeepAlive: true,
    // no call-site stack captured on every query: Error.captureStackTrace per
    // statement was 4.5% of the projectors' CPU (bench/system.ts --cpu-prof);
    // errors keep their MySQL code and message
    trace: false,
  });
}

/** An ioredis client, connecting now; commands fail after a bounded number of reconnect attempts. */
export function createRedis(
  config: { redis: Pick<Config['redis'], 'url'> },
  logger?: Logger,
): Redis {
  const redis = new Redis(config.redis.url, {
    lazyConnect: false,
    maxRetriesPerRequest: 3,
    // the commands of one event-loop turn (many concurrent requests) leave in
    // one socket write: under bench/system.ts Redis socket writes were the
    // command service's largest self time (a write syscall per command)
    enableAutoPipelining: true,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Without a listener ioredis prints every reconnect error; log the first of an outage
  // and its end instead of every attempt.
  let downSince: number | undefined;
  redis.on('error', (err: Error) => {
    if (downSince !== undefined) return;
    downSince = Date.now();
    logger?.warn('redis lost; reconnecting with backoff', { err: err.message });
  });
  redis.on('ready', () => {
    if (downSince === undefined) return;
    logger?.info('redis recovered', { outageMs: Date.now() - downSince });
    downSince = undefined;
  });
  return redis;
}

export interface MongoHandle {
  client: MongoClient;
  /** The database named in the URL. */
  db: Db;
  /** Stops the watchdog (close() of the client does too). */
  stopWatchdog?: () => void;
}

export interface MongoWatchdogOptions {
  /** How long the server may stay unknown to the client before a fresh connection checks it (default 20 s). */
  stuckMs?: number;
  /** How often the watchdog looks (default 5 s). */
  everyMs?: number;
}

/**
 * A MongoDB driver client (it connects on first use). The server here is
 * FerretDB 1.x on SQLite: stay with basic CRUD, indexes and simple aggregations;
 * no transactions, change streams or retryable writes.
 *
 * A watchdog keeps the client from staying cut off: after a FerretDB restart
 * a projectors process once kept failing server selection for 18 minutes
 * with the error of one closed pool connection, its server monitor silent,
 * while the server answered everyone else (fault suite, issue #11). When the
 * client has known the server only as unknown for `stuckMs` and a fresh
 * connection reaches it, the client is closed and connected again (the Db
 * and collection handles stay valid), with one log line saying what the
 * monitor was doing.
 */
export function createMongo(
  config: Pick<Config, 'mongo'>,
  logger?: Logger,
  watchdog: MongoWatchdogOptions = {},
): MongoHandle {
  const client = new MongoClient(config.mongo.url, {
    serverSelectionTimeoutMS: 5_000,
    connectTimeoutMS: 5_000,
    // a restarted server is found within seconds, not the driver's 10
    heartbeatFrequencyMS: 5_000,
    retryWrites: false,
    maxPoolSize: 20,
  });
  slowPoolCheck(client);
  const stop = mongoWatchdog(client, config.mongo.url, logger, watchdog);
  return { client, db: client.db(), stopWatchdog: stop };
}

/**
 * How often a connection pool runs its background check, which prunes closed,
 * stale or idle-expired connections and tops the pool up to minPoolSize (0
 * here). Driver 7.x runs it every 100 ms whatever the pool does: ten wakeups
 * a second in every process with a Mongo client, idle or not (bench/system.ts
 * --idle-only). A checkout prunes the connections it takes anyway, and no
 * idle timeout is set, so a slower check changes nothing a caller sees.
 */
export const MONGO_POOL_CHECK_MS = 5_000;

/**
 * The driver reads the interval (`minPoolSizeCheckFrequencyMS`) from the
 * client's parsed options when it connects but refuses it from callers (it is
 * there for its spec tests), so it is set on those options before the first
 * connect.
 */
function slowPoolCheck(client: MongoClient): void {
  (client.options as { minPoolSizeCheckFrequencyMS?: number }).minPoolSizeCheckFrequencyMS =
    MONGO_POOL_CHECK_MS;
}

/** Whether the server at `url` answers a ping, on a client of its own. */
async function mongoReachable(url: string): Promise<boolean> {
  const probe = new MongoClient(url, {
    serverSelectionTimeoutMS: 3_000,
    connectTimeoutMS: 3_000,
    directConnection: true,
    retryWrites: false,
    maxPoolSize: 1,
  });
  try {
    await probe.db().command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await probe.close().catch(() => undefined);
  }
}

/** What the driver's monitors were doing (internal fields, for the log line only). */
function monitorState(client: MongoClient): unknown {
  try {
    const servers = internalField(client, 'topology', 's', 'servers');
    if (!(servers instanceof Map)) return undefined;
    return [...servers.values()].map((server: unknown) => {
      const timer = internalField(server, 'monitor', 'monitorId');
      const interval =
        typeof timer === 'object' &&
        timer !== null &&
        'toJSON' in timer &&
        typeof timer.toJSON === 'function'
          ? (timer.toJSON as () => unknown).call(timer)
          : undefined;
      return { state: internalField(server, 'monitor', 's', 'state'), interval };
    });
  } catch {
    return undefined;
  }
}

function mongoWatchdog(
  client: MongoClient,
  url: string,
  logger: Logger | undefined,
  options: MongoWatchdogOptions,
): () => void {
  const stuckMs = options.stuckMs ?? 20_000;
  /** Since when the server has been unknown to this client (undefined: known, or never connected). */
  let unknownSince: number | undefined;
  let lastHeartbeat = 0;
  let heartbeats = 0;
  let checking = false;
  let stopped = false;
  let reconnecting = false;
  // the owner closing the client ends the watchdog (its own close and connect do not)
  client.on('topologyClosed', () => {
    if (!reconnecting) stop();
  });
  // one line when this client loses its server and one when it has it back,
  // whether or not an operation was waiting at the time
  const link = logger ? outage(logger, 'mongo client', 'mongo (its server)') : undefined;
  client.on('serverDescriptionChanged', (e) => {
    if (e.newDescription.type === 'Unknown') {
      unknownSince ??= Date.now();
      if (e.previousDescription.type !== 'Unknown')
        link?.failed(e.newDescription.error ?? new Error('server unknown'));
    } else {
      unknownSince = undefined;
      link?.ok();
    }
  });
  const beat = () => {
    lastHeartbeat = Date.now();
    heartbeats++;
  };
  client.on('serverHeartbeatSucceeded', beat);
  client.on('serverHeartbeatFailed', beat);

  const timer = setInterval(() => {
    if (checking || stopped || unknownSince === undefined) return;
    const since = unknownSince;
    if (Date.now() - since < stuckMs) return;
    checking = true;
    void (async () => {
      try {
        if (!(await mongoReachable(url))) return; // the server is really away: the driver keeps trying
        if (stopped || unknownSince !== since) return;
        logger?.warn('mongo client cut off from a server that answers; connecting it again', {
          unknownMs: Date.now() - since,
          heartbeats,
          lastHeartbeatMsAgo: lastHeartbeat === 0 ? null : Date.now() - lastHeartbeat,
          monitors: JSON.stringify(monitorState(client)),
        });
        unknownSince = undefined;
        reconnecting = true;
        try {
          await Promise.race([client.close(), sleep(10_000)]).catch(() => undefined);
          if (!stopped) await client.connect().catch(() => undefined);
        } finally {
          reconnecting = false;
        }
      } finally {
        checking = false;
      }
    })();
  }, options.everyMs ?? 5_000);
  timer.unref();
  function stop() {
    stopped = true;
    clearInterval(timer);
  }
  return stop;
}

const kafkaLevels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs Kafka whose own logs (warnings and errors only) go to the winston logger. */
export function createKafka(config: Pick<Config, 'kafka'>, logger?: Logger): Kafka {
  fixKafkaRequestQueue();
  const lastLogged = new Map<string, number>();
  return new Kafka({
    clientId: config.kafka.clientId,
    brokers: [...config.kafka.brokers],
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { retries: 5, initialRetryTime: 300 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        if (!logger) return;
        const { message, timestamp: _timestamp, ...rest } = log;
        // kafkajs logs every retry while a broker is away: the same line once per 30 s
        const key = `${namespace}:${message}`;
        const now = Date.now();
        if (now - (lastLogged.get(key) ?? 0) < 30_000) return;
        lastLogged.set(key, now);
        if (lastLogged.size > 1000) lastLogged.clear();
        logger.log(kafkaLevels[level] ?? 'info', `kafka: ${message}`, {
          ...rest,
          kafkaNamespace: namespace,
        });
      },
  });
}

export interface ReadinessTargets {
  /** Checked by reading its head position. */
  eventStore?: Pick<EventStore, 'headPosition'>;
  mysql?: MysqlPool;
  redis?: Redis;
  mongo?: Db | MongoHandle;
  /** A connected kafkajs admin. */
  kafkaAdmin?: Admin;
  /** The parts this process runs: not ready while one of them is stalled. */
  pipeline?: { pipeline: Pipeline; head: () => Promise<number> };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 200);
  const code = (err as { code?: unknown }).code;
  const text =
    typeof code === 'string' && !err.message.includes(code)
      ? `${code}: ${err.message}`
      : err.message;
  return text.slice(0, 200);
}

/**
 * The readiness function for /readyz: the event store's head position,
 * SELECT 1, PING, {ping: 1} and describeCluster, and no stalled part in the
 * pipeline of this process, concurrently, each bounded by timeoutMs. Never
 * throws.
 */
export function readinessChecks(
  targets: ReadinessTargets,
  options: { timeoutMs?: number } = {},
): () => Promise<Record<string, 'ok' | string>> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const checks: [string, () => Promise<unknown>][] = [];
  const { eventStore, mysql: pool, redis, mongo, kafkaAdmin, pipeline } = targets;
  if (eventStore) checks.push(['eventStore', () => eventStore.headPosition()]);
  if (pool) checks.push(['mysql', () => pool.query('SELECT 1')]);
  if (redis) checks.push(['redis', () => redis.ping()]);
  if (mongo) {
    const db = 'db' in mongo && 'client' in mongo ? mongo.db : (mongo as Db);
    checks.push(['mongo', () => db.command({ ping: 1 })]);
  }
  if (kafkaAdmin) {
    checks.push([
      'kafka',
      async () => {
        const cluster = await kafkaAdmin.describeCluster();
        if (cluster.brokers.length === 0) throw new Error('no brokers');
      },
    ]);
  }
  if (pipeline) {
    checks.push([
      'pipeline',
      async () => {
        const head = await pipeline.head().catch(() => undefined);
        const stalled = pipeline.pipeline.stalled(head);
        if (stalled.length > 0) throw new Error(`stalled: ${stalled.join(', ')}`);
      },
    ]);
  }
  return async () => {
    const results = await Promise.all(
      checks.map(async ([name, check]) => {
        try {
          await withTimeout(check(), timeoutMs);
          return [name, 'ok'] as const;
        } catch (err) {
          return [name, reason(err)] as const;
        }
      }),
    );
    return Object.fromEntries(results);
  };
}
