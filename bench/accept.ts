// Accepted sends per second and latency percentiles of POST /v1/messages.
//
//   node bench/accept.ts [--connections 64] [--duration 30] [--profile <dir>]
//
// The command service runs in a child process (MySQL event store on a fresh
// database, real Redis); autocannon runs here, on the same machine, sending
// random mobiles so limits do not bite. Prints the figures and writes
// bench/results/accept.json (overwritten) with the exact command, the load
// average before and after, and the MySQL statements and Redis commands the
// service sent per request, and the Redis server's commands per accepted send
// (INFO commandstats, scripts' commands included: run it on a private Redis,
// STREAMING_REDIS_URL, for that figure to mean anything). `--profile <dir>`
// runs the service with --cpu-prof.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { startCommandService } from '../command-service/index.ts';
import { loadConfig } from '../platform/config/index.ts';
import { MysqlEventStore, type AppendStats } from '../platform/eventStore/index.ts';
import {
  machine,
  numberArg,
  openServiceStores,
  sendLoad,
  startServiceChild,
  stringArg,
  writeResult,
} from './support.ts';

/** Counts, in the service, every SQL statement (by its first words) the pool sends. */
function countStatements(pool: mysql.Pool, sql: Map<string, number>): void {
  pool.pool.on('connection', (conn) => {
    const query = conn.query.bind(conn) as (...a: unknown[]) => unknown;
    (conn as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
      const first = a[0];
      const text = typeof first === 'string' ? first : String((first as { sql?: string }).sql);
      const key = text.replace(/\s+/g, ' ').split(' ').slice(0, 3).join(' ');
      sql.set(key, (sql.get(key) ?? 0) + 1);
      return query(...a);
    };
  });
}

/** Counts every Redis command the client sends. */
function countCommands(redis: Redis, counts: Map<string, number>): void {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    counts.set(command.name, (counts.get(command.name) ?? 0) + 1);
    return send(command, stream);
  };
}

async function serve(): Promise<void> {
  // Round trips, counted in the service: every SQL statement and Redis command it sends.
  const sql = new Map<string, number>();
  const redisCommands = new Map<string, number>();
  const stores = await openServiceStores({
    onPool: (pool) => countStatements(pool, sql),
    onRedis: (redis) => countCommands(redis, redisCommands),
  });
  sql.clear(); // the event store's own set-up
  const store = stores.eventStore instanceof MysqlEventStore ? stores.eventStore : undefined;
  const appendsBefore = store?.appendStats();
  const service = await startCommandService(stores, { port: 0 });
  process.stdout.write(`URL ${service.url}\n`);
  process.on('SIGTERM', () => {
    void service.close().then(async () => {
      process.stdout.write(
        `COUNTS ${JSON.stringify({ sql: Object.fromEntries(sql), redis: Object.fromEntries(redisCommands), eventStore: appendCounts(store?.appendStats(), appendsBefore) })}\n`,
      );
      await stores.close();
      process.exit(0);
    });
  });
}

interface RoundTrips {
  sql: Record<string, number>;
  redis: Record<string, number>;
  eventStore?: Record<string, number>;
}

/** The event store's append path during the run: its own round trips (some on a connection of its own) and lock hold. */
function appendCounts(after?: AppendStats, before?: AppendStats) {
  if (!after || !before) return undefined;
  const d = (k: keyof AppendStats) => after[k] - before[k];
  const per = (n: number, m: number) => (m > 0 ? Math.round((n / m) * 1000) / 1000 : 0);
  return {
    appends: d('appends'),
    transactions: d('transactions'),
    appendsPerTransaction: per(d('appends'), d('transactions')),
    roundTripsPerAppend: per(d('roundTrips'), d('appends')),
    lockRoundTripsPerTransaction: per(d('lockRoundTrips'), d('transactions')),
    lockMsPerTransaction: per(d('lockMs'), d('transactions')),
    retries: d('retries'),
  };
}

/** INFO commandstats: calls per command, server-wide. */
async function commandStats(redis: Redis): Promise<Record<string, number>> {
  const text = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Commands the server ran during the load per accepted send (the bench's own INFO left out), and their total. */
function perAccepted(before: Record<string, number>, after: Record<string, number>, n: number) {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0);
    if (name === 'info' || d <= 0 || n === 0) continue;
    out[name] = Math.round((d / n) * 1000) / 1000;
    total += d;
  }
  return { ...out, total: n > 0 ? Math.round((total / n) * 1000) / 1000 : 0 };
}

async function main(): Promise<void> {
  const connections = numberArg('connections', 64);
  const duration = numberArg('duration', 30);
  const profileDir = stringArg('profile');
  const service = await startServiceChild(fileURLToPath(import.meta.url), {
    name: 'bench',
    ready: /URL (\S+)/,
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  });
  const [url] = service.ready as [string];
  try {
    let loadBefore: number[] = [];
    // the Redis server's own counts (commands run inside scripts included, as
    // bench/system.ts counts them): server-wide, so only meaningful on a Redis
    // nobody else uses (STREAMING_REDIS_URL of a private one)
    const redis = new Redis(loadConfig({ STREAMING_ENV: 'test', ...process.env }).redis.url);
    let serverBefore: Record<string, number> = {};
    const result = await sendLoad(url, {
      connections,
      duration,
      beforeLoad: () => (loadBefore = os.loadavg()),
      beforeLoadAsync: async () => {
        serverBefore = await commandStats(redis);
      },
      approve: service.approve,
    });
    const loadAfter = os.loadavg();
    const serverAfter = await commandStats(redis);
    redis.disconnect();
    const accepted = result['2xx'];
    const [rows] = await service.db.pool.query(
      "SELECT COUNT(*) AS n FROM es_events WHERE type = 'sms.accepted.v1'",
    );
    const stored = Number((rows as { n: number }[])[0]!.n);
    await service.stop();
    const m = /COUNTS (.+)/.exec(service.output());
    const counts = m ? (JSON.parse(m[1]!) as RoundTrips) : undefined;
    const requests = result.requests.total;
    const perRequest = (c: Record<string, number> | undefined) =>
      Object.fromEntries(
        Object.entries(c ?? {}).map(([k, n]) => [k, Math.round((n / requests) * 1000) / 1000]),
      );
    writeResult('accept', {
      command: `node bench/accept.ts --connections ${connections} --duration ${duration}${profileDir ? ` --profile ${profileDir}` : ''}`,
      at: new Date().toISOString(),
      machine: machine(loadBefore, loadAfter),
      loadGenerator: 'autocannon in the bench process (same 2 cores), service in a child process',
      connections,
      durationSeconds: duration,
      acceptedPerSecond: Math.round(accepted / result.duration),
      acceptedTotal: accepted,
      storedAcceptedEvents: stored,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
      },
      // including the few setup requests (register, login, create template)
      roundTripsPerRequest: { sql: perRequest(counts?.sql), redis: perRequest(counts?.redis) },
      redisServerCommandsPerAccepted: perAccepted(serverBefore, serverAfter, accepted),
      eventStoreAppends: counts?.eventStore,
    });
  } finally {
    await service.cleanup();
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
