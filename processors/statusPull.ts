// No message stays `submitted`: when no receipt came within
// STREAMING_RECEIPT_PULL_AFTER, the dispatcher asks the account that took the
// message for its status (Aliyun QuerySendDetails by BizId and OutId, Tencent
// PullSmsSendStatusByPhoneNumber matched by SessionContext), again with
// backoff, and applies what it learns like a receipt: only when the vendor id
// is the recorded one. Still unknown after STREAMING_RECEIPT_EXPIRE_AFTER, the
// message expires (sms.expired); a receipt that comes later still closes it.
//
// The timers index schedules the first pull from sms.submitted (timers.ts);
// later pulls are rescheduled here.
import type { ExistingMessage, MessageCommand } from '../domain/messages/index.ts';
import type { EventMetadata, RecordedEvent } from '../platform/eventStore/index.ts';
import type { ProcessorDeps, ProcessorOptions } from './deps.ts';
import { decideAndAppend, type LoadedMessage } from './messages.ts';
import { recordMismatch } from './receiptApplier.ts';
import type { DispatchState } from './redisState.ts';
import type { SupplierRegistry } from './registry.ts';
import { normalizeSupplierMessageId, type QueryOutcome } from '../suppliers/index.ts';

/** The longest wait between two pulls of one message. */
const MAX_PULL_INTERVAL_MS = 6 * 3_600_000;

/**
 * When to pull next: half the time since the submission (so pulls thin out,
 * about 17 of them over 72 hours with the defaults), at least `min`, at most
 * six hours, and never past the expiry, where one last pull decides.
 */
export function nextPullDelay(elapsedMs: number, minMs: number, untilExpiryMs: number): number {
  const delay = Math.min(MAX_PULL_INTERVAL_MS, Math.max(minMs, elapsedMs / 2));
  return Math.max(1, Math.min(delay, untilExpiryMs));
}

export function lastOf(events: RecordedEvent[], type: string): RecordedEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]!.type === type) return events[i];
  return undefined;
}

/** A found status as the command that records it, for the account and vendor id on record. */
export function statusCommand(
  q: Extract<QueryOutcome, { kind: 'found' }>,
  supplierAccount: string,
  supplierMessageId: string,
  now: Date,
): MessageCommand | undefined {
  if (q.status === 'pending') return undefined;
  const base = { supplierAccount, supplierMessageId };
  return q.status === 'delivered'
    ? { type: 'RecordDelivery', data: { ...base, deliveredAt: now.toISOString() } }
    : {
        type: 'RecordUndelivered',
        data: {
          ...base,
          reportedAt: now.toISOString(),
          reason: { code: q.errorCode ?? 'UNDELIVERED', message: 'reported by status pull' },
        },
      };
}

export class StatusPuller {
  private readonly deps: ProcessorDeps;
  private readonly options: ProcessorOptions;
  private readonly state: DispatchState;
  private readonly registry: SupplierRegistry;

  constructor(
    deps: ProcessorDeps,
    options: ProcessorOptions,
    state: DispatchState,
    registry: SupplierRegistry,
  ) {
    this.deps = deps;
    this.options = options;
    this.state = state;
    this.registry = registry;
  }

  /** One look at a submitted message: pull when due, apply, reschedule or expire. */
  async pull(
    s: ExistingMessage,
    loaded: LoadedMessage,
    metadata: Partial<EventMetadata>,
  ): Promise<void> {
    const submitted = lastOf(loaded.events, 'sms.submitted.v1');
    const account = s.supplierAccount;
    const supplierMessageId = s.supplierMessageId;
    if (!submitted || account === undefined || supplierMessageId === undefined) return;
    const submittedAt = submitted.recordedAt.getTime();
    const now = Date.now();
    const due = submittedAt + this.options.receiptPullAfterMs;
    if (now + 20 < due) {
      // woken early (a redelivered dispatch record): the first pull is not due yet
      await this.state.schedule(s.messageId, due);
      return;
    }
    const expiresAt = submittedAt + this.options.receiptExpireAfterMs;
    const supplier = this.registry.get(account);
    const q = await this.queryVendor(s, account, supplierMessageId, submittedAt);
    if (q.kind === 'found' && q.status !== 'pending') {
      const idOnRecord =
        supplierMessageId.startsWith('outid:') || q.supplierMessageId === undefined;
      if (
        idOnRecord ||
        normalizeSupplierMessageId(q.supplierMessageId ?? '') ===
          normalizeSupplierMessageId(supplierMessageId)
      ) {
        const command = statusCommand(q, account, supplierMessageId, new Date());
        if (command) {
          await decideAndAppend(this.deps.eventStore, s.messageId, command, metadata, loaded);
          return;
        }
      } else {
        // the vendor reports a status under another id than the one it answered
        await recordMismatch(
          this.deps,
          {
            account,
            vendor: supplier?.config.vendor ?? 'unknown',
            supplierMessageId: q.supplierMessageId ?? '',
            messageId: s.messageId,
          },
          'SUPPLIER_ID_MISMATCH',
          'pull',
          submitted.eventId,
        );
      }
    }
    if (now >= expiresAt) {
      await decideAndAppend(
        this.deps.eventStore,
        s.messageId,
        {
          type: 'RecordExpiry',
          data: {
            expiredAt: new Date(now).toISOString(),
            reason: {
              code: 'STATUS_UNKNOWN',
              message: `no receipt and no status from the vendor within ${Math.round(this.options.receiptExpireAfterMs / 1000)} s`,
            },
          },
        },
        metadata,
        loaded,
      );
      return;
    }
    const delay = nextPullDelay(
      now - submittedAt,
      this.options.receiptPullAfterMs,
      expiresAt - now,
    );
    await this.state.schedule(s.messageId, now + delay);
  }

  /** What the vendor says of the message now (unknown when its account is not configured). */
  private async queryVendor(
    s: ExistingMessage,
    account: string,
    supplierMessageId: string,
    submittedAt: number,
  ): Promise<QueryOutcome> {
    const supplier = this.registry.get(account);
    if (!supplier) return { kind: 'unknown', message: `account ${account} is not configured` };
    // Aliyun's query cannot narrow by a BizId we never learnt (a submission found by query)
    const known = !supplierMessageId.startsWith('outid:');
    return supplier.adapter.query({
      messageId: s.messageId,
      mobile: s.accepted.mobile,
      ...(known ? { supplierMessageId } : {}),
      sentAt: new Date(submittedAt - supplier.config.timeoutMs),
    });
  }
}
