// The sweeper fails messages left without an outcome past the deadline
// (SWEPT_STALE), leaves every other message alone, decides on the stream
// itself, and deletes verification streams whose codes expired over a day ago.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import {
  MysqlEventStore,
  type EventStore,
  type NewEvent,
} from '../../platform/eventStore/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { ensureJobTables, runSweeper, SWEPT_STALE } from '../../jobs/index.ts';
import { acceptedEvent, secondsAgo, submittedEvent } from './support/messages.ts';

const logger = createLogger({ logLevel: 'error' }, { stream: process.stderr });
const DEADLINE = 3600;

function ev(type: string, data: Record<string, unknown>, at: Date): NewEvent {
  return { type, data, metadata: { timestamp: at.toISOString() } };
}
const reason = { code: 'TIMEOUT', message: 'no answer' };

describe('sweeper', () => {
  let db: TestDatabase;
  let store: EventStore;
  const now = new Date();

  before(async () => {
    db = await freshDatabase('jobs_sweeper');
    store = await MysqlEventStore.create(db.pool);
    await ensureJobTables(db.pool);
  });
  after(async () => {
    await store.close();
    await db.drop();
  });

  async function message(name: string, build: (id: string) => NewEvent[]) {
    const id = `${name}-${randomUUID()}`;
    await store.append(`message-${id}`, build(id), 'no_stream');
    return id;
  }

  it("fails stale accepted messages and nothing else (uncertain ones are the dispatcher's to reconcile)", async () => {
    const ids = {
      staleAccepted: await message('stale-accepted', (id) => [
        acceptedEvent(id, 't1', secondsAgo(now, 7200)),
      ]),
      submitted: await message('submitted', (id) => [
        acceptedEvent(id, 't1', secondsAgo(now, 7200)),
        submittedEvent(id, 'SM1', secondsAgo(now, 7190)),
      ]),
      fresh: await message('fresh', (id) => [acceptedEvent(id, 't1', secondsAgo(now, 600))]),
      staleUncertain: await message('stale-uncertain', (id) => [
        acceptedEvent(id, 't1', secondsAgo(now, 10800)),
        ev(
          'sms.submission-uncertain.v1',
          { messageId: id, supplierAccount: 'sim-aliyun', reason },
          secondsAgo(now, 7200),
        ),
      ]),
      freshUncertain: await message('fresh-uncertain', (id) => [
        acceptedEvent(id, 't1', secondsAgo(now, 10800)),
        ev(
          'sms.submission-uncertain.v1',
          { messageId: id, supplierAccount: 'sim-aliyun', reason },
          secondsAgo(now, 600),
        ),
      ]),
      retryDue: await message('retry-later', (id) => [
        acceptedEvent(id, 't1', secondsAgo(now, 7200)),
        ev(
          'sms.retry-scheduled.v1',
          {
            messageId: id,
            supplierAccount: 'sim-aliyun',
            attempt: 1,
            dueAt: secondsAgo(now, -1800).toISOString(),
            reason,
          },
          secondsAgo(now, 7100),
        ),
      ]),
      failed: await message('failed', (id) => [
        acceptedEvent(id, 't1', secondsAgo(now, 7200)),
        ev('sms.failed.v1', { messageId: id, reason }, secondsAgo(now, 7100)),
      ]),
    };
    const lengths = Object.fromEntries(
      await Promise.all(
        Object.entries(ids).map(async ([k, id]) => [
          k,
          (await store.readStream(`message-${id}`)).length,
        ]),
      ),
    ) as Record<keyof typeof ids, number>;

    const deps = { pool: db.pool, eventStore: store, logger, deadlineSeconds: DEADLINE };
    const result = await runSweeper(deps, { now });
    assert.equal(result.failed, 1);

    for (const [k, id] of Object.entries(ids) as [keyof typeof ids, string][]) {
      const events = await store.readStream(`message-${id}`);
      if (k === 'staleAccepted') {
        assert.equal(events.length, lengths[k] + 1, k);
        const last = events[events.length - 1]!;
        assert.equal(last.type, 'sms.failed.v1');
        assert.equal((last.data.reason as { code: string }).code, SWEPT_STALE);
        assert.equal(last.metadata.actor.id, 'jobs:sweeper');
        assert.equal(last.metadata.causationId, events[events.length - 2]!.eventId);
      } else {
        assert.equal(events.length, lengths[k], `${k} was left alone`);
      }
    }

    // a second run changes nothing
    assert.equal((await runSweeper(deps, { now })).failed, 0);
    assert.equal((await store.readStream(`message-${ids.staleAccepted}`)).length, 2);
  });

  it('decides on the stream, not on a stale index row', async () => {
    const id = await message('closed', (mid) => [
      acceptedEvent(mid, 't1', secondsAgo(now, 7200)),
      submittedEvent(mid, 'SM2', secondsAgo(now, 7100)),
    ]);
    const deps = { pool: db.pool, eventStore: store, logger, deadlineSeconds: DEADLINE };
    await runSweeper(deps, { now });
    // an index row claiming it is still open (as if the index lagged)
    await db.pool.query(
      "INSERT INTO job_open_messages (message_id, status, since) VALUES (?, 'accepted', ?)",
      [id, secondsAgo(now, 7200)],
    );
    const result = await runSweeper(deps, { now });
    assert.equal(result.failed, 0);
    assert.equal((await store.readStream(`message-${id}`)).length, 2);
  });

  it('deletes verification streams whose newest code expired more than a day ago', async () => {
    const issued = (expiresAt: Date, at: Date): NewEvent =>
      ev(
        'verification.issued.v1',
        {
          verificationId: randomUUID(),
          messageId: randomUUID(),
          templateCode: 'OTP',
          codeHash: 'x'.repeat(64),
          expiresAt: expiresAt.toISOString(),
          maxAttempts: 3,
        },
        at,
      );
    const old = `verification-OTP-${randomUUID()}`;
    const reissued = `verification-OTP-${randomUUID()}`;
    const recent = `verification-OTP-${randomUUID()}`;
    await store.append(
      old,
      [issued(secondsAgo(now, 2 * 86400), secondsAgo(now, 2 * 86400 + 300))],
      'no_stream',
    );
    await store.append(
      reissued,
      [
        issued(secondsAgo(now, 2 * 86400), secondsAgo(now, 2 * 86400 + 300)),
        issued(secondsAgo(now, -300), now),
      ],
      'no_stream',
    );
    await store.append(recent, [issued(secondsAgo(now, 3600), secondsAgo(now, 3900))], 'no_stream');
    const deps = { pool: db.pool, eventStore: store, logger, deadlineSeconds: DEADLINE };
    const result = await runSweeper(deps, { now });
    assert.equal(result.verificationStreamsRemoved, 1);
    assert.equal((await runSweeper(deps, { now })).verificationStreamsRemoved, 0);
    assert.deepEqual(await store.readStream(old), []);
    assert.equal((await store.readStream(reissued)).length, 2);
    assert.equal((await store.readStream(recent)).length, 1);
  });
});
