// The circuit breaker and the temporary-failure retries. An account that
// answers every send with a temporary error (nothing sent): its messages are
// retried with backoff on durable timers and then fail over; the breaker
// opens, so later messages fail over at once and the account is spared; none
// is lost or sent twice. When the account recovers, the breaker half-opens
// after its cool-down, a probe succeeds and it closes: messages go through
// the account again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RecordedEvent } from '../../platform/eventStore/index.ts';
import { startProcessors, type Running } from '../../processors/index.ts';
import { startHarness, withStatus, type Harness } from '../../testing/dispatchHarness.ts';

const COOLDOWN_MS = 1_000;

describe('an account failing every send, then recovering', () => {
  let h: Harness;
  let running: Running;
  before(async () => {
    h = await startHarness(
      'breaker',
      [
        {
          id: 'flaky',
          vendor: 'aliyun',
          behaviour: { id: 'flaky', transientRate: 1, transientCode: 'isp.SYSTEM_ERROR' },
        },
        { id: 'backup', vendor: 'tencent', behaviour: { id: 'backup' } },
      ],
      {
        maxRetriesPerAccount: 2,
        retryBaseMs: 200,
        retryMaxMs: 1_000,
        breakerFailures: 5,
        breakerCooldownMs: COOLDOWN_MS,
      },
    );
    running = await startProcessors(h.deps);
  });
  after(async () => {
    await running?.close();
    await h?.close();
  });

  const breakerOpenUntil = async () =>
    Number((await h.redis.hget(`${h.options.redisPrefix}breaker:flaky`, 'openUntil')) ?? 0);
  const acceptedOnce = async (ids: string[]) => {
    const r = (await h.admin('GET', '/received')) as {
      acceptedByMessageId: Record<string, number>;
    };
    for (const id of ids) assert.equal(r.acceptedByMessageId[id], 1, `${id} accepted once`);
  };
  const streams = async (ids: string[]) =>
    Promise.all(ids.map((id) => h.eventStore.readStream(`message-${id}`)));
  const reasonOf = (e: RecordedEvent) => (e.data.reason as { code?: string } | undefined)?.code;

  it('retries on timers, fails over, opens the breaker, and loses nothing', async () => {
    const ids = await h.accept(30);
    await h.waitFinal(ids, 120_000);
    assert.equal(withStatus(h.states, ids, 'delivered').length, 30, 'every message delivered');
    await acceptedOnce(ids);
    for (const id of ids) {
      const s = h.states.get(id);
      assert.ok(s?.exists && s.supplierAccount === 'backup', `${id} went through the backup`);
    }
    const all = await streams(ids);
    // a message that met the failing account: retries scheduled on durable
    // timers (due later than recorded), then a failover
    const retried = all.filter((events) => events.some((e) => e.type === 'sms.retry-scheduled.v1'));
    assert.ok(retried.length > 0, 'some messages were retried on the failing account');
    for (const events of retried) {
      const retries = events.filter((e) => e.type === 'sms.retry-scheduled.v1');
      for (const r of retries) {
        assert.ok(Date.parse(String(r.data.dueAt)) > r.recordedAt.getTime(), 'due in the future');
        assert.equal(r.data.supplierAccount, 'flaky');
      }
      const types = events.map((e) => e.type);
      assert.ok(
        types.lastIndexOf('sms.retry-scheduled.v1') < types.indexOf('sms.failed-over.v1'),
        `retried, then failed over: ${types.join(', ')}`,
      );
    }
    // the breaker opened: later messages failed over without calling the account
    const skipped = all.filter((events) =>
      events.some((e) => e.type === 'sms.failed-over.v1' && reasonOf(e) === 'BREAKER_OPEN'),
    );
    assert.ok(skipped.length > 0, 'some messages failed over because the breaker was open');
    const stats = (await h.admin('GET', '/accounts/flaky/stats')) as { transient: number };
    assert.ok(
      stats.transient < 30 * 3,
      `the breaker spared the account (${stats.transient} calls)`,
    );
    assert.ok((await breakerOpenUntil()) > 0, 'the breaker is open');
  });

  it('half-opens after the cool-down and closes once the account recovers', async () => {
    await h.admin('PUT', '/accounts/flaky', { transientRate: 0 });
    await new Promise((r) => setTimeout(r, COOLDOWN_MS * 1.5));
    const ids = await h.accept(40);
    await h.waitFinal(ids, 120_000);
    assert.equal(withStatus(h.states, ids, 'delivered').length, 40, 'every message delivered');
    await acceptedOnce(ids);
    const viaFlaky = ids.filter((id) => {
      const s = h.states.get(id);
      return s?.exists && s.supplierAccount === 'flaky';
    });
    assert.ok(viaFlaky.length > 0, 'messages go through the recovered account again');
    assert.equal(await breakerOpenUntil(), 0, 'the breaker closed');
  });
});
