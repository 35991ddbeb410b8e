// Wakes of the MySQL event store's subscriptions through Redis
// (platform/eventStore/wakes.ts), between two stores on one database as two
// processes would have them. A subscriber whose own poll would not come for
// a minute reads an event another store appended once that store's wake
// arrives; one that gets no wake reads it by its fallback poll; and with
// Redis gone (a private Redis of this file's own, stopped and started again)
// appends still commit and subscriptions go on by polling, then by wakes
// again once Redis is back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MysqlEventStore,
  redisAppendWakes,
  type AppendWakes,
  type EventStore,
  type RecordedEvent,
  type Subscription,
} from '../../platform/eventStore/index.ts';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { privateStack, type PrivateStack } from '../support/privateStack.ts';

const SHARED_REDIS = 'redis://127.0.0.1:6379/0';
/** A port no other test file or helper uses. */
const PRIVATE_REDIS_PORT = 6988;
/** Far beyond every wait below: an event read in time was not read by this poll. */
const MINUTE = 60_000;

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const retention = (n: number) => ({
  type: 'retention.applied.v1',
  data: {
    tenantId: 'wakes',
    count: n,
    from: '2026-01-01T00:00:00.000Z',
    to: '2026-01-01T00:00:00.000Z',
  },
});

/** A caught-up subscription from the head, collecting what it reads. */
async function follow(store: EventStore) {
  const seen: RecordedEvent[] = [];
  const sub: Subscription = store.subscribe({
    after: await store.headPosition(),
    onEvents: async (events) => void seen.push(...events),
  });
  return { seen, sub };
}

describe('event store wakes', () => {
  let db: TestDatabase;
  let redis: PrivateStack;
  const stores: EventStore[] = [];
  const subs: Subscription[] = [];
  const channel = `t:${randomBytes(4).toString('hex')}:es:committed`;

  before(async () => {
    db = await freshDatabase('eswake');
    redis = await privateStack('es-wakes-test', { redis: PRIVATE_REDIS_PORT }, ['redis']);
  });
  after(async () => {
    for (const s of subs) await s.stop();
    for (const s of stores) await s.close();
    await db?.drop();
    await redis?.down();
  });

  async function store(options: {
    wakes?: AppendWakes;
    pollIntervalMs?: number;
    idlePollMaxMs?: number;
    fallbackPollMs?: number;
  }) {
    const s = await MysqlEventStore.create(db.pool, options);
    stores.push(s);
    return s;
  }

  it('wakes a subscriber of another store at once when an append commits', async () => {
    const readerWakes = redisAppendWakes({ url: SHARED_REDIS, channel: `${channel}:a` });
    // without the wake, it would look again in a minute
    const reader = await store({
      wakes: readerWakes,
      pollIntervalMs: MINUTE,
      fallbackPollMs: MINUTE,
    });
    const writer = await store({
      wakes: redisAppendWakes({ url: SHARED_REDIS, channel: `${channel}:a` }),
    });
    const { seen, sub } = await follow(reader);
    subs.push(sub);
    await until('the reader listening', () => readerWakes.live);
    await sleep(200); // its first read (at the subscription) is done

    const { position } = await writer.append('wake-a', [retention(1)], 'no_stream');
    assert.equal(await sub.waitFor(position, 20_000), true, 'the wake made it read');
    assert.deepEqual(
      seen.map((e) => e.position),
      [position],
    );
  });

  it('reads an event whose wake it missed by its fallback poll', async () => {
    const readerWakes = redisAppendWakes({ url: SHARED_REDIS, channel: `${channel}:b` });
    const reader = await store({ wakes: readerWakes, fallbackPollMs: 1_000 });
    // a writer that announces nothing, as if its wake were lost
    const writer = await store({});
    const { seen, sub } = await follow(reader);
    subs.push(sub);
    await until('the reader listening', () => readerWakes.live);
    await sleep(3_000); // long idle: its polls are down to the fallback interval

    const { position } = await writer.append('wake-b', [retention(1)], 'no_stream');
    assert.equal(await sub.waitFor(position, 30_000), true, 'the fallback poll read it');
    assert.deepEqual(
      seen.map((e) => e.position),
      [position],
    );
  });

  it('goes on by polling while Redis is down, and by wakes once it is back', async () => {
    const url = redis.env.STREAMING_REDIS_URL!;
    const readerWakes = redisAppendWakes({ url, channel: `${channel}:c` });
    // polls every 200 ms while the wakes are down; with them, once a minute
    const reader = await store({
      wakes: readerWakes,
      pollIntervalMs: 200,
      idlePollMaxMs: 200,
      fallbackPollMs: MINUTE,
    });
    const writer = await store({ wakes: redisAppendWakes({ url, channel: `${channel}:c` }) });
    const { seen, sub } = await follow(reader);
    subs.push(sub);
    await until('the reader listening', () => readerWakes.live);
    await sleep(1_000); // idle: it sleeps for the fallback interval now

    const first = await writer.append('wake-c', [retention(1)], 'no_stream');
    assert.equal(await sub.waitFor(first.position, 20_000), true, 'woken');

    await redis.down();
    await until('the reader knowing Redis is gone', () => !readerWakes.live);
    const second = await writer.append('wake-c', [retention(2)], 0); // commits without Redis
    assert.equal(await sub.waitFor(second.position, 20_000), true, 'read by polling');

    await redis.up();
    await until('the reader listening again', () => readerWakes.live);
    await sleep(1_000); // idle again, on the fallback interval
    const third = await writer.append('wake-c', [retention(3)], 1);
    assert.equal(await sub.waitFor(third.position, 20_000), true, 'woken again');
    assert.deepEqual(
      seen.map((e) => e.position),
      [first.position, second.position, third.position],
    );
  });
});
