// Accepted sends per second and latency percentiles of POST /v1/messages.
//
//   node bench/accept.ts [--connections 64] [--duration 30] [--profile <dir>]
//
// The command service runs in a child process (MySQL event store on a fresh
// database, real Redis); autocannon runs here, on the same machine, sending
// random mobiles so limits do not bite. Prints the figures and writes
// bench/results/accept.json (overwritten) with the exact command, the load
// average before and after, and the MySQL statements and Redis commands the
// service sent per request. `--profile <dir>` runs the service with --cpu-prof.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startCommandService } from '../command-service/index.ts';
import { loadConfig } from '../platform/config/index.ts';
import { MysqlEventStore } from '../platform/eventStore/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import { noTracker } from '../platform/tracking/index.ts';
import { approveTemplate } from '../tests/support/approvals.ts';
import { freshDatabase } from '../tests/support/mysql.ts';
import mysql from 'mysql2/promise';
import { sendLoad } from './sendLoad.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function serve(): Promise<void> {
  const config = loadConfig({ STREAMING_ENV: 'test', STREAMING_LOG_LEVEL: 'warn', ...process.env });
  const pool = mysql.createPool({
    uri: process.env.BENCH_MYSQL_URL!,
    connectionLimit: 20,
    timezone: 'Z',
  });
  // Round trips, counted in the service: every SQL statement (by its first
  // words) and every Redis command the service sends.
  const sql = new Map<string, number>();
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
  const eventStore = await MysqlEventStore.create(pool);
  sql.clear();
  const redis = new Redis(config.redis.url);
  const redisCommands = new Map<string, number>();
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    redisCommands.set(command.name, (redisCommands.get(command.name) ?? 0) + 1);
    return send(command, stream);
  };
  const logger = createLogger({ logLevel: 'warn' });
  const service = await startCommandService(
    {
      config,
      logger,
      eventStore,
      redis,
      tracker: noTracker,
      redisPrefix: process.env.BENCH_PREFIX ?? '',
    },
    { port: 0 },
  );
  process.stdout.write(`URL ${service.url}\n`);
  process.on('SIGTERM', () => {
    void service.close().then(async () => {
      process.stdout.write(
        `COUNTS ${JSON.stringify({ sql: Object.fromEntries(sql), redis: Object.fromEntries(redisCommands) })}\n`,
      );
      await eventStore.close();
      await pool.end();
      redis.disconnect();
      process.exit(0);
    });
  });
}

interface RoundTrips {
  sql: Record<string, number>;
  redis: Record<string, number>;
}

async function main(): Promise<void> {
  const connections = arg('connections', 64);
  const duration = arg('duration', 30);
  const db = await freshDatabase('bench');
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  const profileDir = strArg('profile');
  const child = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      fileURLToPath(import.meta.url),
      '--serve',
    ],
    {
      env: { ...process.env, BENCH_MYSQL_URL: db.url, BENCH_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /URL (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  let stopped = false;
  const stopService = async (): Promise<RoundTrips | undefined> => {
    if (stopped) return undefined;
    stopped = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    const m = /COUNTS (.+)/.exec(out);
    return m ? (JSON.parse(m[1]!) as RoundTrips) : undefined;
  };
  try {
    let loadBefore: number[] = [];
    const approvals = await MysqlEventStore.create(db.pool);
    const vendors = new Map(
      loadConfig({ STREAMING_ENV: 'test' }).suppliers.map((a) => [a.id, a.vendor]),
    );
    const result = await sendLoad(url, {
      connections,
      duration,
      beforeLoad: () => (loadBefore = os.loadavg()),
      approve: async (code) => void (await approveTemplate(approvals, code, vendors)),
    });
    const loadAfter = os.loadavg();
    const accepted = result['2xx'];
    const [rows] = await db.pool.query(
      "SELECT COUNT(*) AS n FROM es_events WHERE type = 'sms.accepted.v1'",
    );
    const stored = Number((rows as { n: number }[])[0]!.n);
    const counts = await stopService();
    const requests = result.requests.total;
    const perRequest = (m: Record<string, number> | undefined) =>
      Object.fromEntries(
        Object.entries(m ?? {}).map(([k, n]) => [k, Math.round((n / requests) * 1000) / 1000]),
      );
    const figures = {
      command: `node bench/accept.ts --connections ${connections} --duration ${duration}${profileDir ? ` --profile ${profileDir}` : ''}`,
      at: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        loadBefore,
        loadAfter,
      },
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
    };
    console.log(JSON.stringify(figures, null, 2));
    mkdirSync(path.join(here, 'results'), { recursive: true });
    const file = path.join(here, 'results', 'accept.json');
    writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`written ${path.relative(process.cwd(), file)}`);
  } finally {
    await stopService();
    const redis = new Redis(loadConfig({ STREAMING_ENV: 'test' }).redis.url);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await db.drop();
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
