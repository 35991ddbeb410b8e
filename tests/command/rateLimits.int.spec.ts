// The rate-limit script against real Redis: all or nothing, release, replay, UTC+8 windows.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RecordedEvent } from '../../platform/eventStore/index.ts';
import {
  dayWindow,
  hourWindow,
  releaseReservation,
  replayAccepted,
  reserveLimits,
} from '../../platform/rateLimits/index.ts';

let redis: Redis;
let prefix: string;
before(() => {
  redis = new Redis('redis://127.0.0.1:6379/1', { maxRetriesPerRequest: 3 });
  prefix = `t:${randomBytes(6).toString('hex')}:rl:`;
});
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const subject = () => ({
  tenantId: `tenant-${randomBytes(3).toString('hex')}`,
  templateCode: `T${randomBytes(6).toString('hex')}`,
  mobile: '+8613800138000',
});

describe('UTC+8 windows', () => {
  it('a day starts at 00:00 Beijing time (16:00 UTC)', () => {
    const before = Date.parse('2024-06-15T15:59:59Z');
    const at = Date.parse('2024-06-15T16:00:00Z');
    assert.equal(dayWindow(before).id, '20240615');
    assert.equal(dayWindow(at).id, '20240616');
    assert.equal(dayWindow(before).endsAt, at);
    assert.equal(hourWindow(at).id, '2024061600');
  });
});

describe('reserveLimits', () => {
  it('200 concurrent reservations with max 5 per hour: exactly 5', async () => {
    const s = subject();
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        reserveLimits(redis, { mobile: { maxPerHour: 5 } }, s, Date.now(), { prefix }),
      ),
    );
    assert.equal(results.filter((r) => r.ok).length, 5);
  });

  it('a refused attempt consumes nothing from the other limits', async () => {
    const s = subject();
    const now = Date.parse('2024-06-15T10:00:00Z');
    const policy = { mobile: { maxPerHour: 1 }, tenant: { maxPerDay: 3 } };
    assert.ok((await reserveLimits(redis, policy, s, now, { prefix })).ok);
    for (let i = 0; i < 5; i += 1) {
      const r = await reserveLimits(redis, policy, s, now + 1000, { prefix });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.rule, 'RATE_LIMIT_MOBILE_HOURLY');
    }
    // two more tenant sends to other mobiles still fit: the refusals took nothing
    const other = (m: string) => ({ ...s, mobile: m });
    assert.ok((await reserveLimits(redis, policy, other('+8613800138001'), now, { prefix })).ok);
    assert.ok((await reserveLimits(redis, policy, other('+8613800138002'), now, { prefix })).ok);
    const full = await reserveLimits(redis, policy, other('+8613800138003'), now, { prefix });
    assert.equal(full.ok, false);
    if (!full.ok) {
      assert.equal(full.rule, 'RATE_LIMIT_TENANT_DAILY');
      assert.equal(full.retryAfterSeconds, (dayWindow(now).endsAt - now) / 1000);
    }
  });

  it('the minimum interval answers with the seconds left, and release gives everything back', async () => {
    const s = subject();
    const now = Date.now();
    const policy = { mobile: { minIntervalSeconds: 60, maxPerDay: 1 } };
    const first = await reserveLimits(redis, policy, s, now, { prefix });
    assert.ok(first.ok);
    const soon = await reserveLimits(redis, policy, s, now + 20_000, { prefix });
    assert.equal(soon.ok, false);
    if (!soon.ok) assert.equal(soon.rule, 'RATE_LIMIT_MOBILE_DAILY'); // the longer wait wins
    if (first.ok) await releaseReservation(redis, first.reservation);
    assert.ok((await reserveLimits(redis, policy, s, now + 20_000, { prefix })).ok);
    const interval = await reserveLimits(
      redis,
      { mobile: { minIntervalSeconds: 60 } },
      s,
      now + 30_000,
      { prefix },
    );
    assert.equal(interval.ok, false);
    if (!interval.ok) {
      assert.equal(interval.rule, 'RATE_LIMIT_MOBILE_INTERVAL');
      assert.equal(interval.retryAfterSeconds, 50);
    }
  });
});

describe('replayAccepted', () => {
  function accepted(s: ReturnType<typeof subject>, at: number): RecordedEvent {
    return {
      eventId: randomBytes(8).toString('hex'),
      type: 'sms.accepted.v1',
      data: { ...s, acceptedAt: new Date(at).toISOString() },
      metadata: {
        eventId: 'e',
        correlationId: 'c',
        causationId: null,
        actor: { type: 'system', id: 't' },
        requestId: null,
        timestamp: new Date(at).toISOString(),
      },
      streamId: 'message-x',
      streamVersion: 0,
      position: 1,
      recordedAt: new Date(at),
    };
  }

  it('restores the current windows after Redis lost them, counting each event once', async () => {
    const s = subject();
    const now = Date.parse('2024-06-15T10:30:00Z');
    const events = [
      accepted(s, now - 10 * 60_000), // this hour
      accepted(s, now - 20 * 60_000), // this hour
      accepted(s, now - 2 * 3_600_000), // today, earlier hour
      accepted(s, now - 2 * 86_400_000), // another day: ignored
    ];
    await replayAccepted(redis, events, now, { prefix });
    await replayAccepted(redis, events, now, { prefix }); // twice: no double count
    const policy = { mobile: { maxPerHour: 3, maxPerDay: 4 } };
    assert.ok((await reserveLimits(redis, policy, s, now, { prefix })).ok); // 3rd this hour, 4th today
    const r = await reserveLimits(redis, policy, s, now, { prefix });
    assert.equal(r.ok, false);
    const interval = await reserveLimits(
      redis,
      { mobile: { minIntervalSeconds: 3600 } },
      { ...s },
      now,
      { prefix },
    );
    assert.equal(interval.ok, false, 'the last accept time is restored too');
  });
});
