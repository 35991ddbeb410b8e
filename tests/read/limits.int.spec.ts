// Losing Redis must not reset anyone's quota: flush the Redis database this
// suite owns (3), replay the sms.accepted events, and the next over-limit send
// is still refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { reserveLimits } from '../../platform/rateLimits/index.ts';
import { replayCommand } from '../../projectors/index.ts';
import { OWN_REDIS_URL, readSide, type ReadSide } from '../../testing/readSide.ts';

describe('replay limits', () => {
  let side: ReadSide;
  before(async () => {
    side = await readSide('limits', {}, OWN_REDIS_URL);
  });
  after(async () => {
    await side.drop();
  });

  it('rebuilds the counters so that the next over-limit send is still refused', async () => {
    const prefix = `${side.deps.redisPrefix}rl:`;
    const policy = { mobile: { maxPerHour: 2 }, tenant: { maxPerDay: 50 } };
    const subject = { tenantId: randomUUID(), templateCode: 'otp_login', mobile: '+8613800000042' };
    const now = Date.now();
    for (let i = 0; i < 2; i++) {
      const r = await reserveLimits(side.deps.redis, policy, subject, now, { prefix });
      assert.equal(r.ok, true);
      const messageId = randomUUID();
      await side.deps.eventStore.append(
        `message-${messageId}`,
        [
          {
            type: 'sms.accepted.v1',
            data: {
              messageId,
              tenantId: subject.tenantId,
              templateId: 't1',
              templateCode: subject.templateCode,
              kind: 'notification',
              mobile: subject.mobile,
              content: 'hi',
              segments: 1,
              encoding: 'GSM-7',
              suppliers: ['aliyun-main'],
              requestHash: `h${i}`,
              acceptedAt: new Date(now).toISOString(),
            },
          },
        ],
        'no_stream',
      );
    }
    const refused = await reserveLimits(side.deps.redis, policy, subject, now, { prefix });
    assert.equal(refused.ok, false);

    // Redis loses everything (this suite owns database 3)
    await side.deps.redis.flushdb();
    assert.equal(await side.deps.redis.dbsize(), 0);

    const [result] = await replayCommand(side.deps, { projection: 'limits', limitsPrefix: prefix });
    assert.equal(result!.events, 2);
    const again = await reserveLimits(side.deps.redis, policy, subject, now, { prefix });
    assert.equal(again.ok, false);
    if (!again.ok) assert.equal(again.rule, 'RATE_LIMIT_MOBILE_HOURLY');
    // another mobile still has its quota, and the tenant counter was rebuilt too
    const other = await reserveLimits(
      side.deps.redis,
      policy,
      { ...subject, mobile: '+8613800000043' },
      now,
      { prefix },
    );
    assert.equal(other.ok, true);
    const tenantKeys = await side.deps.redis.keys(`${prefix}nd:${subject.tenantId}:*`);
    assert.equal(tenantKeys.length, 1);
    assert.equal(await side.deps.redis.get(tenantKeys[0]!), '3');
    // replaying twice does not count twice
    await replayCommand(side.deps, { projection: 'limits', limitsPrefix: prefix });
    assert.equal(await side.deps.redis.get(tenantKeys[0]!), '3');
  });
});
