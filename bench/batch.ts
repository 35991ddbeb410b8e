// Batch sends: how long POST /v1/messages/batch's command (sendBatch) takes
// to accept 1,000 recipients, and recipients accepted per second.
//
//   node bench/batch.ts [--rounds 10] [--size 1000] [--http [--profile <dir>] | --system [--gap ms]]
//
// The command function runs in this process against a fresh MySQL database
// (the event store) and the real Redis, as the API calls it (HTTP parsing of
// the body is left out); each recipient is a message of its own with its own
// limits (random mobiles, so limits do not bite: drawn from number ranges in
// use — 138…, 150…, 186…, 199… — since a random 1[3-9]x prefix is often a
// range no carrier has, which libphonenumber rightly refuses as INVALID_MOBILE;
// every refusal is counted by code). Prints the figures and
// writes bench/results/batch.json (overwritten) with the command and the load
// average before and after.
//
// `--http`: the same batches as a client sends them, POST /v1/messages/batch
// with an Idempotency-Key, to the command service in a child process (HTTP,
// body validation, authentication included), on the template of
// bench/support.ts (every kind of limit on each recipient); the time is the
// client's, request to answer. Writes bench/results/batchHttp.json.
// `--profile <dir>` runs the service with --cpu-prof.
//
// `--system [--rounds 8] [--gap 12000]`: the same batches against the whole
// system as `npm start` runs it (bench/runningSystem.ts: default
// configuration, the simulator and its default caps, a fresh database), one
// every `--gap` ms, so each meets the earlier ones still being dispatched
// (1,000 at the default 100/s take 10 s) and projected. Also prints the CPU
// each process used while a batch was answered. Writes
// bench/results/batchSystem.json.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sendBatch, startCommandService, type CommandDeps } from '../command-service/index.ts';
import { handle } from '../command-service/commandHandling/index.ts';
import { templateDecider, templateStream } from '../domain/index.ts';
import { loadConfig } from '../platform/config/index.ts';
import { MysqlEventStore } from '../platform/eventStore/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import { noTracker } from '../platform/tracking/index.ts';
import { approveTemplate } from '../testing/approvals.ts';
import { freshDatabase } from '../testing/mysql.ts';
import { approvedTenant, cpuMs, startSystem } from './runningSystem.ts';
import {
  benchPolicy,
  benchTenant,
  type BenchTenant,
  machine,
  openServiceStores,
  startServiceChild,
  stringArg,
  writeResult,
} from './support.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** p50, max and mean of the batches' times, and recipients accepted per second over them. */
function batchTimes(times: readonly number[], accepted: number) {
  const sorted = [...times].sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  return {
    batchMs: {
      p50: Math.round(sorted[Math.floor(sorted.length / 2)]!),
      max: Math.round(sorted[sorted.length - 1]!),
      mean: Math.round(total / times.length),
    },
    recipientsPerSecond: Math.round((accepted / total) * 1000),
  };
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 10);
  const size = arg('size', 1000);
  const loadBefore = os.loadavg();
  const config = loadConfig({ STREAMING_ENV: 'test', STREAMING_LOG_LEVEL: 'warn', ...process.env });
  const db = await freshDatabase('benchbatch', 20);
  const eventStore = await MysqlEventStore.create(db.pool);
  const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 3 });
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  const deps: CommandDeps = {
    config,
    logger: createLogger({ logLevel: 'warn' }),
    eventStore,
    redis,
    tracker: noTracker,
    redisPrefix: prefix,
  };
  const tenantId = randomUUID();
  const templateCode = `TB${randomBytes(4).toString('hex').toUpperCase()}`;
  await handle(
    eventStore,
    templateDecider,
    templateStream(templateCode),
    {
      type: 'CreateTemplate',
      data: {
        templateId: randomUUID(),
        templateCode,
        tenantId,
        name: 'bench batch',
        kind: 'notification',
        signature: 'Bench',
        content: 'order ${order} shipped',
        suppliers: [...config.defaultSuppliers],
        policy: {},
      },
    },
    {},
  );
  await approveTemplate(
    eventStore,
    templateCode,
    new Map(config.suppliers.map((s) => [s.id, s.vendor])),
  );
  const principal = { userId: tenantId, role: 'member' as const, kind: 'user' as const };
  const times: number[] = [];
  let accepted = 0;
  const refusedBy: Record<string, number> = {};
  const ranges = ['138', '139', '150', '151', '186', '188', '199'];
  // one round to warm up (connections, JIT), not counted
  let appendsBefore = eventStore.appendStats();
  for (let round = -1; round < rounds; round++) {
    if (round === 0) appendsBefore = eventStore.appendStats();
    const recipients = Array.from({ length: size }, (_, i) => ({
      mobile: `+86${ranges[i % ranges.length]}${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
      params: { order: String(i) },
    }));
    const t0 = performance.now();
    const answer = await sendBatch(
      deps,
      principal,
      { templateCode, recipients, idempotencyKey: randomUUID() },
      {},
    );
    const ms = performance.now() - t0;
    if (round >= 0) {
      times.push(ms);
      accepted += answer.accepted;
      for (const r of answer.results) {
        if (r.status === 'refused') refusedBy[r.code] = (refusedBy[r.code] ?? 0) + 1;
      }
    }
  }
  const loadAfter = os.loadavg();
  const appends = eventStore.appendStats();
  const d = (k: keyof typeof appends) => appends[k] - appendsBefore[k];
  const result = {
    command: `node bench/batch.ts --rounds ${rounds} --size ${size}`,
    at: new Date().toISOString(),
    cpus: os.cpus().length,
    loadAverageBefore: loadBefore.map((l) => Number(l.toFixed(2))),
    loadAverageAfter: loadAfter.map((l) => Number(l.toFixed(2))),
    batchSize: size,
    rounds,
    acceptedPerBatch: accepted / rounds,
    refusedBy,
    ...batchTimes(times, accepted),
    // the event store's append path over the counted rounds
    eventStoreAppends: {
      appendsPerTransaction: Number((d('appends') / d('transactions')).toFixed(2)),
      roundTripsPerAppend: Number((d('roundTrips') / d('appends')).toFixed(3)),
      lockRoundTripsPerTransaction: Number((d('lockRoundTrips') / d('transactions')).toFixed(2)),
      lockMsPerTransaction: Number((d('lockMs') / d('transactions')).toFixed(2)),
      retries: d('retries'),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'batch.json'), `${JSON.stringify(result, null, 2)}\n`);
  const keys = await redis.keys(`${prefix}*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  redis.disconnect();
  await eventStore.close();
  await db.drop();
}

/** The command service for --http, in the child process startServiceChild runs. */
async function serve(): Promise<void> {
  const stores = await openServiceStores();
  const service = await startCommandService(stores, { port: 0 });
  process.stdout.write(`URL ${service.url}\n`);
  process.on('SIGTERM', () => {
    void service.close().then(async () => {
      await stores.close();
      process.exit(0);
    });
  });
}

/** The recipients of one batch: random mobiles in number ranges in use, one order number each. */
function batchBody(templateCode: string, size: number): string {
  const ranges = ['138', '139', '150', '151', '186', '188', '199'];
  return JSON.stringify({
    templateCode,
    recipients: Array.from({ length: size }, (_, i) => ({
      mobile: `+86${ranges[i % ranges.length]}${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
      params: { order: String(i) },
    })),
  });
}

interface BatchAnswer {
  accepted: number;
  results: { status: string; code?: string }[];
}

/** POST /v1/messages/batch of `size` recipients, timed at the client (request to answer). */
async function postBatch(url: string, tenant: BenchTenant, size: number) {
  const body = batchBody(tenant.templateCode, size);
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/messages/batch`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${tenant.token}`,
      'idempotency-key': randomUUID(),
    },
    body,
  });
  const answer = (await res.json()) as BatchAnswer;
  const ms = performance.now() - t0;
  if (res.status !== 200)
    throw new Error(`batch answered ${res.status}: ${JSON.stringify(answer)}`);
  return { ms, answer };
}

function countRefusals(answer: BatchAnswer, refusedBy: Record<string, number>): void {
  for (const r of answer.results) {
    if (r.status === 'refused') refusedBy[r.code!] = (refusedBy[r.code!] ?? 0) + 1;
  }
}

/** --http: batches of `size` over HTTP, one after the other, timed at the client. */
async function overHttp(): Promise<void> {
  const rounds = arg('rounds', 10);
  const size = arg('size', 1000);
  const profileDir = stringArg('profile');
  const service = await startServiceChild(fileURLToPath(import.meta.url), {
    name: 'benchbatchhttp',
    ready: /URL (\S+)/,
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  });
  const [url] = service.ready as [string];
  try {
    const tenant = await benchTenant(url, service.approve);
    const loadBefore = os.loadavg();
    const times: number[] = [];
    let accepted = 0;
    const refusedBy: Record<string, number> = {};
    for (let round = -1; round < rounds; round++) {
      const { ms, answer } = await postBatch(url, tenant, size);
      if (round < 0) continue; // warm-up
      times.push(ms);
      accepted += answer.accepted;
      countRefusals(answer, refusedBy);
    }
    const loadAfter = os.loadavg();
    writeResult('batchHttp', {
      command: `node bench/batch.ts --http --rounds ${rounds} --size ${size}${profileDir ? ` --profile ${profileDir}` : ''}`,
      at: new Date().toISOString(),
      machine: machine(loadBefore, loadAfter),
      batchSize: size,
      rounds,
      acceptedPerBatch: accepted / rounds,
      refusedBy,
      ...batchTimes(times, accepted),
    });
  } finally {
    await service.cleanup();
  }
}

/**
 * --system: the same batches against the whole system as `npm start` runs it
 * (default configuration, the simulator's default accounts and caps), one
 * every `--gap` ms, so that each batch meets the previous ones still being
 * dispatched and projected; times at the client and the CPU each process
 * used while the batch was answered.
 */
async function againstSystem(): Promise<void> {
  const rounds = arg('rounds', 8);
  const size = arg('size', 1000);
  const gapMs = arg('gap', 12_000);
  const system = await startSystem('batch');
  try {
    const tenant = await approvedTenant(system, benchPolicy);
    const loadBefore = os.loadavg();
    const times: number[] = [];
    const cpuDuringBatch: Record<string, number>[] = [];
    let accepted = 0;
    const refusedBy: Record<string, number> = {};
    for (let round = -1; round < rounds; round++) {
      const started = performance.now();
      const cpu0 = cpuMs(system.pids);
      const { ms, answer } = await postBatch(system.api, tenant, size);
      const cpu1 = cpuMs(system.pids);
      console.log(
        `batch ${round < 0 ? 'warm-up' : round + 1}: ${Math.round(ms)} ms, ${answer.accepted} accepted`,
      );
      if (round >= 0) {
        times.push(ms);
        accepted += answer.accepted;
        countRefusals(answer, refusedBy);
        cpuDuringBatch.push(
          Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, v - (cpu0[k] ?? 0)])),
        );
      }
      await sleep(Math.max(0, gapMs - (performance.now() - started)));
    }
    const loadAfter = os.loadavg();
    const meanCpu = Object.fromEntries(
      Object.keys(system.pids).map((k) => [
        k,
        Math.round(cpuDuringBatch.reduce((a, c) => a + (c[k] ?? 0), 0) / cpuDuringBatch.length),
      ]),
    );
    const nice = process.env.STREAMING_BACKGROUND_NICE;
    writeResult('batchSystem', {
      command: `${nice !== undefined ? `STREAMING_BACKGROUND_NICE=${nice} ` : ''}node bench/batch.ts --system --rounds ${rounds} --size ${size} --gap ${gapMs}`,
      at: new Date().toISOString(),
      machine: machine(loadBefore, loadAfter),
      batchSize: size,
      rounds,
      gapMs,
      acceptedPerBatch: accepted / rounds,
      refusedBy,
      ...batchTimes(times, accepted),
      allMs: times.map((t) => Math.round(t)),
      // CPU ms of each process while a batch was being answered (mean over the rounds)
      cpuMsDuringBatch: meanCpu,
    });
  } finally {
    await system.cleanup();
  }
}

if (process.argv.includes('--serve')) await serve();
else if (process.argv.includes('--system')) await againstSystem();
else if (process.argv.includes('--http')) await overHttp();
else await main();
