// Matching a delivery receipt (pushed, or a pulled status) to its message and
// applying it through the message decider; what does not match is recorded as
// receipt.mismatched.v1. The receipts processor (receipts.ts) and the status
// pull (statusPull.ts) use it.
import {
  receiptMatches,
  type MessageCommand,
  type MessageState,
} from '../domain/messages/index.ts';
import { optionsOf, type ProcessorDeps } from './deps.ts';
import { decideAndAppend, loadMessage, type LoadedMessage } from './messages.ts';
import { normalizeSupplierMessageId } from '../suppliers/index.ts';
import { DispatchState } from './redisState.ts';
import { receiptsStream } from '../contracts/index.ts';

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
