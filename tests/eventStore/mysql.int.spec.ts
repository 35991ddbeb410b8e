import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import {
  LONG_STREAM,
  MysqlEventStore,
  redisAppendWakes,
  WrongExpectedVersionError,
  type AppendStats,
  type NewEvent,
  type RecordedEvent,
} from '../../platform/eventStore/index.ts';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { eventStoreContract } from './contract.ts';

eventStoreContract('mysql', async () => {
  const db = await freshDatabase('es');
  const store = await MysqlEventStore.create(db.pool);
  return {
    store,
    childEnv: { APPENDER_STORE: 'mysql', APPENDER_URL: db.url },
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
});

const racer = fileURLToPath(new URL('./racer.ts', import.meta.url));

function runRacer(env: Record<string, string>): Promise<{ ids: string[]; stats: AppendStats }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [racer], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`racer exited ${code}`));
      const lines = out.trim().split('\n');
      const stats = JSON.parse(lines.pop()!.replace(/^STATS /, '')) as AppendStats;
      resolve({ ids: lines.filter((l) => l.length > 0), stats });
    });
  });
}

function retention(n: number): NewEvent {
  return {
    type: 'retention.applied.v1',
    data: {
      tenantId: 't',
      count: n,
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-02T00:00:00.000Z',
    },
  };
}

describe('mysql event store: appends written in one round trip', () => {
  let db: TestDatabase;
  let store: MysqlEventStore;
  before(async () => {
    db = await freshDatabase('es_append');
    store = await MysqlEventStore.create(db.pool);
  });
  after(async () => {
    await store.close();
    await db.drop();
  });

  /** Every position from 1 to the head holds exactly one event, and the head is the last one. */
  async function assertGapFree() {
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n, MIN(position) AS lo, MAX(position) AS hi FROM es_events',
    );
    const { n, lo, hi } = rows[0]!;
    assert.equal(Number(lo), 1);
    assert.equal(Number(hi), Number(n), 'no position skipped');
    assert.equal(await store.headPosition(), Number(hi), 'the head is the last event');
  }

  test('one transaction of one round trip per batch, the lock taken by that round trip only', async () => {
    const before = store.appendStats();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.append(`batch-${randomUUID()}`, [retention(i)], 'no_stream'),
      ),
    );
    const s = store.appendStats();
    const transactions = s.transactions - before.transactions;
    assert.equal(s.appends - before.appends, 40);
    assert.ok(transactions < 40, `coalesced: ${transactions} transactions for 40 appends`);
    // new streams with no_stream need no version read: one round trip per transaction
    assert.equal(s.roundTrips - before.roundTrips, transactions);
    assert.equal(s.lockRoundTrips - before.lockRoundTrips, transactions);
    assert.equal(new Set(results.map((r) => r.position)).size, 40);
    await assertGapFree();
  });

  test('in a coalesced batch, the appends that conflict are refused alone and the rest commit once', async () => {
    const existing = `grp-existing-${randomUUID()}`;
    const moved = `grp-moved-${randomUUID()}`;
    const shared = `grp-shared-${randomUUID()}`;
    await store.append(existing, [retention(0)], 'no_stream');
    await store.append(moved, [retention(0), retention(1)], 'no_stream');
    const before = store.appendStats();
    const head = await store.headPosition();

    // The first append is written alone; everything appended while it is in
    // flight is queued and written as one batch after it.
    const opener = store.append(`grp-open-${randomUUID()}`, [retention(0)], 'no_stream');
    const fresh = Array.from({ length: 10 }, () => `grp-new-${randomUUID()}`);
    const freshAppends = fresh.map((s, i) => store.append(s, [retention(i)], 'no_stream'));
    // no_stream on a stream that exists: no version is read for it, the unique key refuses it
    const duplicate = store.append(existing, [retention(9)], 'no_stream');
    // a stale expected version on a stream that was read
    const stale = store.append(moved, [retention(9)], 0);
    // two appends to one stream in the same batch: versions 0 then 1, the third expects 0 again
    const s0 = store.append(shared, [retention(0)], 'no_stream');
    const s1 = store.append(shared, [retention(1), retention(2)], 0);
    const s2 = store.append(shared, [retention(3)], 0);
    const settled = await Promise.allSettled([
      opener,
      ...freshAppends,
      duplicate,
      stale,
      s0,
      s1,
      s2,
    ]);

    const rejected = (p: PromiseSettledResult<unknown>) =>
      p.status === 'rejected' ? (p.reason as unknown) : undefined;
    const [dupResult, staleResult, s0Result, s1Result, s2Result] = settled.slice(11);
    assert.ok(rejected(dupResult!) instanceof WrongExpectedVersionError);
    assert.equal((rejected(dupResult!) as WrongExpectedVersionError).actual, 0);
    assert.ok(rejected(staleResult!) instanceof WrongExpectedVersionError);
    assert.equal((rejected(staleResult!) as WrongExpectedVersionError).actual, 1);
    assert.ok(rejected(s2Result!) instanceof WrongExpectedVersionError);
    assert.equal(s0Result!.status, 'fulfilled');
    assert.equal(s1Result!.status, 'fulfilled');
    assert.equal((await s1).nextExpectedVersion, 2);
    for (const p of settled.slice(0, 11)) assert.equal(p.status, 'fulfilled');

    const s = store.appendStats();
    assert.equal(
      s.retries - before.retries,
      1,
      'the batch met the existing stream once, then was written',
    );
    // 1 (opener) + 10 + 1 (s0) + 2 (s1) rows, and nothing of the refused appends
    assert.equal(await store.headPosition(), head + 14);
    assert.deepEqual(
      (await store.readStream(existing)).map((e) => e.data.count),
      [0],
    );
    assert.deepEqual(
      (await store.readStream(moved)).map((e) => e.data.count),
      [0, 1],
    );
    assert.deepEqual(
      (await store.readStream(shared)).map((e) => [e.streamVersion, e.data.count]),
      [
        [0, 0],
        [1, 1],
        [2, 2],
      ],
    );
    for (const [i, s] of fresh.entries()) {
      assert.deepEqual(
        (await store.readStream(s)).map((e) => e.data.count),
        [i],
      );
    }
    await assertGapFree();
  });
  test('a long stream has its head read on its own, and appends to it stay exact', async () => {
    // MariaDB reads every index entry of a stream named in `IN (…) GROUP BY`;
    // the head of a long stream (a receipts inbox) is read with `= ?` instead
    const long = `long-${randomUUID()}`;
    const short = `short-${randomUUID()}`;
    await store.append(
      long,
      Array.from({ length: LONG_STREAM + 10 }, (_, i) => retention(i)),
      'no_stream',
    );
    await store.append(short, [retention(0)], 'no_stream');
    await store.append(long, [retention(0)], 'any'); // its head read once: now known as long
    const head = LONG_STREAM + 10; // LONG_STREAM + 11 events, versions from 0

    const queries: string[] = [];
    const pool = db.pool as unknown as { query: (...a: unknown[]) => unknown };
    const query = pool.query.bind(pool);
    pool.query = (...a: unknown[]) => {
      queries.push(String(typeof a[0] === 'string' ? a[0] : (a[0] as { sql?: string }).sql));
      return query(...a);
    };
    try {
      // one coalesced batch: the long stream, a short one, a new one, and an
      // expectation made stale by the append before it in the same batch
      const opener = store.append(`open-${randomUUID()}`, [retention(0)], 'no_stream');
      const onLong = store.append(long, [retention(1)], head);
      const onShort = store.append(short, [retention(1)], 0);
      const fresh = store.append(`fresh-${randomUUID()}`, [retention(0)], 'any');
      const stale = store.append(long, [retention(2)], head);
      const [, longResult, shortResult, freshResult, staleResult] = await Promise.allSettled([
        opener,
        onLong,
        onShort,
        fresh,
        stale,
      ]);
      assert.equal(longResult!.status, 'fulfilled');
      assert.equal(shortResult!.status, 'fulfilled');
      assert.equal(freshResult!.status, 'fulfilled');
      assert.equal(staleResult!.status, 'rejected');
      const refused = (staleResult as PromiseRejectedResult).reason as unknown;
      assert.ok(refused instanceof WrongExpectedVersionError);
      assert.equal(refused.actual, head + 1);
    } finally {
      pool.query = query;
    }
    const versions = (await store.readStream(long)).map((e) => e.streamVersion);
    assert.deepEqual(
      versions,
      Array.from({ length: head + 2 }, (_, i) => i),
      'every version once, in order',
    );
    assert.deepEqual(
      (await store.readStream(short)).map((e) => e.streamVersion),
      [0, 1],
    );
    const reads = queries.filter((q) => q.includes('MAX(stream_version)'));
    assert.ok(reads.length > 0, 'the heads were read');
    for (const q of reads) {
      assert.ok(!new RegExp(`IN \\([^)]*'${long}'`).test(q), `the long stream in an IN list: ${q}`);
    }
    assert.ok(
      reads.some((q) => q.includes(`WHERE stream_id = '${long}'`)),
      'the long stream read on its own',
    );
    await assertGapFree();
  });

  test('text that means something to SQL or to a multi-statement packet is stored as it was given', async () => {
    const tricky = `t 😀 验证码 ' " \\ \\' ? ?? ; COMMIT; -- /* x */ \u0000 ${'x'.repeat(5000)}`;
    const stream = `text-${randomUUID()}`;
    const opener = store.append(`text-${randomUUID()}`, [retention(0)], 'no_stream');
    const appended = store.append(
      stream,
      [{ ...retention(1), data: { ...retention(1).data, tenantId: tricky } }],
      'no_stream',
    );
    await Promise.all([opener, appended]);
    const [event] = await store.readStream(stream);
    assert.equal(event!.data.tenantId, tricky);
    await assertGapFree();
  });

  test('an event id appended twice fails alone; the rest of its batch commits', async () => {
    const eventId = randomUUID();
    await store.append(
      `eid-${randomUUID()}`,
      [{ ...retention(0), metadata: { eventId } }],
      'no_stream',
    );
    const opener = store.append(`eid-${randomUUID()}`, [retention(0)], 'no_stream');
    const others = Array.from({ length: 5 }, (_, i) =>
      store.append(`eid-${randomUUID()}`, [retention(i)], 'no_stream'),
    );
    const again = store.append(
      `eid-${randomUUID()}`,
      [{ ...retention(1), metadata: { eventId } }],
      'no_stream',
    );
    const settled = await Promise.allSettled([opener, ...others, again]);
    assert.equal(settled.at(-1)!.status, 'rejected');
    for (const p of settled.slice(0, -1)) assert.equal(p.status, 'fulfilled');
    await assertGapFree();
  });

  test('appends go on after the server drops every connection of the store', async () => {
    await store.append(`drop-${randomUUID()}`, [retention(0)], 'no_stream'); // the writer is connected
    const admin = await mysql.createConnection(db.url);
    const [conns] = await admin.query<RowDataPacket[]>(
      'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [db.name],
    );
    assert.ok(conns.length > 0);
    for (const c of conns) await admin.query('KILL CONNECTION ?', [Number(c.ID)]);
    await admin.end();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        store.append(`drop-${randomUUID()}`, [retention(i)], i % 2 === 0 ? 'no_stream' : 'any'),
      ),
    );
    assert.equal(new Set(results.map((r) => r.position)).size, 5);
    await assertGapFree();
  });

  test('processes racing on the same streams: every append commits once, versions and positions without gaps, a subscriber sees all in order', async () => {
    const start = await store.headPosition();
    const prefix = `race-${randomUUID()}`;
    const perChild = 300;
    const outputs = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        runRacer({
          RACER_URL: db.url,
          RACER_MODE: 'any',
          RACER_ID: `r${i}`,
          RACER_COUNT: String(perChild),
          RACER_STREAMS: '3',
          RACER_PREFIX: prefix,
        }),
      ),
    );
    const written = new Set(outputs.flatMap((o) => o.ids));
    assert.equal(written.size, 4 * perChild);

    const seen: RecordedEvent[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const subscription = store.subscribe({
      after: start,
      batchSize: 100,
      onEvents: async (events) => {
        seen.push(...events);
        if (seen.length >= 4 * perChild) done();
      },
    });
    await finished;
    await subscription.stop();
    assert.equal(seen.length, 4 * perChild);
    assert.deepEqual(new Set(seen.map((e) => e.eventId)), written);
    seen.forEach((e, i) => assert.equal(e.position, start + i + 1, 'positions one after another'));
    for (let s = 0; s < 3; s++) {
      const versions = seen
        .filter((e) => e.streamId === `${prefix}-${s}`)
        .map((e) => e.streamVersion);
      assert.deepEqual(
        versions,
        versions.map((_, i) => i),
        'stream versions one after another',
      );
    }
    await assertGapFree();
  });

  test('optimistic concurrency across processes: an increment that read a stale version never commits', async () => {
    const prefix = `counter-${randomUUID()}`;
    const perChild = 40;
    const outputs = await Promise.all(
      [0, 1, 2].map((i) =>
        runRacer({
          RACER_URL: db.url,
          RACER_MODE: 'counter',
          RACER_ID: `c${i}`,
          RACER_COUNT: String(perChild),
          RACER_PREFIX: prefix,
        }),
      ),
    );
    const events = await store.readStream(`${prefix}-counter`);
    assert.equal(events.length, 3 * perChild);
    // each writer wrote count = the version it expected + 1: equal to its version iff the check held
    events.forEach((e, i) => {
      assert.equal(e.streamVersion, i);
      assert.equal(e.data.count, i);
    });
    assert.equal(new Set(outputs.flatMap((o) => o.ids)).size, 3 * perChild);
    await assertGapFree();
  });
});

// As openEventStore runs it: subscriptions woken through Redis by the
// appenders of other processes, polling only as a fallback.
const REDIS_URL = 'redis://127.0.0.1:6379/0';
eventStoreContract('mysql, woken through Redis', async () => {
  const db = await freshDatabase('es');
  const channel = `t:${randomBytes(4).toString('hex')}:es:committed`;
  const store = await MysqlEventStore.create(db.pool, {
    wakes: redisAppendWakes({ url: REDIS_URL, channel }),
  });
  return {
    store,
    childEnv: {
      APPENDER_STORE: 'mysql',
      APPENDER_URL: db.url,
      APPENDER_WAKES_URL: REDIS_URL,
      APPENDER_WAKES_CHANNEL: channel,
    },
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
});
