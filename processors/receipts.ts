// Applies delivery receipts. The webhooks append each pushed receipt as
// receipt.received.v1 (stream receipts-<account>) and answer at once; this
// checkpointed subscription matches each to its message (Aliyun out_id, else
// the supplier-message-id lookup) and appends sms.delivered/undelivered
// through the decider, so duplicates and late receipts change nothing. A
// receipt whose message is not known yet, or not submitted yet, is parked in
// MySQL and retried.
//
// A receipt applies only when the pushing account is the account that took
// the message and its vendor id (Aliyun biz_id, Tencent sid) is the recorded
// one: a holder of one account's webhook secret cannot mark another tenant's
// message delivered by naming it in out_id. Anything else is recorded as
// receipt.mismatched.v1, counted in supplier stats, and changes no message.
import type { RowDataPacket } from 'mysql2/promise';
import type { Event } from '../domain/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import { recorded, type RecordedEvent } from '../platform/eventStore/index.ts';
import { optionsOf, type ProcessorDeps, type Running } from './deps.ts';
import { napper, sleepUntil } from './napper.ts';
import { recordMismatch, ReceiptApplier, type ReceiptData } from './receiptApplier.ts';
import { runCheckpointed } from './singleton.ts';
import { outage } from '../platform/health/index.ts';

export const RECEIPTS_CHECKPOINT = 'receipts.apply';
/** Parked receipts older than this are dropped from the retry table (and logged). */
const PARK_GIVE_UP_MS = 3 * 86_400_000;

/** A pushed receipt as recorded (stream receipts-<account>; schemas/events.ts). */
type ReceiptReceived = Event<'receipt.received.v1', ReceiptData>;

export async function startReceipts(deps: ProcessorDeps): Promise<Running> {
  const options = optionsOf(deps);
  const log = deps.logger.child({ component: 'receipts' });
  const applier = new ReceiptApplier(deps);
  // the retries sleep until the next parked receipt is due (at most IDLE_FALLBACK_MS); a park wakes them
  const parked = napper();

  const park = async (e: RecordedEvent) => {
    await deps.mysql.query(
      `INSERT IGNORE INTO parked_receipts (event_id, account, receipt, next_at)
       VALUES (?, ?, ?, CURRENT_TIMESTAMP(3) + INTERVAL 0.2 SECOND)`,
      [e.eventId, String(e.data.account), JSON.stringify(e.data)],
    );
    parked.wake();
  };

  /** Until the earliest parked receipt is due (none is due now: the round found none). */
  const untilNextParked = async () => {
    const [rows] = await deps.mysql.query<RowDataPacket[]>(
      `SELECT TIMESTAMPDIFF(MICROSECOND, CURRENT_TIMESTAMP(3), MIN(next_at)) AS wait_us
       FROM parked_receipts`,
    );
    const waitUs = rows[0]?.wait_us;
    const now = Date.now();
    return sleepUntil(
      waitUs === null || waitUs === undefined ? undefined : now + Number(waitUs) / 1000,
      Math.max(options.pollMs, 250),
      now,
    );
  };

  const onEvents = async (events: RecordedEvent[]) => {
    // one message's receipts in order, different messages side by side
    const byKey = new Map<string, RecordedEvent[]>();
    for (const e of events) {
      const key = `${String(e.data.account)}:${String(e.data.supplierMessageId)}`;
      byKey.set(key, [...(byKey.get(key) ?? []), e]);
    }
    await Promise.all(
      [...byKey.values()].map(async (list) => {
        for (const e of list) {
          if (!(await applier.apply(recorded<ReceiptReceived>(e).data, e.eventId))) await park(e);
        }
      }),
    );
  };

  // one line when the retries start failing (MySQL away), one when they work again
  const retries = outage(log, 'parked receipts', 'mysql (their retries)');
  const retryParked = async (isClosed: () => boolean, ended: Promise<void>) => {
    void ended.then(() => parked.wake());
    while (!isClosed()) {
      let pause = Math.max(options.pollMs, 250);
      try {
        const [rows] = await deps.mysql.query<RowDataPacket[]>(
          `SELECT event_id, receipt, attempts, parked_at FROM parked_receipts
           WHERE next_at <= CURRENT_TIMESTAMP(3) ORDER BY next_at LIMIT 200`,
        );
        if (rows.length === 0) pause = await untilNextParked();
        await Promise.all(rows.map((row) => retryParkedRow(deps, applier, log, row)));
        retries.ok();
      } catch (err) {
        retries.failed(err);
      }
      await parked.nap(pause);
    }
  };

  return runCheckpointed(deps, {
    name: 'receipts',
    checkpoint: RECEIPTS_CHECKPOINT,
    types: ['receipt.received.v1'],
    handle: onEvents,
    background: retryParked,
  });
}

/** One parked receipt due again: applied and dropped, given up on after PARK_GIVE_UP_MS, or put off. */
async function retryParkedRow(
  deps: ProcessorDeps,
  applier: ReceiptApplier,
  log: Logger,
  row: RowDataPacket,
): Promise<void> {
  const eventId = String(row.event_id);
  const receipt = (
    typeof row.receipt === 'string' ? JSON.parse(row.receipt) : row.receipt
  ) as ReceiptData;
  if (await applier.apply(receipt, eventId)) {
    await deps.mysql.query('DELETE FROM parked_receipts WHERE event_id = ?', [eventId]);
    return;
  }
  const age = Date.now() - new Date(row.parked_at as Date).getTime();
  if (age > PARK_GIVE_UP_MS) {
    log.warn('parked receipt never matched a message; dropped from retries', {
      eventId,
      account: receipt.account,
    });
    await recordMismatch(deps, receipt, 'UNMATCHED', 'receipt', eventId);
    await deps.mysql.query('DELETE FROM parked_receipts WHERE event_id = ?', [eventId]);
    return;
  }
  const delay = Math.min(600, 0.5 * 2 ** Math.min(Number(row.attempts), 12));
  await deps.mysql.query(
    `UPDATE parked_receipts SET attempts = attempts + 1,
     next_at = CURRENT_TIMESTAMP(3) + INTERVAL ? SECOND WHERE event_id = ?`,
    [delay, eventId],
  );
}

/** How many receipts wait in the parked table (for tests and operators). */
export async function parkedReceiptCount(deps: Pick<ProcessorDeps, 'mysql'>): Promise<number> {
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM parked_receipts',
  );
  return Number(rows[0]?.n ?? 0);
}
