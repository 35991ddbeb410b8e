// Retention removes exactly the expired messages — per tenant retention — and
// nothing else, in every store: event store streams, MySQL message_history,
// Mongo message_timelines, Redis supplier look-ups; it records retention.applied.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import type { RowDataPacket } from 'mysql2/promise';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { MysqlEventStore, type EventStore } from '../../platform/eventStore/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import {
  dropReadModelDatabases,
  openTimelines,
  readModelDb,
} from '../../platform/readModels/index.ts';
import {
  applyRetention,
  ensureJobTables,
  setTenantRetention,
  supplierLookupKey,
} from '../../jobs/index.ts';
import { daysAgo, sendMessage } from './support/messages.ts';

const logger = createLogger({ logLevel: 'error' }, { stream: process.stderr });

describe('history retention', () => {
  let db: TestDatabase;
  let store: EventStore;
  let redis: Redis;
  let mongo: MongoClient;
  let mdb: Db;
  const prefix = `t:${randomBytes(4).toString('hex')}:`;
  const now = new Date();

  const retentionDeps = () => ({
    pool: db.pool,
    eventStore: store,
    redis,
    mongo: mdb,
    logger,
    defaultDays: 365,
    redisPrefix: prefix,
  });

  before(async () => {
    db = await freshDatabase('jobs_retention');
    store = await MysqlEventStore.create(db.pool);
    redis = new Redis('redis://127.0.0.1:6379/4');
    mongo = new MongoClient('mongodb://127.0.0.1:27017', { retryWrites: false });
    mdb = mongo.db(`streaming_t_${randomBytes(4).toString('hex')}`);
    await ensureJobTables(db.pool);
    // the read side's tables, with the columns retention touches
    await db.pool.query(`CREATE TABLE IF NOT EXISTS message_history (
      message_id VARCHAR(128) NOT NULL PRIMARY KEY,
      tenant_id VARCHAR(128) NOT NULL,
      accepted_at DATETIME(3) NOT NULL)`);
  });
  after(async () => {
    await store.close();
    await db.drop();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await dropReadModelDatabases(mdb);
    await mongo.close();
  });

  it('removes exactly the expired messages from every store and records the fact', async () => {
    // tenant-a: default 365 days; tenant-b: its own 30 days; tenant-c: default
    await setTenantRetention(db.pool, 'tenant-b', 30);
    const plan: [string, number, boolean][] = [
      ['tenant-a', 400, true],
      ['tenant-a', 380, true],
      ['tenant-a', 366, false],
      ['tenant-a', 100, false],
      ['tenant-a', 364, false],
      ['tenant-b', 40, true],
      ['tenant-b', 31, true],
      ['tenant-b', 10, false],
      ['tenant-c', 40, false],
      ['tenant-c', 200, false],
    ];
    const messages = [];
    for (const [tenant, age, submitted] of plan) {
      const acceptedAt = daysAgo(now, age);
      const m = await sendMessage(store, tenant, acceptedAt, { submitted });
      messages.push({ ...m, tenant, age, acceptedAt, submitted });
      await db.pool.query(
        'INSERT INTO message_history (message_id, tenant_id, accepted_at) VALUES (?, ?, ?)',
        [m.id, tenant, acceptedAt],
      );
      // a timeline is in the open collection while in flight, in the final one after
      await readModelDb(mdb, 'message_timelines')
        .collection<{ _id: string }>(
          submitted ? 'message_timelines' : openTimelines('message_timelines'),
        )
        .insertOne({ _id: m.id, tenantId: tenant } as { _id: string });
      await mdb.collection('audit_log').insertOne({ streamId: `message-${m.id}`, version: 0 });
      if (submitted) {
        await redis.set(supplierLookupKey('sim-aliyun', m.supplierMessageId, prefix), m.id);
      }
    }
    // other streams and keys retention must not touch
    await store.append(
      'template-x',
      [{ type: 'template.disabled.v1', data: { templateCode: 'X' } }],
      'no_stream',
    );
    await redis.set(`${prefix}other`, 'keep');
    const expired = messages.filter(
      (m) => (m.tenant === 'tenant-b' && m.age > 30) || (m.tenant !== 'tenant-b' && m.age > 365),
    );
    const kept = messages.filter((m) => !expired.includes(m));
    assert.equal(expired.length, 5);
    const before = await store.readAll({ limit: 10_000 });

    const result = await applyRetention(retentionDeps(), { now, batchSize: 2 });
    assert.equal(result.removed, expired.length);

    // event store: expired streams gone, every other event untouched
    for (const m of expired) assert.deepEqual(await store.readStream(`message-${m.id}`), []);
    for (const m of kept) {
      assert.equal((await store.readStream(`message-${m.id}`)).length, m.submitted ? 2 : 1);
    }
    const expiredStreams = new Set(expired.map((m) => `message-${m.id}`));
    const afterAll = await store.readAll({ limit: 10_000 });
    assert.deepEqual(
      afterAll.filter((e) => !e.streamId.startsWith('retention-')).map((e) => e.eventId),
      before.filter((e) => !expiredStreams.has(e.streamId)).map((e) => e.eventId),
    );
    assert.equal((await store.readStream('template-x')).length, 1);

    // MySQL and Mongo read models
    const [rows] = await db.pool.query<RowDataPacket[]>('SELECT message_id FROM message_history');
    assert.deepEqual(rows.map((r) => r.message_id).sort(), kept.map((m) => m.id).sort());
    const docs = [
      ...(await readModelDb(mdb, 'message_timelines')
        .collection('message_timelines')
        .find()
        .toArray()),
      ...(await readModelDb(mdb, 'message_timelines')
        .collection(openTimelines('message_timelines'))
        .find()
        .toArray()),
    ];
    assert.deepEqual(docs.map((d) => String(d._id)).sort(), kept.map((m) => m.id).sort());

    const audit = await mdb.collection('audit_log').find().toArray();
    assert.deepEqual(
      audit.map((d) => String(d.streamId)).sort(),
      kept.map((m) => `message-${m.id}`).sort(),
    );

    // Redis look-ups
    for (const m of messages.filter((x) => x.submitted)) {
      const exists = await redis.exists(
        supplierLookupKey('sim-aliyun', m.supplierMessageId, prefix),
      );
      assert.equal(exists, expired.includes(m) ? 0 : 1, `look-up of ${m.tenant}/${m.age}d`);
    }
    assert.equal(await redis.get(`${prefix}other`), 'keep');

    // the audit keeps the fact: count and time range per batch, no content
    const applied = async (tenant: string) =>
      (await store.readStream(`retention-${tenant}`)).map((e) => e.data);
    const a = await applied('tenant-a');
    assert.equal(a.length, 2, 'one event per batch of 2');
    assert.deepEqual(a[1], {
      tenantId: 'tenant-a',
      count: 1,
      from: daysAgo(now, 366).toISOString(),
      to: daysAgo(now, 366).toISOString(),
      cutoff: daysAgo(now, 365).toISOString(),
    });
    assert.deepEqual(a[0], {
      tenantId: 'tenant-a',
      count: 2,
      from: daysAgo(now, 400).toISOString(),
      to: daysAgo(now, 380).toISOString(),
      cutoff: daysAgo(now, 365).toISOString(),
    });
    const b = await applied('tenant-b');
    assert.equal(
      b.reduce((n, e) => n + Number(e.count), 0),
      2,
    );
    assert.equal(b[0]?.cutoff, daysAgo(now, 30).toISOString());
    assert.deepEqual(await applied('tenant-c'), []);

    // a second run finds nothing more
    const again = await applyRetention(retentionDeps(), { now });
    assert.equal(again.removed, 0);
    assert.equal((await applied('tenant-a')).length, 2);
  });

  it('stops before a batch when the lock is no longer held', async () => {
    await sendMessage(store, 'tenant-d', daysAgo(now, 500));
    await assert.rejects(
      applyRetention(retentionDeps(), { now, stillHolder: async () => false }),
      /lock was lost/,
    );
    const [rows] = await db.pool.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM job_message_index WHERE tenant_id = 'tenant-d'",
    );
    assert.equal(Number(rows[0]?.n), 1, 'nothing was removed');
  });
});
