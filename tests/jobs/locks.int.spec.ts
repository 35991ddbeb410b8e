// The Redis lock: exclusive, fencing tokens increase, the lease is renewed
// while held, release never deletes someone else's lock.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { lockInfo, tryAcquireLock } from '../../platform/locks/index.ts';

describe('Redis lock with fencing token', () => {
  let redis: Redis;
  const prefix = `t:${randomBytes(4).toString('hex')}:`;
  before(() => {
    redis = new Redis('redis://127.0.0.1:6379/4');
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('is exclusive, renewed while held, and hands out increasing tokens', async () => {
    const key = `${prefix}lock:a`;
    const a = await tryAcquireLock(redis, key, { leaseMs: 400, holder: 'a' });
    assert.ok(a);
    assert.equal(await tryAcquireLock(redis, key, { leaseMs: 400, holder: 'b' }), undefined);
    await sleep(900); // more than two leases: renewal keeps it
    assert.equal(await a.isCurrent(), true);
    assert.equal(a.signal.aborted, false);
    assert.equal((await lockInfo(redis, key))?.holder, 'a');
    await a.release();
    assert.equal(await lockInfo(redis, key), undefined);
    const b = await tryAcquireLock(redis, key, { leaseMs: 400, holder: 'b' });
    assert.ok(b && b.token > a.token);
    await b.release();
  });

  it('fires the signal when the lease is lost and does not release the new holder', async () => {
    const key = `${prefix}lock:b`;
    let lost = '';
    const a = await tryAcquireLock(redis, key, {
      leaseMs: 300,
      holder: 'a',
      onLost: (r) => (lost = r),
    });
    assert.ok(a);
    await redis.set(key, '999|b', 'PX', 5000); // taken over, as after an expiry
    await sleep(350);
    assert.equal(a.signal.aborted, true);
    assert.match(lost, /expired or was taken over/);
    await a.release();
    assert.equal((await lockInfo(redis, key))?.holder, 'b');
  });
});
