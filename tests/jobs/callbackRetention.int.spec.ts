// Retention of the callback sender's tables (real MySQL): finished deliveries
// older than the callback retention go, in batches; pending ones (durable retry
// timers) and recent ones stay; a message's row goes only when nothing of it is
// pending; tables not created yet are no error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { ensureCallbackTables } from '../../platform/callbacks/index.ts';
import { pruneCallbackTables } from '../../jobs/index.ts';

const DAY = 86_400_000;

describe('callback delivery retention', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase('cbretention');
  });
  after(async () => {
    await db?.drop();
  });

  it('is no error before the callback tables exist', async () => {
    const r = await pruneCallbackTables(db.pool, { days: 30 });
    assert.deepEqual([r.deliveries, r.messages], [0, 0]);
  });

  it('removes finished deliveries and idle message rows older than the retention, nothing else', async () => {
    await ensureCallbackTables(db.pool);
    const now = Date.now();
    let n = 0;
    const delivery = async (
      messageId: string,
      state: 'pending' | 'delivered' | 'failed',
      ageDays: number,
    ) => {
      const at = now - ageDays * DAY;
      const id = String(++n).padStart(32, '0');
      await db.pool.query(
        `INSERT INTO callback_deliveries (delivery_id, callback_id, tenant_id, url, order_key, seq,
           event_id, event_type, message_id, body, state, attempts, first_at_ms, next_at_ms,
           last_attempt_at_ms, delivered_at_ms)
         VALUES (?, 'cb1', 'acme', NULL, ?, ?, ?, 'message.delivered', ?, '{}', ?, 1, ?, ?, ?, ?)`,
        [
          id,
          messageId,
          n,
          `ev${n}`,
          messageId,
          state,
          at,
          at,
          at,
          state === 'delivered' ? at : null,
        ],
      );
      return id;
    };
    const message = (messageId: string, ageDays: number) =>
      db.pool.query(
        `INSERT INTO callback_messages (message_id, tenant_id, template_code, mobile, accepted_at_ms)
         VALUES (?, 'acme', 'T1', '+8613800000000', ?)`,
        [messageId, now - ageDays * DAY],
      );
    // old and finished: go
    await message('old-done', 40);
    await delivery('old-done', 'delivered', 40);
    await delivery('old-done', 'failed', 35);
    // old, but a delivery is still pending (a retry timer): the pending row and the message stay
    await message('old-pending', 40);
    const oldPending = await delivery('old-pending', 'pending', 40);
    const oldDelivered = await delivery('old-pending', 'delivered', 40);
    // recent: stay
    await message('new', 2);
    const recent = await delivery('new', 'delivered', 2);

    const r = await pruneCallbackTables(db.pool, { days: 30, batchSize: 1 });
    assert.equal(r.deliveries, 3);
    assert.equal(r.messages, 1);
    const [rows] = await db.pool.query<RowDataPacket[]>(
      'SELECT delivery_id AS id FROM callback_deliveries ORDER BY delivery_id',
    );
    assert.deepEqual(
      rows.map((x) => x.id),
      [oldPending, recent].sort(),
    );
    assert.ok(!rows.some((x) => x.id === oldDelivered));
    const [messages] = await db.pool.query<RowDataPacket[]>(
      'SELECT message_id AS id FROM callback_messages ORDER BY message_id',
    );
    assert.deepEqual(
      messages.map((x) => x.id),
      ['new', 'old-pending'],
    );
    // a second run removes nothing more
    const again = await pruneCallbackTables(db.pool, { days: 30 });
    assert.deepEqual([again.deliveries, again.messages], [0, 0]);
  });
});
