// Event store benchmark: single-event appends per second with 1 and with 64
// concurrent writers, and readAll events per second, against the MySQL
// adapter on the local MariaDB (`npm run stack -- up`).
//
//   node bench/eventStore.ts [--seconds 10] [--read-events 100000]
//
// Prints one line per measurement and writes bench/results/eventStore.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { MysqlEventStore, type NewEvent } from '../platform/eventStore/index.ts';
import { freshDatabase } from '../testing/mysql.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'read-events': { type: 'string', default: '100000' },
  },
});
const seconds = Number(values.seconds);
const readEvents = Number(values['read-events']);

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
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, writer));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    writers,
    appends: latencies.length,
    appendsPerSecond: Math.round(latencies.length / elapsed),
    p50Ms: +percentile(latencies, 50).toFixed(2),
    p99Ms: +percentile(latencies, 99).toFixed(2),
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

const db = await freshDatabase('bench_es', 32);
try {
  const store = await MysqlEventStore.create(db.pool);
  const results = {
    when: new Date().toISOString(),
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? ''}`,
    node: process.version,
    command: `node bench/eventStore.ts --seconds ${seconds} --read-events ${readEvents}`,
    append1: await appends(store, 1),
    append64: await appends(store, 64),
    readAll: await readAll(store),
  };
  console.log(
    `append, 1 writer:   ${results.append1.appendsPerSecond} appends/s (p50 ${results.append1.p50Ms} ms, p99 ${results.append1.p99Ms} ms)`,
  );
  console.log(
    `append, 64 writers: ${results.append64.appendsPerSecond} appends/s (p50 ${results.append64.p50Ms} ms, p99 ${results.append64.p99Ms} ms)`,
  );
  console.log(
    `readAll:            ${results.readAll.eventsPerSecond} events/s over ${results.readAll.events} events`,
  );
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/eventStore.json', import.meta.url),
    JSON.stringify(results, null, 2) + '\n',
  );
  await store.close();
} finally {
  await db.drop();
}
