// The entry points the CLI calls: startJobs, listJobs, runJob.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { MysqlEventStore, type EventStore } from '../../platform/eventStore/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { acquireLockForTest } from './support/lock.ts';
import { listJobs, runJob, startJobs, type JobsDeps } from '../../jobs/index.ts';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { daysAgo, sendMessage } from './support/messages.ts';
import { dropReadModelDatabases } from '../../platform/readModels/index.ts';

describe('jobs entry points', () => {
  let db: TestDatabase;
  let store: EventStore;
  let redis: Redis;
  let mongo: MongoClient;
  let deps: JobsDeps;
  const prefix = `t:${randomBytes(4).toString('hex')}:`;

  before(async () => {
    db = await freshDatabase('jobs_entry');
    store = await MysqlEventStore.create(db.pool);
    redis = new Redis('redis://127.0.0.1:6379/4');
    mongo = new MongoClient('mongodb://127.0.0.1:27017', { retryWrites: false });
    const config = loadConfig({
      STREAMING_ENV: 'test',
      STREAMING_JOBS_RETENTION_CRON: '0 4 * * *',
      STREAMING_RETENTION_DAYS: '30',
    });
    deps = {
      config,
      logger: createLogger({ logLevel: 'error' }, { stream: process.stderr }),
      eventStore: store,
      mysql: db.pool,
      redis,
      mongo: { client: mongo, db: mongo.db(`streaming_t_${randomBytes(4).toString('hex')}`) },
      keyPrefix: prefix,
      redisPrefix: prefix,
      holder: 'test-holder',
    };
  });
  after(async () => {
    await store.close();
    await db.drop();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await dropReadModelDatabases(deps.mongo.db);
    await mongo.close();
  });

  it('runs a job by hand and lists each job with its schedule, last run and holder', async () => {
    const old = await sendMessage(store, 'tenant-x', daysAgo(new Date(), 40));
    const outcome = await runJob(deps, 'retention');
    assert.equal(outcome.status, 'ran');
    if (outcome.status !== 'ran') return;
    assert.equal(outcome.record.status, 'succeeded');
    assert.equal(outcome.record.result?.removed, 1);
    assert.deepEqual(await store.readStream(`message-${old.id}`), []);

    const listing = await listJobs(deps);
    assert.deepEqual(
      listing.map((j) => [j.name, j.schedule]),
      [
        ['retention', '0 4 * * *'],
        ['sweeper', '*/5 * * * *'],
      ],
    );
    const retention = listing[0]!;
    assert.equal(retention.lastRun?.trigger, 'manual');
    assert.equal(retention.lastRun?.holder, 'test-holder');
    assert.equal(retention.lastRun?.status, 'succeeded');
    assert.ok(retention.lastRun!.token > 0);
    assert.equal(retention.holder, null);
    assert.equal(listing[1]?.lastRun, null);
  });

  it('a manual run stands down while another process holds the lock', async () => {
    const release = await acquireLockForTest(redis, `${prefix}lock:job:sweeper`, 'elsewhere');
    try {
      assert.deepEqual(await runJob(deps, 'sweeper'), {
        status: 'skipped',
        reason: 'locked',
        holder: 'elsewhere',
      });
      assert.equal((await listJobs(deps))[1]?.holder, 'elsewhere');
    } finally {
      await release();
    }
  });

  it('an unknown job name is NOT_FOUND', async () => {
    await assert.rejects(runJob(deps, 'nope'), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, 'NOT_FOUND');
      return true;
    });
  });

  it('startJobs schedules and closes cleanly', async () => {
    const jobs = await startJobs(deps);
    await jobs.close();
  });
});
