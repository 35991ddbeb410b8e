// The Message aggregate, stream `message-<messageId>`.
//
//   accepted ──► submitted ──► delivered | undelivered
//      │  ▲         └──► expired ──► delivered | undelivered (a late receipt)
//      │  │ (failed-over, retry-scheduled: still dispatching)
//      ├──► uncertain ──► submitted | failed | expired
//      ├──► failed
//      └──► cancelled (POST /v1/messages/{id}/cancel while not due yet)
//
// A scheduled message (sendAt, or a marketing send held by quiet hours)
// carries notBefore: nothing is dispatched before it. Its limits are reserved
// at send time (limitsAtSend): sms.limits-reserved, or sms.failed with the rule.
//
// expired: no receipt came and the vendor's status pull never told, within
// STREAMING_RECEIPT_EXPIRE_AFTER. It is final for read models, but a receipt
// that comes later still records what happened.
//
// Late and duplicate outcomes never move a message backwards: they decide to
// no events. A receipt may arrive before the submission is recorded; it is
// applied, and the later submission record is then a no-op.
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { checkRepeat } from './acceptance.ts';
import type { TemplateKind } from '../templates/policy.ts';
import type { Encoding } from '../segments/segments.ts';
import {
  requireInteger,
  requireIsoTime,
  requireText,
  requireTextList,
  withoutUndefined,
} from '../checks/index.ts';

/** Every message's stream is `message-<messageId>`. */
export const MESSAGE_STREAM_PREFIX = 'message-';
export const messageStream = (messageId: string): string => `${MESSAGE_STREAM_PREFIX}${messageId}`;
/** Whether a stream is a message's (and not a batch's, a receipt account's, ...). */
export const isMessageStream = (streamId: string): boolean =>
  streamId.startsWith(MESSAGE_STREAM_PREFIX);

export type FailureReason = { code: string; message: string; retriable?: boolean };

export type MessageStatus =
  | 'accepted'
  | 'submitted'
  | 'uncertain'
  | 'delivered'
  | 'undelivered'
  | 'failed'
  | 'expired'
  | 'cancelled';

/**
 * A cancel is accepted only while the message is due at least this far ahead:
 * a message due sooner may be in a dispatcher's hands already.
 */
export const CANCEL_MARGIN_MS = 1_000;
/** sendAt may be at most this far ahead. */
export const MAX_SCHEDULE_AHEAD_MS = 30 * 86_400_000;

/**
 * The status each event type moves a message to; the other event types of a
 * message stream (failed-over, retry-scheduled) change no status. The decider
 * never appends one that would move a message backwards.
 */
export const statusOfEventType: Readonly<Record<string, MessageStatus>> = {
  'sms.accepted.v1': 'accepted',
  'sms.submitted.v1': 'submitted',
  'sms.submission-uncertain.v1': 'uncertain',
  'sms.failed.v1': 'failed',
  'sms.delivered.v1': 'delivered',
  'sms.undelivered.v1': 'undelivered',
  'sms.expired.v1': 'expired',
  'sms.cancelled.v1': 'cancelled',
};

// events ------------------------------------------------------------------
export type SmsAcceptedData = {
  messageId: string;
  tenantId: string;
  templateId: string;
  templateCode: string;
  kind: TemplateKind;
  mobile: string;
  signature?: string;
  content: string; // masked for verification codes
  sealedContent?: string; // AES-GCM sealed text, verification codes only
  sealedParams?: string; // AES-GCM sealed JSON of the real params (code included), verification codes only
  params?: Record<string, string>;
  segments: number;
  encoding: Encoding;
  suppliers: string[];
  requestHash: string;
  idempotencyKey?: string;
  verificationId?: string;
  acceptedAt?: string;
  /** The template's extension code at accept time; sent to the supplier. */
  extendCode?: string;
  /** A URL told of this message's status changes, besides the tenant's callback endpoints. */
  statusCallback?: string;
  /** Per account: the vendor's approved template id and its parameter names in the vendor's order. */
  vendorTemplates?: Record<string, { id: string; params: string[] }>;
  /** The time the caller asked for (sendAt). */
  sendAt?: string;
  /** Not dispatched before this: sendAt, or the end of the template's quiet hours. */
  notBefore?: string;
  /** The limits were not reserved at accept; the dispatcher reserves them at send time. */
  limitsAtSend?: boolean;
  /** The batch (POST /v1/messages/batch) the message came in with, and its place in it. */
  batchId?: string;
  batchIndex?: number;
};
export type SmsAccepted = Event<'sms.accepted.v1', SmsAcceptedData>;
export type SmsSubmitted = Event<
  'sms.submitted.v1',
  {
    messageId: string;
    supplierAccount: string;
    supplierMessageId: string;
    attempt?: number;
    latencyMs?: number;
    reconciled?: boolean;
  }
>;
export type SmsFailedOver = Event<
  'sms.failed-over.v1',
  {
    messageId: string;
    fromAccount: string;
    toAccount?: string;
    reason: FailureReason;
    /** Out of uncertain: the vendor refused the re-send of a submission it never saw. */
    refusedResend?: boolean;
  }
>;
export type SmsRetryScheduled = Event<
  'sms.retry-scheduled.v1',
  {
    messageId: string;
    supplierAccount: string;
    attempt: number;
    dueAt: string;
    reason: FailureReason;
  }
>;
export type SmsSubmissionUncertain = Event<
  'sms.submission-uncertain.v1',
  { messageId: string; supplierAccount: string; reason: FailureReason; attempt?: number }
>;
export type SmsFailed = Event<
  'sms.failed.v1',
  { messageId: string; supplierAccount?: string; reason: FailureReason }
>;
export type SmsDelivered = Event<
  'sms.delivered.v1',
  { messageId: string; supplierAccount: string; supplierMessageId: string; deliveredAt: string }
>;
export type SmsUndelivered = Event<
  'sms.undelivered.v1',
  {
    messageId: string;
    supplierAccount: string;
    supplierMessageId: string;
    reportedAt?: string;
    reason: FailureReason;
  }
>;
export type SmsExpired = Event<
  'sms.expired.v1',
  {
    messageId: string;
    supplierAccount?: string;
    supplierMessageId?: string;
    expiredAt: string;
    reason: FailureReason;
  }
>;
export type SmsCancelled = Event<
  'sms.cancelled.v1',
  { messageId: string; cancelledAt: string; reason?: string }
>;
export type SmsLimitsReserved = Event<
  'sms.limits-reserved.v1',
  { messageId: string; reservedAt: string }
>;
export type MessageEvent =
  | SmsAccepted
  | SmsCancelled
  | SmsLimitsReserved
  | SmsSubmitted
  | SmsFailedOver
  | SmsRetryScheduled
  | SmsSubmissionUncertain
  | SmsFailed
  | SmsDelivered
  | SmsUndelivered
  | SmsExpired;

// commands (messageId comes from the stream) -------------------------------
type Without<E extends Event, K extends string = 'messageId'> = Omit<E['data'], K>;
export type Accept = { type: 'Accept'; data: SmsAcceptedData };
export type RecordSubmission = {
  type: 'RecordSubmission';
  data: Without<SmsSubmitted>;
};
export type RecordFailover = { type: 'RecordFailover'; data: Without<SmsFailedOver> };
export type ScheduleRetry = {
  type: 'ScheduleRetry';
  data: Without<SmsRetryScheduled, 'messageId' | 'attempt'> & { attempt?: number };
};
export type RecordUncertain = { type: 'RecordUncertain'; data: Without<SmsSubmissionUncertain> };
export type RecordFailure = { type: 'RecordFailure'; data: Without<SmsFailed> };
export type RecordDelivery = { type: 'RecordDelivery'; data: Without<SmsDelivered> };
export type RecordUndelivered = { type: 'RecordUndelivered'; data: Without<SmsUndelivered> };
export type RecordExpiry = { type: 'RecordExpiry'; data: Without<SmsExpired> };
/**
 * at: the time of the request, to tell whether the message is still far enough from due.
 * tenantId: the caller's tenant; another tenant's message is not found, as a stranger's
 * would be (absent for an admin, who may cancel any message).
 */
export type Cancel = { type: 'Cancel'; data: { at: string; reason?: string; tenantId?: string } };
export type RecordLimitsReserved = { type: 'RecordLimitsReserved'; data: { reservedAt: string } };
export type MessageCommand =
  | Accept
  | Cancel
  | RecordLimitsReserved
  | RecordSubmission
  | RecordFailover
  | ScheduleRetry
  | RecordUncertain
  | RecordFailure
  | RecordDelivery
  | RecordUndelivered
  | RecordExpiry;

// state -------------------------------------------------------------------
export type ExistingMessage = {
  exists: true;
  messageId: string;
  accepted: SmsAcceptedData;
  status: MessageStatus;
  // supplier calls with a recorded outcome (a reconciliation is not a call)
  attempts: number;
  // index into accepted.suppliers of the account to call now
  supplierIndex: number;
  // the account to call now (after a failover, its target)
  currentAccount: string | undefined;
  // calls on currentAccount since the last failover
  accountAttempts: number;
  triedAccounts: string[];
  retryDueAt: string | undefined;
  // the account that took the message, or the one in doubt while uncertain
  supplierAccount: string | undefined;
  supplierMessageId: string | undefined;
  lastReason: FailureReason | undefined;
  deliveredAt: string | undefined;
  /** Not dispatched before this (sendAt or quiet hours). */
  notBefore: string | undefined;
  /** False while limits deferred to send time are not reserved yet. */
  limitsReserved: boolean;
  cancelledAt: string | undefined;
};
export type MessageState = { exists: false } | ExistingMessage;

/** Nothing changes these any more. */
const closedStatuses: ReadonlySet<MessageStatus> = new Set([
  'delivered',
  'undelivered',
  'failed',
  'cancelled',
]);
/** No more work on these: closed, or expired (which a late receipt may still close). */
const finalStatuses: ReadonlySet<MessageStatus> = new Set([...closedStatuses, 'expired']);

export function isFinal(state: MessageState): boolean {
  return state.exists && finalStatuses.has(state.status);
}

/** Whether nothing changes a message in this status any more (a read model keeps it as it is). */
export const isClosedStatus = (s: string): boolean => closedStatuses.has(s as MessageStatus);
/** Whether a message in this status needs no more work (closed, or expired). */
export const isFinalStatus = (s: string): boolean => finalStatuses.has(s as MessageStatus);

export type ReceiptMatch =
  | 'match'
  /** No submission recorded yet: the receipt waits (parked) for it. */
  | 'not-submitted'
  | 'account-mismatch'
  | 'supplier-id-mismatch';

/**
 * Whether a receipt or a pulled status, from `account` about vendor message
 * `supplierMessageId`, is about this message: only the account that took it,
 * with the vendor id it answered. Aliyun's QuerySendDetails carries no BizId,
 * so a submission found by query is recorded as `outid:<messageId>`; then the
 * receipt's out_id must name the message.
 */
export function receiptMatches(
  state: MessageState,
  account: string,
  supplierMessageId: string,
  outId?: string,
  /** Vendors push ids in other spellings (case, leading zeros): the caller's canonical form. */
  sameId: (a: string, b: string) => boolean = (a, b) => a === b,
): ReceiptMatch {
  if (!state.exists || state.supplierMessageId === undefined) return 'not-submitted';
  if (state.supplierAccount !== account) return 'account-mismatch';
  if (sameId(state.supplierMessageId, supplierMessageId)) return 'match';
  if (state.supplierMessageId === `outid:${state.messageId}` && outId === state.messageId)
    return 'match';
  return 'supplier-id-mismatch';
}

/** The message's status, or undefined when the stream has no message. */
export function status(state: MessageState): MessageStatus | undefined {
  return state.exists ? state.status : undefined;
}

/**
 * When the message is due for dispatch: the later of notBefore and a pending
 * retry; undefined when it is due now.
 */
export function dueAt(state: ExistingMessage): string | undefined {
  const times = [state.notBefore, state.retryDueAt].filter((t): t is string => t !== undefined);
  if (times.length === 0) return undefined;
  return times.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
}

/**
 * A sendAt asked for at `now`: strictly in the future and at most 30 days ahead,
 * else SEND_AT_IN_PAST / SEND_AT_TOO_FAR (422). Returns it as ISO time.
 */
export function checkSendAt(sendAt: string, now: number): string {
  const at = Date.parse(requireIsoTime(sendAt, 'sendAt'));
  if (at <= now) {
    throw new DomainError('SEND_AT_IN_PAST', 'sendAt must be in the future.', {
      field: 'sendAt',
      now: new Date(now).toISOString(),
    });
  }
  if (at > now + MAX_SCHEDULE_AHEAD_MS) {
    throw new DomainError('SEND_AT_TOO_FAR', 'sendAt may be at most 30 days ahead.', {
      field: 'sendAt',
      latest: new Date(now + MAX_SCHEDULE_AHEAD_MS).toISOString(),
    });
  }
  return new Date(at).toISOString();
}

/** True when the stream holds a message accepted from the same request (an idempotent repeat). */
export function sameRequest(state: MessageState, requestHash: string): boolean {
  return state.exists && state.accepted.requestHash === requestHash;
}

// validation --------------------------------------------------------------
const kinds: readonly string[] = ['verification', 'notification', 'marketing'];
const encodings: readonly string[] = ['GSM-7', 'UCS-2'];

function failed(field: string, message: string): DomainError {
  return new DomainError('VALIDATION_FAILED', message, { field });
}

function requireReason(reason: unknown): FailureReason {
  const r = reason as Partial<FailureReason> | undefined;
  if (typeof r !== 'object' || r === null || typeof r.code !== 'string' || r.code === '') {
    throw failed('reason', 'reason must be {code, message, retriable?} with a non-empty code.');
  }
  if (r.retriable !== undefined && typeof r.retriable !== 'boolean') {
    throw failed('reason.retriable', 'reason.retriable must be a boolean.');
  }
  return withoutUndefined({
    code: r.code,
    message: typeof r.message === 'string' ? r.message : '',
    retriable: r.retriable,
  });
}

function optionalIso(value: string | undefined, field: string): string | undefined {
  return value === undefined ? undefined : requireIsoTime(value, field);
}

function optionalLatency(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw failed('latencyMs', 'latencyMs must be a non-negative number.');
  }
  return value;
}

function accept(d: SmsAcceptedData): SmsAccepted {
  for (const field of [
    'messageId',
    'tenantId',
    'templateId',
    'templateCode',
    'mobile',
    'requestHash',
  ] as const) {
    requireText(d[field], field);
  }
  if (!kinds.includes(d.kind)) throw failed('kind', `kind must be one of ${kinds.join(', ')}.`);
  if (!encodings.includes(d.encoding)) throw failed('encoding', 'encoding must be GSM-7 or UCS-2.');
  requireInteger(d.segments, 'segments', 1);
  optionalIso(d.acceptedAt, 'acceptedAt');
  if (d.sendAt !== undefined) {
    // the rule holds against the time of acceptance
    checkSendAt(d.sendAt, Date.parse(requireIsoTime(d.acceptedAt ?? '', 'acceptedAt')));
  }
  optionalIso(d.notBefore, 'notBefore');
  if (d.batchIndex !== undefined) requireInteger(d.batchIndex, 'batchIndex', 0);
  if (d.kind === 'verification') {
    // the code travels sealed only; content holds the masked text
    requireText(d.sealedContent, 'sealedContent');
    requireText(d.verificationId, 'verificationId');
  }
  if (d.params !== undefined && Object.values(d.params).some((v) => typeof v !== 'string')) {
    throw failed('params', 'params values must be strings.');
  }
  return {
    type: 'sms.accepted.v1',
    data: withoutUndefined({ ...d, suppliers: requireTextList(d.suppliers, 'suppliers') }),
  };
}

// decide ------------------------------------------------------------------
function cancellableBy(state: ExistingMessage, tenantId: string | undefined): boolean {
  return tenantId === undefined || state.accepted.tenantId === tenantId;
}

/** The data of one kind of command. */
type DataOf<T extends MessageCommand['type']> = Extract<MessageCommand, { type: T }>['data'];

function cancel(state: ExistingMessage, d: DataOf<'Cancel'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  const dispatching = s === 'accepted';
  if (s === 'cancelled') return [];
  const at = requireIsoTime(d.at, 'at');
  if (!dispatching) {
    throw new DomainError(
      'MESSAGE_NOT_CANCELLABLE',
      `The message is ${s} already; only a message not yet submitted can be cancelled.`,
      { status: s },
    );
  }
  const due = dueAt(state);
  if (due === undefined || Date.parse(due) - Date.parse(at) < CANCEL_MARGIN_MS) {
    throw new DomainError(
      'MESSAGE_NOT_CANCELLABLE',
      'The message is being dispatched now; only a message not due yet can be cancelled.',
      { status: s, dispatching: true },
    );
  }
  return [
    {
      type: 'sms.cancelled.v1',
      data: withoutUndefined({
        messageId,
        cancelledAt: at,
        reason: d.reason,
      }),
    },
  ];
}

function recordLimitsReserved(
  state: ExistingMessage,
  d: DataOf<'RecordLimitsReserved'>,
): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  const dispatching = s === 'accepted';
  if (!dispatching || state.limitsReserved) return [];
  return [
    {
      type: 'sms.limits-reserved.v1',
      data: { messageId, reservedAt: requireIsoTime(d.reservedAt, 'reservedAt') },
    },
  ];
}

function recordSubmission(state: ExistingMessage, d: DataOf<'RecordSubmission'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  const dispatching = s === 'accepted';
  if (!dispatching && s !== 'uncertain') return [];
  const reconciled = s === 'uncertain' ? true : d.reconciled;
  return [
    {
      type: 'sms.submitted.v1',
      data: withoutUndefined({
        messageId,
        supplierAccount: requireText(d.supplierAccount, 'supplierAccount'),
        supplierMessageId: requireText(d.supplierMessageId, 'supplierMessageId'),
        attempt: d.attempt ?? (reconciled ? state.attempts : state.attempts + 1),
        latencyMs: optionalLatency(d.latencyMs),
        reconciled,
      }),
    },
  ];
}

function recordFailover(state: ExistingMessage, d: DataOf<'RecordFailover'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  const dispatching = s === 'accepted';
  // Out of uncertain only when the vendor refused the re-send of a
  // submission it never saw (a refusal about the account): nothing was
  // sent, so the next supplier is safe. Any other failover of an
  // uncertain message would be blind.
  const refusedResend = s === 'uncertain' && d.refusedResend === true;
  if (!dispatching && !refusedResend) return [];
  // without an explicit target, the next supplier in template order
  const toAccount = d.toAccount ?? state.accepted.suppliers[state.supplierIndex + 1];
  return [
    {
      type: 'sms.failed-over.v1',
      data: withoutUndefined({
        messageId,
        fromAccount: requireText(d.fromAccount, 'fromAccount'),
        toAccount,
        reason: requireReason(d.reason),
        refusedResend: refusedResend || undefined,
      }),
    },
  ];
}

function scheduleRetry(state: ExistingMessage, d: DataOf<'ScheduleRetry'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  const dispatching = s === 'accepted';
  if (!dispatching) return [];
  return [
    {
      type: 'sms.retry-scheduled.v1',
      data: {
        messageId,
        supplierAccount: requireText(d.supplierAccount, 'supplierAccount'),
        attempt: d.attempt ?? state.attempts + 1,
        dueAt: requireIsoTime(d.dueAt, 'dueAt'),
        reason: requireReason(d.reason),
      },
    },
  ];
}

function recordUncertain(state: ExistingMessage, d: DataOf<'RecordUncertain'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  const dispatching = s === 'accepted';
  if (!dispatching) return [];
  return [
    {
      type: 'sms.submission-uncertain.v1',
      data: {
        messageId,
        supplierAccount: requireText(d.supplierAccount, 'supplierAccount'),
        reason: requireReason(d.reason),
        attempt: d.attempt ?? state.attempts + 1,
      },
    },
  ];
}

function recordFailure(state: ExistingMessage, d: DataOf<'RecordFailure'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  const dispatching = s === 'accepted';
  if (!dispatching && s !== 'uncertain') return [];
  return [
    {
      type: 'sms.failed.v1',
      data: withoutUndefined({
        messageId,
        supplierAccount:
          d.supplierAccount === undefined
            ? undefined
            : requireText(d.supplierAccount, 'supplierAccount'),
        reason: requireReason(d.reason),
      }),
    },
  ];
}

function recordDelivery(state: ExistingMessage, d: DataOf<'RecordDelivery'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  if (closedStatuses.has(s)) return [];
  return [
    {
      type: 'sms.delivered.v1',
      data: {
        messageId,
        supplierAccount: requireText(d.supplierAccount, 'supplierAccount'),
        supplierMessageId: requireText(d.supplierMessageId, 'supplierMessageId'),
        deliveredAt: requireIsoTime(d.deliveredAt, 'deliveredAt'),
      },
    },
  ];
}

function recordUndelivered(state: ExistingMessage, d: DataOf<'RecordUndelivered'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  if (closedStatuses.has(s)) return [];
  return [
    {
      type: 'sms.undelivered.v1',
      data: withoutUndefined({
        messageId,
        supplierAccount: requireText(d.supplierAccount, 'supplierAccount'),
        supplierMessageId: requireText(d.supplierMessageId, 'supplierMessageId'),
        reportedAt: optionalIso(d.reportedAt, 'reportedAt'),
        reason: requireReason(d.reason),
      }),
    },
  ];
}

function recordExpiry(state: ExistingMessage, d: DataOf<'RecordExpiry'>): MessageEvent[] {
  const messageId = state.messageId;
  const s = state.status;
  if (s !== 'submitted' && s !== 'uncertain') return [];
  return [
    {
      type: 'sms.expired.v1',
      data: withoutUndefined({
        messageId,
        supplierAccount: state.supplierAccount,
        supplierMessageId: state.supplierMessageId,
        expiredAt: requireIsoTime(d.expiredAt, 'expiredAt'),
        reason: requireReason(d.reason),
      }),
    },
  ];
}

function decide(command: MessageCommand, state: MessageState): MessageEvent[] {
  if (command.type === 'Accept') {
    if (!state.exists) return [accept(command.data)];
    checkRepeat(state.accepted, command.data.requestHash);
    return [];
  }
  if (!state.exists || (command.type === 'Cancel' && !cancellableBy(state, command.data.tenantId)))
    throw new DomainError('MESSAGE_NOT_FOUND', 'No such message.');
  switch (command.type) {
    case 'Cancel':
      return cancel(state, command.data);
    case 'RecordLimitsReserved':
      return recordLimitsReserved(state, command.data);
    case 'RecordSubmission':
      return recordSubmission(state, command.data);
    case 'RecordFailover':
      return recordFailover(state, command.data);
    case 'ScheduleRetry':
      return scheduleRetry(state, command.data);
    case 'RecordUncertain':
      return recordUncertain(state, command.data);
    case 'RecordFailure':
      return recordFailure(state, command.data);
    case 'RecordDelivery':
      return recordDelivery(state, command.data);
    case 'RecordUndelivered':
      return recordUndelivered(state, command.data);
    case 'RecordExpiry':
      return recordExpiry(state, command.data);
  }
}

// evolve ------------------------------------------------------------------
function tried(list: readonly string[], account: string | undefined): string[] {
  return account === undefined || list.includes(account) ? [...list] : [...list, account];
}

/** The state of a message just accepted. */
function started(data: SmsAccepted['data']): ExistingMessage {
  const suppliers = data.suppliers ?? [];
  return {
    exists: true,
    messageId: data.messageId,
    accepted: data,
    status: 'accepted',
    attempts: 0,
    supplierIndex: 0,
    currentAccount: suppliers[0],
    accountAttempts: 0,
    triedAccounts: [],
    retryDueAt: undefined,
    supplierAccount: undefined,
    supplierMessageId: undefined,
    lastReason: undefined,
    deliveredAt: undefined,
    notBefore: data.notBefore,
    limitsReserved: data.limitsAtSend !== true,
    cancelledAt: undefined,
  };
}

function failedOver(state: ExistingMessage, d: SmsFailedOver['data']): ExistingMessage {
  const suppliers = state.accepted.suppliers;
  const target = d.toAccount === undefined ? -1 : suppliers.indexOf(d.toAccount);
  const supplierIndex = target >= 0 ? target : state.supplierIndex + 1;
  return {
    ...state,
    // out of uncertain (a refused re-send): dispatching again, to the next account
    status: state.status === 'uncertain' ? 'accepted' : state.status,
    attempts: state.attempts + 1,
    supplierIndex,
    currentAccount: d.toAccount ?? suppliers[supplierIndex],
    accountAttempts: 0,
    triedAccounts: tried(state.triedAccounts, d.fromAccount),
    retryDueAt: undefined,
    lastReason: d.reason,
  };
}

function submitted(state: ExistingMessage, d: SmsSubmitted['data']): ExistingMessage {
  const call = d.reconciled !== true;
  return {
    ...state,
    status: 'submitted',
    attempts: state.attempts + (call ? 1 : 0),
    currentAccount: d.supplierAccount,
    accountAttempts: state.accountAttempts + (call ? 1 : 0),
    triedAccounts: tried(state.triedAccounts, d.supplierAccount),
    retryDueAt: undefined,
    supplierAccount: d.supplierAccount,
    supplierMessageId: d.supplierMessageId,
  };
}

function failedForGood(state: ExistingMessage, d: SmsFailed['data']): ExistingMessage {
  const call = d.supplierAccount !== undefined && state.status !== 'uncertain';
  return {
    ...state,
    status: 'failed',
    attempts: state.attempts + (call ? 1 : 0),
    triedAccounts: tried(state.triedAccounts, d.supplierAccount),
    retryDueAt: undefined,
    lastReason: d.reason,
  };
}

function evolve(state: MessageState, event: MessageEvent): MessageState {
  if (event.type === 'sms.accepted.v1') {
    if (state.exists) return state;
    return started(event.data);
  }
  if (!state.exists) return state;
  switch (event.type) {
    case 'sms.cancelled.v1':
      return {
        ...state,
        status: 'cancelled',
        retryDueAt: undefined,
        cancelledAt: event.data.cancelledAt,
      };
    case 'sms.limits-reserved.v1':
      return { ...state, limitsReserved: true };
    case 'sms.failed-over.v1':
      return failedOver(state, event.data);
    case 'sms.retry-scheduled.v1':
      return {
        ...state,
        attempts: state.attempts + 1,
        currentAccount: event.data.supplierAccount,
        accountAttempts: state.accountAttempts + 1,
        triedAccounts: tried(state.triedAccounts, event.data.supplierAccount),
        retryDueAt: event.data.dueAt,
        lastReason: event.data.reason,
      };
    case 'sms.submission-uncertain.v1':
      return {
        ...state,
        status: 'uncertain',
        attempts: state.attempts + 1,
        currentAccount: event.data.supplierAccount,
        accountAttempts: state.accountAttempts + 1,
        triedAccounts: tried(state.triedAccounts, event.data.supplierAccount),
        retryDueAt: undefined,
        supplierAccount: event.data.supplierAccount,
        lastReason: event.data.reason,
      };
    case 'sms.submitted.v1':
      return submitted(state, event.data);
    case 'sms.failed.v1':
      return failedForGood(state, event.data);
    case 'sms.delivered.v1':
      return {
        ...state,
        status: 'delivered',
        retryDueAt: undefined,
        supplierAccount: event.data.supplierAccount,
        supplierMessageId: event.data.supplierMessageId,
        deliveredAt: event.data.deliveredAt,
      };
    case 'sms.expired.v1':
      return {
        ...state,
        status: 'expired',
        retryDueAt: undefined,
        lastReason: event.data.reason,
      };
    case 'sms.undelivered.v1':
      return {
        ...state,
        status: 'undelivered',
        retryDueAt: undefined,
        supplierAccount: event.data.supplierAccount,
        supplierMessageId: event.data.supplierMessageId,
        lastReason: event.data.reason,
      };
    default:
      return state;
  }
}

export const messageDecider: Decider<MessageCommand, MessageState, MessageEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};
