// GET /v1/stats/suppliers over the pump's aggregates, as an admin calls it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { loadConfig } from '../../platform/config/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { createHttpApp, finishHttpApp } from '../../platform/http/index.ts';
import { createAuthenticator, issueToken } from '../../platform/auth/index.ts';
import { MysqlEventStore, type EventStore } from '../../platform/eventStore/index.ts';
import { processBatch } from '../../pump/index.ts';
import { supplierStatsRouter } from '../../query-service/gettingSupplierStats/index.ts';
import { breakerKey, breakerWindowKey } from '../../platform/suppliers/breaker.ts';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';

const config = loadConfig({ STREAMING_ENV: 'test' });
const logger = createLogger({ logLevel: 'error' }, { stream: process.stderr });

describe('GET /v1/stats/suppliers', () => {
  let mongo: MongoClient;
  let db: Db;
  let mysql: TestDatabase;
  let store: EventStore;
  let server: http.Server;
  let base: string;
  const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 3 });
  const redisPrefix = `t:${randomBytes(4).toString('hex')}:`;
  const now = new Date();
  const m0 = new Date(Math.floor(now.getTime() / 60_000) * 60_000 - 10 * 60_000);
  const m1 = new Date(m0.getTime() + 60_000);
  const admin = issueToken(config, { userId: 'admin-1', role: 'admin' }).token;
  const member = issueToken(config, { userId: 'member-1', role: 'member' }).token;

  let n = 0;
  const call = (at: Date, account: string, outcome: string, latencyMs: number, code?: string) =>
    JSON.stringify({
      id: `e${n++}`,
      type: 'supplier.call',
      at: new Date(at.getTime() + 1000 + n).toISOString(),
      service: 'dispatcher',
      supplierAccount: account,
      outcome,
      latencyMs,
      ...(code ? { code } : {}),
    });
  const rejected = (at: Date) =>
    JSON.stringify({
      id: `e${n++}`,
      type: 'send.rejected',
      at: at.toISOString(),
      service: 'command',
      rule: 'RATE_LIMIT_MOBILE_HOURLY',
    });

  const mismatch = (at: Date, account: string, reason: string) =>
    JSON.stringify({
      id: `e${n++}`,
      type: 'receipt.mismatched',
      at: new Date(at.getTime() + 2000 + n).toISOString(),
      service: 'processors',
      supplierAccount: account,
      code: reason,
    });

  before(async () => {
    mongo = new MongoClient('mongodb://127.0.0.1:27017', { retryWrites: false });
    db = mongo.db(`streaming_t_${randomBytes(4).toString('hex')}`);
    mysql = await freshDatabase('stats');
    store = await MysqlEventStore.create(mysql.pool);
    const old = new Date(m0.getTime() - 30 * 86_400_000);
    const values = [
      ...[10, 20, 30, 40].map((l) => call(m0, 'sim-aliyun', 'accepted', l)),
      call(m0, 'sim-aliyun', 'rejected', 100, 'isv.BUSINESS_LIMIT_CONTROL'),
      call(m1, 'sim-aliyun', 'accepted', 50),
      call(m1, 'sim-tencent', 'transient', 200),
      call(m1, 'sim-tencent', 'accepted', 300),
      rejected(m0),
      rejected(m1),
      mismatch(m0, 'sim-aliyun', 'ACCOUNT_MISMATCH'),
      mismatch(m1, 'sim-aliyun', 'ACCOUNT_MISMATCH'),
      mismatch(m1, 'sim-aliyun', 'SUPPLIER_ID_MISMATCH'),
      call(old, 'sim-aliyun', 'accepted', 10),
      call(old, 'sim-aliyun', 'accepted', 30),
    ];
    await processBatch(
      db,
      config.suppliers,
      values.map((value) => ({ value })),
    );

    const app = createHttpApp({ config, logger, name: 'query', readiness: async () => ({}) });
    app.use(
      supplierStatsRouter({
        config,
        mongo: db,
        redis,
        dispatchPrefix: redisPrefix,
        authenticate: createAuthenticator({ config, eventStore: store, redis, redisPrefix }),
        now: () => now,
      }),
    );
    finishHttpApp(app);
    // the dispatchers left sim-tencent's breaker open, sim-aliyun's closed after one failure
    const openUntil = Date.now() + 600_000;
    await redis.hset(breakerKey(redisPrefix, 'sim-tencent'), 'fails', 5, 'openUntil', openUntil);
    await redis.hset(breakerKey(redisPrefix, 'sim-aliyun'), 'fails', 1, 'openUntil', 0);
    await redis.hset(
      breakerWindowKey(redisPrefix, 'sim-aliyun', Math.floor(Date.now() / 30_000)),
      'calls',
      50,
      'errors',
      1,
    );
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await store.close();
    await mysql.drop();
    await db.dropDatabase();
    await mongo.close();
    const keys = await redis.keys(`${redisPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const get = async (query: string, token?: string) => {
    const res = await fetch(`${base}/v1/stats/suppliers${query}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  type Body = Record<string, unknown>;
  const breakerOf = (body: Body, account: string) =>
    (body.suppliers as { account: string; breaker: Record<string, unknown> }[]).find(
      (s) => s.account === account,
    )!.breaker;
  const breakerCalls = (body: Body, account: string) =>
    Number(breakerOf(body, account).windowCalls);
  const breakerErrors = (body: Body, account: string) =>
    Number(breakerOf(body, account).windowErrors);

  it('serves success rate, latency percentiles and rejections per supplier account', async () => {
    const from = m0.toISOString();
    const to = new Date(m1.getTime() + 60_000).toISOString();
    const { status, body } = await get(`?from=${from}&to=${to}`, admin);
    assert.equal(status, 200);
    assert.equal(body.percentiles, 'exact');
    assert.equal(body.minutes, 2);
    assert.deepEqual(body.suppliers, [
      {
        account: 'sim-aliyun',
        vendor: 'aliyun',
        calls: 6,
        outcomes: { accepted: 5, rejected: 1 },
        successRate: 5 / 6,
        latencyMs: { count: 6, p50: 30, p95: 100, p99: 100 },
        rejections: [{ code: 'isv.BUSINESS_LIMIT_CONTROL', count: 1 }],
        mismatchedReceipts: {
          total: 3,
          reasons: [
            { reason: 'ACCOUNT_MISMATCH', count: 2 },
            { reason: 'SUPPLIER_ID_MISMATCH', count: 1 },
          ],
        },
        maxPerSecond: config.suppliers[0]!.maxPerSecond,
        breaker: {
          state: 'closed',
          consecutiveFailures: 1,
          openUntil: null,
          windowCalls: breakerCalls(body, 'sim-aliyun'),
          windowErrors: breakerErrors(body, 'sim-aliyun'),
        },
        health: 'degraded',
      },
      {
        account: 'sim-tencent',
        vendor: 'tencent',
        calls: 2,
        outcomes: { accepted: 1, transient: 1 },
        successRate: 0.5,
        latencyMs: { count: 2, p50: 200, p95: 300, p99: 300 },
        rejections: [],
        mismatchedReceipts: { total: 0, reasons: [] },
        maxPerSecond: config.suppliers[1]!.maxPerSecond,
        breaker: {
          state: 'open',
          consecutiveFailures: 5,
          openUntil: breakerOf(body, 'sim-tencent').openUntil,
          windowCalls: 0,
          windowErrors: 0,
        },
        health: 'down',
      },
    ]);
    assert.ok(Date.parse(String(breakerOf(body, 'sim-tencent').openUntil)) > Date.now());
    // the window's calls and errors (read at the window of the request: 50/1, or 0/0 right after it turned)
    assert.ok([50, 0].includes(breakerCalls(body, 'sim-aliyun')));

    // the series: calls per bucket and account, summing to the calls
    const series = body.series as {
      bucketSeconds: number;
      starts: string[];
      accounts: { account: string; calls: number[]; failed: number[] }[];
    };
    assert.equal(series.bucketSeconds, 60);
    assert.deepEqual(series.starts, [m0.toISOString(), m1.toISOString()]);
    assert.deepEqual(series.accounts, [
      { account: 'sim-aliyun', calls: [5, 1], failed: [1, 0] },
      { account: 'sim-tencent', calls: [0, 2], failed: [0, 1] },
    ]);
    assert.deepEqual(body.sendRejections, [{ rule: 'RATE_LIMIT_MOBILE_HOURLY', count: 2 }]);

    // one minute only
    const one = await get(`?from=${m1.toISOString()}&to=${to}`, admin);
    const aliyun = (one.body.suppliers as { account: string; calls: number }[])[0];
    assert.equal(aliyun?.calls, 1);
  });

  it('marks percentiles approximate for windows older than the raw events are kept', async () => {
    const old = new Date(m0.getTime() - 30 * 86_400_000);
    const { status, body } = await get(
      `?from=${old.toISOString()}&to=${new Date(old.getTime() + 60_000).toISOString()}`,
      admin,
    );
    assert.equal(status, 200);
    assert.equal(body.percentiles, 'approximate');
    const [s] = body.suppliers as { calls: number; latencyMs: { p50: number; p95: number } }[];
    assert.equal(s?.calls, 2);
    assert.equal(s?.latencyMs.p50, 10);
    assert.equal(s?.latencyMs.p95, 30);
  });

  it('is for admins only and rejects bad windows with stable codes', async () => {
    assert.equal((await get('')).status, 401);
    const forbidden = await get('', member);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.code, 'FORBIDDEN');
    const reversed = await get(`?from=${now.toISOString()}&to=${m0.toISOString()}`, admin);
    assert.equal(reversed.status, 400);
    assert.equal(reversed.body.code, 'INVALID_RANGE');
    const tooLong = await get(
      `?from=${new Date(now.getTime() - 40 * 86_400_000).toISOString()}&to=${now.toISOString()}`,
      admin,
    );
    assert.equal(tooLong.body.code, 'INVALID_RANGE');
    const bad = await get('?from=yesterday', admin);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'VALIDATION_FAILED');
    const unknown = await get('?tenant=x', admin);
    assert.equal(unknown.body.code, 'VALIDATION_FAILED');
    // default window: the last hour
    const def = await get('', admin);
    assert.equal(def.status, 200);
    assert.equal((def.body.suppliers as unknown[]).length, 2);
  });
});
