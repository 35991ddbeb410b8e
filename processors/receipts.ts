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
import {
  receiptMatches,
  type MessageCommand,
  type MessageState,
} from '../domain/messages/index.ts';
import type { Event } from '../domain/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import { recorded, type RecordedEvent } from '../platform/eventStore/index.ts';
import { optionsOf, type ProcessorDeps, type Running } from './deps.ts';
import { decideAndAppend, loadMessage, type LoadedMessage } from './messages.ts';
import { normalizeSupplierMessageId } from '../suppliers/index.ts';
import { DispatchState } from './redisState.ts';
import { napper, sleepUntil } from './napper.ts';
import { runCheckpointed } from './singleton.ts';
import { receiptsStream } from '../contracts/index.ts';

export const RECEIPTS_CHECKPOINT = 'receipts.apply';
/** Parked receipts older than this are dropped from the retry table (and logged). */
const PARK_GIVE_UP_MS = 3 * 86_400_000;

export type ReceiptData = {
  account: string;
  vendor: string;
  supplierMessageId: string;
  messageId?: string;
  delivered: boolean;
  errorCode?: string;
  errorMessage?: string;
  reportedAt: string;
  mobile?: string;
};

/** A pushed receipt as recorded (stream receipts-<account>; schemas/events.ts). */
type ReceiptReceived = Event<'receipt.received.v1', ReceiptData>;

export type MismatchReason = 'ACCOUNT_MISMATCH' | 'SUPPLIER_ID_MISMATCH' | 'UNMATCHED';

/** Record a receipt or pulled status that changed nothing because it is not about its message. */
export async function recordMismatch(
  deps: Pick<ProcessorDeps, 'eventStore' | 'tracker' | 'logger'>,
  r: Pick<ReceiptData, 'account' | 'vendor' | 'supplierMessageId' | 'messageId'>,
  reason: MismatchReason,
  source: 'receipt' | 'pull',
  causationId: string,
): Promise<void> {
  await deps.eventStore.append(
    receiptsStream(r.account),
    [
      {
        type: 'receipt.mismatched.v1',
        data: {
          account: r.account,
          vendor: r.vendor,
          supplierMessageId: r.supplierMessageId,
          ...(r.messageId ? { messageId: r.messageId } : {}),
          reason,
          source,
          receiptEventId: causationId,
        },
        metadata: { causationId, actor: { type: 'supplier', id: r.account } },
      },
    ],
    'any',
  );
  // the id makes a redelivered receipt count once
  deps.tracker.track({
    id: `receipt-mismatch-${causationId}`,
    type: 'receipt.mismatched',
    supplierAccount: r.account,
    vendor: r.vendor,
    code: reason,
    ...(r.messageId ? { messageId: r.messageId } : {}),
  });
  deps.logger.warn('receipt not about the message it names; ignored', {
    component: 'receipts',
    account: r.account,
    reason,
    source,
  });
}

/** What to do with a receipt for a message in this state. */
export function receiptVerdict(
  state: MessageState,
  r: Pick<ReceiptData, 'account' | 'supplierMessageId' | 'messageId'>,
): 'apply' | 'park' | MismatchReason {
  const match = receiptMatches(
    state,
    r.account,
    r.supplierMessageId,
    r.messageId,
    (a, b) => normalizeSupplierMessageId(a) === normalizeSupplierMessageId(b),
  );
  switch (match) {
    case 'match':
      return 'apply';
    case 'account-mismatch':
      return 'ACCOUNT_MISMATCH';
    case 'supplier-id-mismatch':
      return 'SUPPLIER_ID_MISMATCH';
    case 'not-submitted':
      // An uncertain call's vendor id was never learnt: a receipt from the account
      // that was called, naming the message in its out_id (Aliyun), is what the
      // reconciling query would match too.
      if (
        state.exists &&
        state.status === 'uncertain' &&
        state.supplierAccount === r.account &&
        r.messageId === state.messageId
      )
        return 'apply';
      // still on its way to a supplier: the submission may come; otherwise it never will
      return state.exists && (state.status === 'accepted' || state.status === 'uncertain')
        ? 'park'
        : 'UNMATCHED';
  }
}

function command(r: ReceiptData): MessageCommand {
  const base = { supplierAccount: r.account, supplierMessageId: r.supplierMessageId };
  return r.delivered
    ? { type: 'RecordDelivery', data: { ...base, deliveredAt: r.reportedAt } }
    : {
        type: 'RecordUndelivered',
        data: {
          ...base,
          reportedAt: r.reportedAt,
          reason: { code: r.errorCode ?? 'UNDELIVERED', message: r.errorMessage ?? '' },
        },
      };
}

export class ReceiptApplier {
  private readonly deps: ProcessorDeps;
  private readonly state: DispatchState;

  constructor(deps: ProcessorDeps) {
    this.deps = deps;
    this.state = new DispatchState(deps.redis, optionsOf(deps));
  }

  /** The message a receipt is about, if it is known yet (with its stream when it was read). */
  async resolve(
    r: ReceiptData,
  ): Promise<{ messageId: string; loaded?: LoadedMessage } | undefined> {
    if (r.messageId) {
      const loaded = await loadMessage(this.deps.eventStore, r.messageId);
      if (loaded.state.exists) return { messageId: r.messageId, loaded };
    }
    const id = await this.state.messageForSupplierId(r.account, r.supplierMessageId, r.mobile);
    return id === null ? undefined : { messageId: id };
  }

  /**
   * True when applied (or absorbed as a duplicate) or recorded as mismatched;
   * false when its message is not known or not submitted yet (park it).
   */
  async apply(r: ReceiptData, eventId: string): Promise<boolean> {
    const found = await this.resolve(r);
    if (found === undefined) return false;
    const loaded = found.loaded ?? (await loadMessage(this.deps.eventStore, found.messageId));
    const verdict = receiptVerdict(loaded.state, r);
    if (verdict === 'park') return false;
    if (verdict !== 'apply') {
      await recordMismatch(this.deps, r, verdict, 'receipt', eventId);
      return true;
    }
    // the stream just read serves the decision; a concurrent writer makes it reload
    await decideAndAppend(
      this.deps.eventStore,
      found.messageId,
      command(r),
      { causationId: eventId, actor: { type: 'supplier', id: r.account } },
      loaded,
    );
    return true;
  }
}

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
      } catch (err) {
        log.warn('parked receipts retry failed', { err: String(err) });
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
