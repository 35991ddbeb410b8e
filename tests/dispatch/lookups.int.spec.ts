// After a Redis loss the dispatcher's look-ups (supplier message id ->
// message, last message to a number, per extension code) are rebuilt from the
// event store (`streaming replay lookups`), each with what is left of its
// lifetime; expired ones are not brought back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { MysqlEventStore, type EventStore } from '../../platform/eventStore/index.ts';
import {
  lastMessageByAccountKey,
  lastMessageByExtendKey,
  lastMessageKey,
} from '../../platform/suppliers/lastMessage.ts';
import { supplierLookupKey } from '../../jobs/index.ts';
import { rebuildSupplierLookups } from '../../processors/index.ts';
import { acceptedEvent, daysAgo, submittedEvent } from '../jobs/support/messages.ts';
import { REDIS_URL } from '../../testing/dispatchHarness.ts';

const DAY = 86_400_000;

describe('replay lookups', () => {
  let db: TestDatabase;
  let store: EventStore;
  let redis: Redis;
  const prefix = `t:lookups:${randomBytes(4).toString('hex')}:`;
  const now = new Date();

  before(async () => {
    db = await freshDatabase('lookups');
    store = await MysqlEventStore.create(db.pool);
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await store.close();
    await db.drop();
  });

  async function send(tenantId: string, mobile: string, at: Date, extendCode?: string) {
    const id = randomUUID();
    const smid = `SM-${randomUUID().slice(0, 8)}`;
    const accepted = acceptedEvent(id, tenantId, at);
    accepted.data = { ...accepted.data, mobile, ...(extendCode ? { extendCode } : {}) };
    await store.append(`message-${id}`, [accepted, submittedEvent(id, smid, at)], 'no_stream');
    return { id, smid };
  }

  it('rebuilds what is still alive, with the rest of its lifetime', async () => {
    const mobile = '+8613800000101';
    const old = await send('t-c', '+8613800000102', daysAgo(now, 40));
    const tenDays = await send('t-b', mobile, daysAgo(now, 10));
    const recent = await send('t-a', mobile, new Date(now.getTime() - 3_600_000), '12');
    // accepted, never submitted: nothing to look up
    const unsent = randomUUID();
    await store.append(
      `message-${unsent}`,
      [acceptedEvent(unsent, 't-a', new Date(now.getTime() - 60_000))],
      'no_stream',
    );

    const positions: number[] = [];
    const count = await rebuildSupplierLookups(
      { eventStore: store, redis, options: { redisPrefix: prefix } },
      { now: now.getTime(), onProgress: (p) => positions.push(p) },
    );
    assert.equal(count, 3);
    assert.equal(positions.at(-1), await store.headPosition());

    const smid = (m: { smid: string }) => supplierLookupKey('sim-aliyun', m.smid, prefix);
    assert.equal(await redis.get(smid(recent)), recent.id);
    const ttl = await redis.pttl(smid(recent));
    assert.ok(Math.abs(ttl - (7 * DAY - 3_600_000)) < 60_000, `supplier look-up ttl ${ttl}`);
    // older than the look-up's week: a receipt that late is not expected
    assert.equal(await redis.exists(smid(tenDays), smid(old)), 0);

    // the last message to the number is the newest one, per extension code too
    const last = JSON.parse((await redis.get(lastMessageKey(prefix, mobile)))!) as {
      messageId: string;
      tenantId: string;
    };
    assert.deepEqual([last.messageId, last.tenantId], [recent.id, 't-a']);
    const lastTtl = await redis.pttl(lastMessageKey(prefix, mobile));
    assert.ok(Math.abs(lastTtl - (30 * DAY - 3_600_000)) < 60_000, `last-message ttl ${lastTtl}`);
    const byCode = await redis.get(lastMessageByExtendKey(prefix, mobile, '12', 'sim-aliyun'));
    assert.equal((JSON.parse(byCode!) as { messageId: string }).messageId, recent.id);
    assert.equal(await redis.exists(lastMessageKey(prefix, '+8613800000102')), 0);
    // and per account, for replies without a code
    const byAccount = await redis.get(lastMessageByAccountKey(prefix, mobile, 'sim-aliyun'));
    assert.equal((JSON.parse(byAccount!) as { messageId: string }).messageId, recent.id);

    // again: the same keys, nothing more
    const before = (await redis.keys(`${prefix}*`)).sort();
    await rebuildSupplierLookups(
      { eventStore: store, redis, options: { redisPrefix: prefix } },
      { now: now.getTime() },
    );
    assert.deepEqual((await redis.keys(`${prefix}*`)).sort(), before);
    assert.equal(before.length, 4);
  });
});
