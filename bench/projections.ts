// CPU per event of each projection and of the tracking pump, on the servers
// they write to (MariaDB, FerretDB or MongoDB, Redis) and in this process.
//
//   source /work/wt/<you>.env && npm run stack -- up     # a private stack: its servers' CPU is ours
//   node bench/projections.ts [--messages 4000] [--batch 1000] [--tracking 30000]
//                             [--only message_timelines,audit_log] [--no-pump]
//
// 1. A fixed event log, appended once to a fresh event store: a small mixed
//    workload (users, templates, every message outcome, inbound, opt-outs;
//    testing/readSide.ts) and `--messages` messages of three events each
//    (accepted, submitted, delivered), as the command side and the dispatcher
//    append them, each `--lag` messages after the one before (so in other
//    batches, as in a running system).
// 2. Each projection in turn runs live (projectors/runner.ts, `--batch` its
//    maxBatch; 1000 is the default, a running system under load gathers about
//    a batch window's worth, so try `--batch 100` too) into fresh read models
//    until it has applied the whole log. A "read only" run first applies
//    nothing: what reading the log costs, in every projection's figures.
// 3. The pump: `--tracking` tracking events in Kafka-sized batches through
//    the pump's batch path (processBatch, markDirty, and recomputeDirty every
//    RECOMPUTE_EVERY_MS or 5× the last round's time, as the running pump does), without Kafka.
//
// CPU is read from /proc: this process (process.cpuUsage) and each server of
// the stack from the pid files in STREAMING_STACK_DIR (default .stack). On the
// shared stack other people's load lands in the server figures; use a private
// one. Per event = CPU ms / events of the log (every event, also those a
// projection ignores). Writes bench/results/projections.json.
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../platform/config/index.ts';
import { createLogger } from '../platform/logger/index.ts';
import { MysqlEventStore } from '../platform/eventStore/index.ts';
import { dropReadModelDatabases } from '../platform/readModels/index.ts';
import {
  projections,
  runProjection,
  type Projection,
  type ProjectorDeps,
} from '../projectors/index.ts';
import {
  RECOMPUTE_EVERY_MS,
  markDirty,
  minuteTallies,
  processBatch,
  recomputeDirty,
  ensureTrackingCollections,
} from '../pump/index.ts';
import { freshDatabase } from '../testing/mysql.ts';
import { accepted, outcomes } from './readSideLoad.ts';
import { appendWorkload } from '../testing/readSide.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '1000' },
    tracking: { type: 'string', default: '30000' },
    lag: { type: 'string', default: '300' },
    only: { type: 'string' },
    'no-pump': { type: 'boolean', default: false },
  },
});
const messages = Number(values.messages);
const maxBatch = Number(values.batch);
const trackingEvents = Number(values.tracking);
const lag = Number(values.lag);
const only = values.only?.split(',');

// ---- CPU from /proc ---------------------------------------------------------------
const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const stackDir = process.env.STREAMING_STACK_DIR ?? path.join(root, '.stack');
const servers: Record<string, number> = {};
for (const svc of ['mariadb', 'ferretdb', 'redis']) {
  const file = path.join(stackDir, `${svc}.pid`);
  if (existsSync(file)) servers[svc] = Number(readFileSync(file, 'utf8').trim());
}
const tickMs = 1000 / 100; // USER_HZ

function ticks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}
type Sample = { at: number; node: number } & Record<string, number>;
function sample(): Sample {
  const u = process.cpuUsage();
  const s: Sample = { at: performance.now(), node: (u.user + u.system) / 1000 };
  for (const [name, pid] of Object.entries(servers)) s[name] = ticks(pid) * tickMs;
  return s;
}
function perEvent(a: Sample, b: Sample, events: number) {
  const out: Record<string, number> = {};
  for (const k of Object.keys(a)) {
    if (k === 'at') continue;
    out[k] = Math.round(((b[k]! - a[k]!) / events) * 1000) / 1000;
  }
  return {
    events,
    ms: Math.round(b.at - a.at),
    eventsPerSecond: Math.round(events / ((b.at - a.at) / 1000)),
    cpuMsPerEvent: out,
  };
}

// ---- a fresh read side on the configured stack ------------------------------------
const config = loadConfig({ ...process.env, STREAMING_LOG_LEVEL: 'warn' });
const database = await freshDatabase('projbench', 30);
const mongoName = `streaming_t_projbench_${randomBytes(4).toString('hex')}`;
const mongoUrl = new URL(config.mongo.url);
mongoUrl.pathname = `/${mongoName}`;
const mongo = new MongoClient(mongoUrl.toString(), { retryWrites: false });
const db = mongo.db(mongoName);
const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 3 });
const eventStore = await MysqlEventStore.create(database.pool, { pollIntervalMs: 20 });
const deps: ProjectorDeps = {
  config: { ...config, mongo: { ...config.mongo, url: mongoUrl.toString() } },
  logger: createLogger(config),
  eventStore,
  mysql: database.pool,
  redis,
  mongo: { client: mongo, db },
  redisPrefix: `bench:${randomBytes(4).toString('hex')}:`,
};

const results: Record<string, unknown> = {};
try {
  // 1. the log
  const t0 = performance.now();
  await appendWorkload(eventStore, { tenants: 4, messages: 25 });
  // message i is accepted at step i, submitted at step i + lag, delivered at
  // i + 2·lag: a message's events fall in different batches, as in a running system
  const ids = Array.from({ length: messages }, () => randomUUID());
  const [submitted, delivered] = [0, 1];
  for (let step = 0; step < messages + 2 * lag; step += 32) {
    const appends: Promise<unknown>[] = [];
    for (let s = step; s < Math.min(step + 32, messages + 2 * lag); s++) {
      if (s < messages) {
        appends.push(eventStore.append(`message-${ids[s]}`, [accepted(s, ids[s])], 'no_stream'));
      }
      for (const [k, i] of [
        [submitted, s - lag],
        [delivered, s - 2 * lag],
      ] as const) {
        if (i < 0 || i >= messages) continue;
        appends.push(eventStore.append(`message-${ids[i]}`, [outcomes(ids[i]!, i)[k]!], k));
      }
    }
    await Promise.all(appends);
  }
  const head = await eventStore.headPosition();
  console.log(`log: ${head} events appended in ${Math.round(performance.now() - t0)} ms`);
  console.log(
    `servers measured: ${Object.keys(servers).join(', ') || 'none'} (pid files in ${stackDir})`,
  );

  // 2. each projection alone, live, over the whole log
  const readOnly: Projection = {
    name: 'read_only',
    version: 1,
    store: 'mysql',
    concerns: () => true,
    prepare: async () => undefined,
    checkpoint: async () => 0,
    apply: async () => undefined,
    swap: async () => undefined,
    discard: async () => undefined,
  };
  const chosen = [readOnly, ...projections.filter((p) => !only || only.includes(p.name))];
  for (const p of chosen) {
    const a = sample();
    const running = runProjection(p, deps, { maxBatch });
    const done = await running.waitFor(head, 600_000);
    const b = sample();
    await running.close();
    if (!done) throw new Error(`${p.name} did not reach ${head}`);
    const r = perEvent(a, b, head);
    results[p.name] = { store: p.store, ...r };
    console.log(
      `${p.name.padEnd(18)} ${p.store.padEnd(6)} ${String(r.eventsPerSecond).padStart(6)} ev/s  ` +
        Object.entries(r.cpuMsPerEvent)
          .map(([k, v]) => `${k} ${v.toFixed(3)}`)
          .join('  ') +
        '  (CPU ms per event)',
    );
  }

  // 3. the pump's Mongo side
  if (!values['no-pump'] && trackingEvents > 0) {
    await ensureTrackingCollections(db, 7);
    const accounts = ['aliyun-main', 'tencent-main', 'twilio-main'];
    const start = Date.now();
    const raw = (i: number) => {
      const kind = i % 3;
      const at = new Date(start + i * 2).toISOString(); // ~ 500 events per second of clock
      const base = { id: `t-${i}-${randomUUID()}`, at, service: 'bench' };
      if (kind === 0) return { ...base, type: 'send.accepted', tenantId: 't1', templateCode: 'c' };
      return {
        ...base,
        type: 'supplier.call',
        supplierAccount: accounts[i % accounts.length],
        outcome: i % 17 === 0 ? 'transient' : 'accepted',
        code: 'OK',
        latencyMs: 5 + (i % 200),
      };
    };
    const batchSize = 200;
    const tallies = minuteTallies(); // as the running pump: what it wrote, tallied
    const a = sample();
    let lastRecompute = performance.now();
    let lastTook = 0;
    for (let i = 0; i < trackingEvents; i += batchSize) {
      const batch = Array.from({ length: Math.min(batchSize, trackingEvents - i) }, (_, j) => ({
        value: JSON.stringify(raw(i + j)),
      }));
      const r = await processBatch(db, config.suppliers, batch, {
        deferMinutes: true,
        tallies,
      });
      await markDirty(db, r.minuteDates);
      // as the running pump: every RECOMPUTE_EVERY_MS, or 5× the last round's time
      if (performance.now() - lastRecompute >= Math.max(RECOMPUTE_EVERY_MS, 5 * lastTook)) {
        const t = performance.now();
        await recomputeDirty(db, tallies);
        lastRecompute = performance.now();
        lastTook = lastRecompute - t;
      }
    }
    await recomputeDirty(db, tallies);
    const r = perEvent(a, sample(), trackingEvents);
    results.pump = { store: 'mongo', batchSize, ...r };
    console.log(
      `${'pump'.padEnd(18)} mongo  ${String(r.eventsPerSecond).padStart(6)} ev/s  ` +
        Object.entries(r.cpuMsPerEvent)
          .map(([k, v]) => `${k} ${v.toFixed(3)}`)
          .join('  ') +
        '  (CPU ms per tracking event)',
    );
  }

  const out = {
    command: `node bench/projections.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, load: os.loadavg() },
    node: process.version,
    servers: Object.keys(servers),
    events: head,
    maxBatch,
    lag,
    results,
  };
  console.log(
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/projections.json', import.meta.url),
    `${JSON.stringify(out, null, 2)}\n`,
  );
} finally {
  await eventStore.close();
  const keys = await redis.keys(`${deps.redisPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await dropReadModelDatabases(db).catch(() => undefined);
  await mongo.close();
  await database.drop();
}
