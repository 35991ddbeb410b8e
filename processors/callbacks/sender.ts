// The callback sender: tells tenants of their messages' status changes,
// inbound replies and opt-outs, by signed POSTs to the endpoints they
// registered (and to a send's own statusCallback). It is a processor of its
// own (`streaming serve callbacks`, its own process under `npm start`): it
// reads the event store and never touches the send path.
//
// 1. A checkpointed subscription (one active instance) turns events into
//    delivery rows in MySQL, in one transaction per batch: endpoints folded
//    from callback-<id> streams, the tenant of each message from its
//    sms.accepted, one row per (endpoint, event) with the exact body to send.
//    Row ids are derived from (endpoint, event), so a batch handled twice
//    adds nothing.
// 2. A loop beside it sends what is due: per endpoint and message only the
//    oldest pending row (in order per message), signed, 5 s at most. A
//    failure is retried with exponential backoff: the row's next_at_ms is the
//    durable timer. A row still failing STREAMING_CALLBACK_RETRY_FOR after
//    its first attempt is dead-lettered (callback.delivery-dead-lettered.v1);
//    an endpoint that failed with no success for STREAMING_CALLBACK_PAUSE_AFTER
//    is paused (callback.paused.v1, with the last error). Delivery is at least
//    once: a crash between the call and the row update sends it again, with
//    the same event id.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { ensureCallbackTables } from '../../platform/callbacks/index.ts';
import { type RecordedEvent } from '../../platform/eventStore/index.ts';
import type { ProcessorDeps, Running } from '../deps.ts';
import { napper, sleepUntil } from '../napper.ts';
import { runCheckpointed } from '../singleton.ts';
import { outage } from '../../platform/health/index.ts';
import { callbackMetrics } from './metrics.ts';
import { CALLBACKS_CHECKPOINT } from '../../contracts/index.ts';
import { CALLBACK_SOURCE_TYPES, toDeliveries } from './deliveries.ts';
import {
  deliverOne,
  retryDelayMs,
  type CallbackOptions,
  type DeliveryContext,
  type Due,
} from './delivering.ts';

export { CALLBACKS_CHECKPOINT, CALLBACK_SOURCE_TYPES, retryDelayMs, type CallbackOptions };

export function callbackOptionsOf(deps: ProcessorDeps, extra: Partial<CallbackOptions> = {}) {
  return { ...deps.config.callbacks, pollMs: 250, ...extra } satisfies CallbackOptions;
}

/** Step 1 for one batch, in one transaction; the number of rows added. */
async function handleBatch(deps: ProcessorDeps, events: RecordedEvent[]): Promise<number> {
  const conn = await deps.mysql.getConnection();
  try {
    await conn.beginTransaction();
    const added = await toDeliveries(conn, events);
    await conn.commit();
    return added;
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
}

/** Per endpoint and message only the oldest pending row, so each message's rows go in order. */
async function dueRows(deps: ProcessorDeps, limit: number): Promise<Due[]> {
  const [due] = await deps.mysql.query<Due[]>(
    `SELECT d.delivery_id, d.callback_id, d.tenant_id, d.url, d.event_id, d.event_type,
            d.body, d.attempts, d.first_at_ms,
            e.url AS endpoint_url, e.sealed_secret, e.failing_since_ms
     FROM callback_deliveries d
     LEFT JOIN callback_endpoints e ON e.callback_id = d.callback_id
     WHERE d.state = 'pending' AND d.next_at_ms <= ?
       AND (d.callback_id = '' OR e.status = 'active')
       AND NOT EXISTS (
         SELECT 1 FROM callback_deliveries p
         WHERE p.callback_id = d.callback_id AND p.order_key = d.order_key
           AND p.state = 'pending' AND p.seq < d.seq)
     ORDER BY d.next_at_ms LIMIT ?`,
    [Date.now(), limit],
  );
  return due;
}

/** Until the earliest retry of a pending delivery (none due now: the round found none). */
async function untilNextDue(deps: ProcessorDeps, pollMs: number): Promise<number> {
  const now = Date.now();
  try {
    const [rows] = await deps.mysql.query<RowDataPacket[]>(
      `SELECT MIN(next_at_ms) AS next FROM callback_deliveries
       WHERE state = 'pending' AND next_at_ms > ?`,
      [now],
    );
    const next = rows[0]?.next;
    return sleepUntil(next === null || next === undefined ? undefined : Number(next), pollMs, now);
  } catch {
    return pollMs;
  }
}

/** Sends the rows of one round, `concurrency` at a time. */
async function deliverAll(ctx: DeliveryContext, due: Due[], isClosed: () => boolean) {
  // one endpoint failing pauses it; its other rows of this round wait for the next
  let next = 0;
  const worker = async () => {
    while (next < due.length && !isClosed()) {
      const row = due[next++]!;
      await deliverOne(ctx, row).catch((err: unknown) =>
        ctx.log.warn('callback delivery bookkeeping failed; it is retried', {
          err: String(err),
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(ctx.options.concurrency, due.length) }, worker));
}

export async function startCallbacks(
  deps: ProcessorDeps,
  extra: Partial<CallbackOptions> = {},
): Promise<Running> {
  const options = callbackOptionsOf(deps, extra);
  const log = deps.logger.child({ component: 'callbacks' });
  const metrics = callbackMetrics(deps);
  const ctx: DeliveryContext = { deps, options, metrics, log };
  // sleeps until the next retry is due (at most IDLE_FALLBACK_MS); new deliveries wake it
  const { nap, wake } = napper();

  const handle = async (events: RecordedEvent[]) => {
    const added = await handleBatch(deps, events);
    if (added > 0 || events.some((e) => e.type.startsWith('callback.'))) wake();
  };

  // one line when rounds start failing (MySQL away), one when they work again
  const rounds = outage(log, 'callback sender', 'mysql (its due deliveries)');
  const send = async (isClosed: () => boolean, ended: Promise<void>) => {
    void ended.then(() => wake());
    while (!isClosed()) {
      let due: Due[] = [];
      try {
        due = await dueRows(deps, options.concurrency * 2);
        await deliverAll(ctx, due, isClosed);
        rounds.ok();
      } catch (err) {
        rounds.failed(err);
        await sleep(1_000);
      }
      if (due.length === 0) await nap(await untilNextDue(deps, options.pollMs));
    }
  };

  const running = await runCheckpointed(deps, {
    name: 'callbacks',
    checkpoint: CALLBACKS_CHECKPOINT,
    types: CALLBACK_SOURCE_TYPES,
    activate: () => ensureCallbackTables(deps.mysql),
    handle,
    background: send,
  });
  return {
    async close() {
      wake();
      await running.close();
      metrics.close();
    },
  };
}
