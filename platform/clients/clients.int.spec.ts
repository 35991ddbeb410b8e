import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import { loadConfig } from '../config/index.ts';
import { createLogger } from '../logger/index.ts';
import {
  createKafka,
  createMongo,
  createMysqlPool,
  createRedis,
  MONGO_POOL_CHECK_MS,
  readinessChecks,
  type MongoHandle,
  type MysqlPool,
} from './index.ts';

// Real services from `streaming stack` (MariaDB, Redis, FerretDB, Kafka), as configured by STREAMING_*.
const config = loadConfig({ ...process.env, STREAMING_ENV: 'test' });

function logCapture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  return { lines, logger: createLogger({ logLevel: 'debug' }, { name: 'clients-test', stream }) };
}

describe('clients against the real services', () => {
  const logs = logCapture();
  let pool: MysqlPool;
  let redis: ReturnType<typeof createRedis>;
  let mongo: MongoHandle;
  let admin: Admin;
  let kafka: ReturnType<typeof createKafka>;

  before(async () => {
    pool = createMysqlPool(config);
    redis = createRedis(config, logs.logger);
    mongo = createMongo(config);
    kafka = createKafka(config, logs.logger);
    admin = kafka.admin();
    // The stack may still be starting: wait up to 3 minutes for every service.
    const ready = readinessChecks({ mysql: pool, redis, mongo });
    const deadline = Date.now() + 180_000;
    for (;;) {
      const states = await ready();
      const kafkaUp = await admin.connect().then(
        () => true,
        () => false,
      );
      if (kafkaUp && Object.values(states).every((s) => s === 'ok')) break;
      if (Date.now() > deadline) {
        throw new Error(
          `services not up after 3 minutes: ${JSON.stringify(states)} kafka=${kafkaUp}`,
        );
      }
      await sleep(5_000);
    }
  });

  after(async () => {
    await admin?.disconnect();
    await pool?.end();
    redis?.disconnect();
    await mongo?.client.close();
  });

  it('readinessChecks says ok for every dependency', async () => {
    const ready = readinessChecks({ mysql: pool, redis, mongo, kafkaAdmin: admin });
    assert.deepEqual(await ready(), { mysql: 'ok', redis: 'ok', mongo: 'ok', kafka: 'ok' });
  });

  it('readinessChecks accepts a bare Db and only checks what it is given', async () => {
    assert.deepEqual(await readinessChecks({ mongo: mongo.db })(), { mongo: 'ok' });
    assert.deepEqual(await readinessChecks({})(), {});
  });

  it('readinessChecks reports an unreachable dependency within its timeout, without throwing', async () => {
    const deadPool = createMysqlPool({ mysql: { url: 'mysql://u:p@127.0.0.1:1/x', poolSize: 1 } });
    const deadRedis = createRedis({ redis: { url: 'redis://127.0.0.1:1/0' } });
    try {
      const started = Date.now();
      const states = await readinessChecks(
        { mysql: deadPool, redis: deadRedis },
        { timeoutMs: 800 },
      )();
      // without the timeout the Redis check would wait for ever (the client queues and
      // reconnects); the margin is for a loaded machine
      assert.ok(Date.now() - started < 10_000, 'bounded by the timeout');
      assert.notEqual(states.mysql, 'ok');
      assert.notEqual(states.redis, 'ok');
      assert.match(String(states.mysql), /ECONNREFUSED|timeout/);
    } finally {
      deadRedis.disconnect();
      await deadPool.end();
    }
  });

  it('the MySQL pool speaks UTC, utf8mb4 and exact big numbers, one statement at a time', async () => {
    const [rows] = await pool.query(
      "SELECT TIMESTAMP('2024-05-06 07:08:09') AS ts, 9007199254740993 AS big, '短信😀' AS text, @@session.character_set_connection AS cs",
    );
    const row = (rows as Record<string, unknown>[])[0]!;
    assert.equal((row.ts as Date).toISOString(), '2024-05-06T07:08:09.000Z');
    assert.equal(String(row.big), '9007199254740993');
    assert.equal(row.text, '短信😀');
    assert.equal(row.cs, 'utf8mb4');
    await assert.rejects(pool.query('SELECT 1; SELECT 2'), /syntax/i);
  });

  it("the Mongo pool's background check runs every few seconds, not every 100 ms", async () => {
    const handle = createMongo(config);
    try {
      await handle.db.command({ ping: 1 });
      const servers = (
        handle.client as unknown as {
          topology?: { s?: { servers?: Map<string, { pool?: { options?: object } }> } };
        }
      ).topology?.s?.servers;
      const pools = [...(servers?.values() ?? [])].map((s) => s.pool?.options);
      assert.ok(pools.length > 0, 'the client has a server with a pool');
      for (const options of pools) {
        assert.equal(
          (options as { minPoolSizeCheckFrequencyMS?: number }).minPoolSizeCheckFrequencyMS,
          MONGO_POOL_CHECK_MS,
        );
      }
      // and the pool still works after a check has run
      await sleep(MONGO_POOL_CHECK_MS + 500);
      assert.deepEqual(await handle.db.command({ ping: 1 }), { ok: 1 });
    } finally {
      handle.stopWatchdog?.();
      await handle.client.close();
    }
  });

  it('Redis and Mongo answer basic commands', async () => {
    const key = `clients-test:${process.pid}`;
    await redis.set(key, 'v', 'EX', 10);
    assert.equal(await redis.get(key), 'v');
    await redis.del(key);

    const coll = mongo.db.collection<{ _id: string; n: number }>(`clients_test_${process.pid}`);
    await coll.insertOne({ _id: 'a', n: 1 });
    assert.deepEqual(await coll.findOne({ _id: 'a' }), { _id: 'a', n: 1 });
    await coll.drop();
  });

  it('routes kafkajs logs into winston', async () => {
    kafka.logger().warn('broker hiccup for 13800138000', { broker: '127.0.0.1:9092' });
    await sleep(20);
    const line = logs.lines.find((l) => String(l.message).startsWith('kafka: broker hiccup'));
    assert.ok(line, 'kafkajs warning reached winston');
    assert.equal(line.level, 'warn');
    assert.equal(line.message, 'kafka: broker hiccup for 138****8000');
    assert.equal(line.broker, '127.0.0.1:9092');
  });
});
