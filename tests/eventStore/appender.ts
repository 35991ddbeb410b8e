// Child process for the concurrency contract test: opens the store named by
// the environment, appends APPENDER_COUNT events 16 at a time, and prints the
// id of every event whose append committed.
import mysql from 'mysql2/promise';
import { randomUUID } from 'node:crypto';
import {
  KurrentDbEventStore,
  MysqlEventStore,
  redisAppendWakes,
  type EventStore,
} from '../../platform/eventStore/index.ts';

const id = process.env.APPENDER_ID ?? 'proc';
const count = Number(process.env.APPENDER_COUNT ?? '1000');

let store: EventStore;
let pool: mysql.Pool | undefined;
if (process.env.APPENDER_STORE === 'kurrentdb') {
  store = new KurrentDbEventStore(process.env.APPENDER_URL!);
} else {
  pool = mysql.createPool({ uri: process.env.APPENDER_URL!, connectionLimit: 8, timezone: 'Z' });
  // APPENDER_WAKES_URL/_CHANNEL: announce the commits through Redis, as openEventStore does
  const wakesUrl = process.env.APPENDER_WAKES_URL;
  store = await MysqlEventStore.create(
    pool,
    wakesUrl
      ? { wakes: redisAppendWakes({ url: wakesUrl, channel: process.env.APPENDER_WAKES_CHANNEL! }) }
      : {},
  );
}

const committed: string[] = [];
let next = 0;
async function worker() {
  while (next < count) {
    const n = next++;
    const eventId = randomUUID();
    await store.append(
      `appender-${id}-${n % 50}`,
      [
        {
          type: 'retention.applied.v1',
          data: {
            tenantId: id,
            count: n,
            from: '2026-01-01T00:00:00.000Z',
            to: '2026-01-01T00:00:00.000Z',
          },
          metadata: { eventId },
        },
      ],
      'any',
    );
    committed.push(eventId);
  }
}
await Promise.all(Array.from({ length: 16 }, worker));
process.stdout.write(committed.join('\n') + '\n');
await store.close();
await pool?.end();
