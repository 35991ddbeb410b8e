// Child process for the MySQL adapter's cross-process race tests: several of
// these append to the same streams at once, so a stream's version often moves
// between the moment an append reads it and the moment it writes.
//
//   RACER_URL      the database
//   RACER_MODE     'any': RACER_COUNT appends with 'any' to RACER_STREAMS shared streams;
//                  'counter': RACER_COUNT increments of one counter stream, each appending
//                  {count: expected + 1} with the version it read as expected version, and
//                  reading again after a conflict
// Prints the event id of every append that committed, one a line, then the
// store's appendStats() as a line `STATS {...}`.
import mysql from 'mysql2/promise';
import { randomUUID } from 'node:crypto';
import {
  MysqlEventStore,
  WrongExpectedVersionError,
  type NewEvent,
} from '../../platform/eventStore/index.ts';

const id = process.env.RACER_ID ?? 'racer';
const count = Number(process.env.RACER_COUNT ?? '200');
const streams = Number(process.env.RACER_STREAMS ?? '4');
const mode = process.env.RACER_MODE ?? 'any';
const prefix = process.env.RACER_PREFIX ?? 'race';

const pool = mysql.createPool({ uri: process.env.RACER_URL!, connectionLimit: 8, timezone: 'Z' });
const store = await MysqlEventStore.create(pool);

function event(n: number, eventId: string): NewEvent {
  return {
    type: 'retention.applied.v1',
    data: {
      tenantId: id,
      count: n,
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-01T00:00:00.000Z',
    },
    metadata: { eventId },
  };
}

const committed: string[] = [];
let next = 0;

async function anyWorker() {
  while (next < count) {
    const n = next++;
    const eventId = randomUUID();
    await store.append(`${prefix}-${n % streams}`, [event(n, eventId)], 'any');
    committed.push(eventId);
  }
}

async function counterWorker() {
  const stream = `${prefix}-counter`;
  while (next < count) {
    next++;
    for (;;) {
      const events = await store.readStream(stream);
      const expected = events.length === 0 ? 'no_stream' : events[events.length - 1]!.streamVersion;
      const eventId = randomUUID();
      try {
        await store.append(
          stream,
          [event(expected === 'no_stream' ? 0 : expected + 1, eventId)],
          expected,
        );
        committed.push(eventId);
        break;
      } catch (err) {
        if (!(err instanceof WrongExpectedVersionError)) throw err;
      }
    }
  }
}

await Promise.all(Array.from({ length: 8 }, mode === 'counter' ? counterWorker : anyWorker));
process.stdout.write(committed.join('\n') + '\n');
process.stdout.write(`STATS ${JSON.stringify(store.appendStats())}\n`);
await store.close();
await pool.end();
