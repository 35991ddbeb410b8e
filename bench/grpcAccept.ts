// Messages.Send over gRPC next to POST /v1/messages over HTTP, measured the
// same way as bench/accept.ts: one child process serves both APIs on the
// same event store (MySQL, fresh database) and Redis; the load runs here, on
// the same machine, at the same concurrency, to random mobiles with the same
// template and limits; the two loads alternate (HTTP, gRPC, HTTP, gRPC …) so
// that a change of machine load hits both.
//
//   node bench/grpcAccept.ts [--connections 64] [--duration 20] [--rounds 2] [--channels 8]
//
// HTTP: autocannon with `connections` keep-alive connections. gRPC:
// `connections` calls in flight at all times over `channels` HTTP/2
// connections of @grpc/grpc-js (each call waits for its answer, as an
// autocannon connection does). Writes bench/results/grpcAccept.json.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { startCommandService } from '../command-service/index.ts';
import { protoFiles, protoRoot, startGrpcService } from '../grpc-service/index.ts';
import { createMongo } from '../platform/clients/index.ts';
import { loadConfig } from '../platform/config/index.ts';
import { MysqlEventStore } from '../platform/eventStore/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import { noTracker } from '../platform/tracking/index.ts';
import { approveTemplate } from '../tests/support/approvals.ts';
import { freshDatabase } from '../tests/support/mysql.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};

async function serve(): Promise<void> {
  const config = loadConfig({ STREAMING_ENV: 'test', STREAMING_LOG_LEVEL: 'warn', ...process.env });
  const pool = mysql.createPool({
    uri: process.env.BENCH_MYSQL_URL!,
    connectionLimit: 20,
    timezone: 'Z',
  });
  const eventStore = await MysqlEventStore.create(pool);
  const redis = new Redis(config.redis.url);
  const mongo = createMongo(config);
  await mongo.client.connect();
  const logger = createLogger({ logLevel: 'warn' });
  const deps = {
    config,
    logger,
    eventStore,
    redis,
    tracker: noTracker,
    redisPrefix: process.env.BENCH_PREFIX ?? '',
    mysql: pool,
    mongo,
  };
  const http = await startCommandService(deps, { port: 0 });
  const rpc = await startGrpcService(deps, { port: 0 });
  process.stdout.write(`URL ${http.url} GRPC ${rpc.address}\n`);
  process.on('SIGTERM', () => {
    void Promise.all([http.close(), rpc.close()]).then(async () => {
      await eventStore.close();
      await pool.end();
      await mongo.client.close();
      redis.disconnect();
      process.exit(0);
    });
  });
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

const mobile = () => `13${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;

interface Figures {
  api: 'http' | 'grpc';
  acceptedPerSecond: number;
  accepted: number;
  refused: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

async function httpLoad(
  base: string,
  token: string,
  templateCode: string,
  connections: number,
  duration: number,
): Promise<Figures> {
  const r = await autocannon({
    url: `${base}/v1/messages`,
    connections,
    duration,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            templateCode,
            mobile: mobile(),
            params: { order: randomBytes(4).toString('hex') },
          }),
        }),
      },
    ],
  });
  return {
    api: 'http',
    acceptedPerSecond: Math.round(r['2xx'] / r.duration),
    accepted: r['2xx'],
    refused: r.non2xx,
    errors: r.errors + r.timeouts,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
  };
}

type SendFn = (
  req: Record<string, unknown>,
  md: grpc.Metadata,
  cb: (err: grpc.ServiceError | null) => void,
) => void;

async function grpcLoad(
  address: string,
  token: string,
  templateCode: string,
  connections: number,
  duration: number,
  channels: number,
): Promise<Figures> {
  const definition = protoLoader.loadSync(protoFiles, {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: false,
    includeDirs: [protoRoot],
  });
  const { Messages } = (
    grpc.loadPackageDefinition(definition) as unknown as {
      streaming: { v1: { Messages: grpc.ServiceClientConstructor } };
    }
  ).streaming.v1;
  // separate subchannel pools: `channels` HTTP/2 connections, not one shared
  const clients = Array.from(
    { length: channels },
    () =>
      new Messages(address, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
      }),
  );
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve, reject) =>
          c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())),
        ),
    ),
  );
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const latencies: number[] = [];
  let accepted = 0;
  let refused = 0;
  let errors = 0;
  const started = performance.now();
  const end = started + duration * 1000;
  const worker = async (i: number) => {
    const client = clients[i % channels] as unknown as { Send: SendFn };
    while (performance.now() < end) {
      const t0 = performance.now();
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.Send.call(
          client,
          { templateCode, mobile: mobile(), params: { order: randomBytes(4).toString('hex') } },
          md,
          resolve,
        ),
      );
      latencies.push(performance.now() - t0);
      if (!err) accepted += 1;
      else if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.INTERNAL)
        errors += 1;
      else refused += 1;
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, i) => worker(i)));
  const seconds = (performance.now() - started) / 1000;
  for (const c of clients) c.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
  return {
    api: 'grpc',
    acceptedPerSecond: Math.round(accepted / seconds),
    accepted,
    refused,
    errors,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: Math.round(latencies.at(-1)!) },
  };
}

async function main(): Promise<void> {
  const connections = arg('connections', 64);
  const duration = arg('duration', 20);
  const rounds = arg('rounds', 2);
  const channels = arg('channels', 8);
  const db = await freshDatabase('benchgrpc');
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], {
    env: { ...process.env, BENCH_MYSQL_URL: db.url, BENCH_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const [url, address] = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /URL (\S+) GRPC (\S+)/.exec(out);
      if (m) resolve([m[1]!, m[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  try {
    // the same tenant and template as bench/accept.ts (every kind of limit reserved per send)
    const username = `bench${randomBytes(3).toString('hex')}`;
    await post(`${url}/v1/users`, { username, password: 'benchmark password' });
    const { token } = (await post(`${url}/v1/sessions`, {
      username,
      password: 'benchmark password',
    })) as { token: string };
    const { templateCode } = (await post(
      `${url}/v1/templates`,
      {
        name: 'bench',
        kind: 'notification',
        signature: 'Bench',
        content: 'Order ${order} shipped.',
        policy: {
          mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 },
          template: { maxPerDay: 100_000_000 },
          tenant: { maxPerDay: 100_000_000 },
        },
      },
      token,
    )) as { templateCode: string };
    const vendors = new Map(
      loadConfig({ STREAMING_ENV: 'test' }).suppliers.map((a) => [a.id, a.vendor]),
    );
    await approveTemplate(await MysqlEventStore.create(db.pool), templateCode, vendors);
    const loadBefore = os.loadavg();
    const runs: Figures[] = [];
    for (let round = 0; round < rounds; round += 1) {
      runs.push(await httpLoad(url, token, templateCode, connections, duration));
      console.log(JSON.stringify(runs.at(-1)));
      runs.push(await grpcLoad(address, token, templateCode, connections, duration, channels));
      console.log(JSON.stringify(runs.at(-1)));
    }
    const loadAfter = os.loadavg();
    const figures = {
      command: `node bench/grpcAccept.ts --connections ${connections} --duration ${duration} --rounds ${rounds} --channels ${channels}`,
      at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadBefore, loadAfter },
      loadGenerator:
        'autocannon (HTTP) and @grpc/grpc-js clients (gRPC) in the bench process, same cores; both APIs in one child process',
      connections,
      channels,
      durationSeconds: duration,
      runs,
    };
    console.log(JSON.stringify(figures, null, 2));
    mkdirSync(path.join(here, 'results'), { recursive: true });
    const file = path.join(here, 'results', 'grpcAccept.json');
    writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`written ${path.relative(process.cwd(), file)}`);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
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
