// Event store benchmark: single-event appends per second with 1 and with 64
// concurrent writers in one process, with 64 writers in each of
// `--processes` processes at once (they contend for the position lock), and
// readAll events per second, against the MySQL adapter on the local MariaDB
// (`npm run stack -- up`).
//
//   node bench/eventStore.ts [--seconds 10] [--read-events 100000] [--processes 4]
//
// Besides rates it prints counts that do not depend on the machine's load:
// appends per transaction, round trips per append, round trips made while
// the position lock is held per transaction (the store's appendStats()),
// and the client-observed lock hold per transaction; for the multi-process
// run also MariaDB's Innodb_row_lock_waits / Innodb_row_lock_time deltas
// (server-wide: other users of the server add to them).
//
// Prints one line per measurement and writes bench/results/eventStore.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import os from 'node:os';
import mysql from 'mysql2/promise';
import { MysqlEventStore, type AppendStats, type NewEvent } from '../platform/eventStore/index.ts';
import { freshDatabase } from '../testing/mysql.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'read-events': { type: 'string', default: '100000' },
    processes: { type: 'string', default: '4' },
    // internal: run as one of the --processes children against this database URL
    child: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const readEvents = Number(values['read-events']);
const processes = Number(values.processes);

function event(i: number): NewEvent {
  return {
    type: 'retention.applied.v1',
    data: {
      tenantId: 'bench',
      count: i,
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-02T00:00:00.000Z',
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function diff(after: AppendStats, before: AppendStats): AppendStats {
  return {
    appends: after.appends - before.appends,
    transactions: after.transactions - before.transactions,
    roundTrips: after.roundTrips - before.roundTrips,
    lockRoundTrips: after.lockRoundTrips - before.lockRoundTrips,
    lockMs: after.lockMs - before.lockMs,
    retries: after.retries - before.retries,
  };
}

/** Machine-independent figures of an append run. */
function counts(s: AppendStats) {
  const per = (n: number, d: number) => (d > 0 ? +(n / d).toFixed(3) : 0);
  return {
    appendsPerTransaction: per(s.appends, s.transactions),
    roundTripsPerAppend: per(s.roundTrips, s.appends),
    lockRoundTripsPerTransaction: per(s.lockRoundTrips, s.transactions),
    lockMsPerTransaction: per(s.lockMs, s.transactions),
    lockMsPerAppend: per(s.lockMs, s.appends),
    retries: s.retries,
  };
}

async function appends(store: MysqlEventStore, writers: number) {
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  let n = 0;
  async function writer() {
    while (performance.now() < deadline) {
      const started = performance.now();
      // Each append is its own new stream with 'no_stream': the shape of an accepted SMS.
      await store.append(`bench-${randomUUID()}`, [event(n++)], 'no_stream');
      latencies.push(performance.now() - started);
    }
  }
  const before = store.appendStats();
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, writer));
  const elapsed = (performance.now() - started) / 1000;
  const stats = diff(store.appendStats(), before);
  latencies.sort((a, b) => a - b);
  return {
    writers,
    appends: latencies.length,
    appendsPerSecond: Math.round(latencies.length / elapsed),
    p50Ms: +percentile(latencies, 50).toFixed(2),
    p99Ms: +percentile(latencies, 99).toFixed(2),
    stats,
    ...counts(stats),
  };
}

async function readAll(store: MysqlEventStore) {
  // Top up to readEvents events, then read them all in pages of 1,000.
  let head = await store.headPosition();
  while (head < readEvents) {
    const batch = Array.from({ length: Math.min(1000, readEvents - head) }, (_, i) => event(i));
    head = (await store.append(`bench-fill-${randomUUID()}`, batch, 'no_stream')).position;
  }
  const started = performance.now();
  let after = 0;
  let count = 0;
  for (;;) {
    const page = await store.readAll({ after, limit: 1000 });
    if (page.length === 0) break;
    count += page.length;
    after = page[page.length - 1]!.position;
  }
  const elapsed = (performance.now() - started) / 1000;
  return { events: count, eventsPerSecond: Math.round(count / elapsed) };
}

async function rowLockStatus(conn: mysql.Connection) {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_row_lock_waits', 'Innodb_row_lock_time')",
  );
  const by = new Map(rows.map((r) => [String(r.Variable_name), Number(r.Value)]));
  return { waits: by.get('Innodb_row_lock_waits') ?? 0, ms: by.get('Innodb_row_lock_time') ?? 0 };
}

/** `processes` children, 64 writers each, on the same store at once. */
async function multiProcess(url: string) {
  const self = fileURLToPath(import.meta.url);
  const admin = await mysql.createConnection(url);
  const locksBefore = await rowLockStatus(admin);
  const outputs = await Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [self, '--child', url, '--seconds', String(seconds)],
            {
              stdio: ['ignore', 'pipe', 'inherit'],
            },
          );
          let out = '';
          child.stdout.on('data', (c: Buffer) => (out += c.toString()));
          child.on('error', reject);
          child.on('exit', (code) =>
            code === 0 ? resolve(out) : reject(new Error(`child exit ${code}`)),
          );
        }),
    ),
  );
  const locksAfter = await rowLockStatus(admin);
  await admin.end();
  const runs = outputs.map((o) => JSON.parse(o) as Awaited<ReturnType<typeof appends>>);
  const total = runs.reduce(
    (acc, r) => {
      for (const k of Object.keys(acc) as (keyof AppendStats)[]) acc[k] += r.stats[k];
      return acc;
    },
    { appends: 0, transactions: 0, roundTrips: 0, lockRoundTrips: 0, lockMs: 0, retries: 0 },
  );
  const waits = locksAfter.waits - locksBefore.waits;
  const waitMs = locksAfter.ms - locksBefore.ms;
  return {
    processes,
    writersPerProcess: 64,
    appendsPerSecond: runs.reduce((a, r) => a + r.appendsPerSecond, 0),
    p99MsWorst: Math.max(...runs.map((r) => r.p99Ms)),
    stats: total,
    ...counts(total),
    serverRowLockWaits: waits,
    serverRowLockWaitMs: waitMs,
    serverRowLockWaitsPerTransaction:
      total.transactions > 0 ? +(waits / total.transactions).toFixed(3) : 0,
  };
}

if (values.child !== undefined) {
  const pool = mysql.createPool({ uri: values.child, connectionLimit: 16, timezone: 'Z' });
  const store = await MysqlEventStore.create(pool);
  const result = await appends(store, 64);
  await store.close();
  await pool.end();
  process.stdout.write(JSON.stringify(result));
} else {
  const db = await freshDatabase('bench_es', 32);
  try {
    const store = await MysqlEventStore.create(db.pool);
    const load = () => os.loadavg().map((l) => +l.toFixed(2));
    const loadBefore = load();
    const append1 = await appends(store, 1);
    const append64 = await appends(store, 64);
    const appendProcesses = await multiProcess(db.url);
    const results = {
      when: new Date().toISOString(),
      machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? ''}`,
      node: process.version,
      command: `node bench/eventStore.ts --seconds ${seconds} --read-events ${readEvents} --processes ${processes}`,
      loadAverage: { before: loadBefore, after: load() },
      append1,
      append64,
      appendProcesses,
      readAll: await readAll(store),
    };
    const line = (r: ReturnType<typeof counts>) =>
      `${r.appendsPerTransaction} appends/txn, ${r.roundTripsPerAppend} round trips/append, ` +
      `${r.lockRoundTripsPerTransaction} under the lock/txn, lock ${r.lockMsPerTransaction} ms/txn, ${r.retries} retries`;
    console.log(`load average ${results.loadAverage.before.join(' ')}`);
    console.log(
      `append, 1 writer:   ${append1.appendsPerSecond} appends/s (p50 ${append1.p50Ms} ms, p99 ${append1.p99Ms} ms); ${line(append1)}`,
    );
    console.log(
      `append, 64 writers: ${append64.appendsPerSecond} appends/s (p50 ${append64.p50Ms} ms, p99 ${append64.p99Ms} ms); ${line(append64)}`,
    );
    console.log(
      `append, ${processes}×64 writers in ${processes} processes: ${appendProcesses.appendsPerSecond} appends/s (worst p99 ${appendProcesses.p99MsWorst} ms); ${line(appendProcesses)}; ` +
        `server row-lock waits ${appendProcesses.serverRowLockWaits} (${appendProcesses.serverRowLockWaitMs} ms, ${appendProcesses.serverRowLockWaitsPerTransaction}/txn)`,
    );
    console.log(
      `readAll:            ${results.readAll.eventsPerSecond} events/s over ${results.readAll.events} events`,
    );
    console.log(`load average ${results.loadAverage.after.join(' ')}`);
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(
      new URL('./results/eventStore.json', import.meta.url),
      JSON.stringify(results, null, 2) + '\n',
    );
    await store.close();
  } finally {
    await db.drop();
  }
}
