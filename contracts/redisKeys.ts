// Redis keys that more than one folder builds or reads. Every key starts with the one
// prefix of the system (Config redis.prefix, STREAMING_REDIS_PREFIX).

/** Default of STREAMING_REDIS_PREFIX, and what code without a configured prefix uses. */
export const DEFAULT_REDIS_PREFIX = 'streaming:';

/** A supplier's message id as the lookups key it (vendors differ in case and leading zeros). */
export function normalizeSupplierMessageId(id: string): string {
  const s = id.trim().toLowerCase().replace(/^0+/, '');
  return s === '' && id.trim() !== '' ? '0' : s;
}

/**
 * `<prefix>smid:<account>:<normalized id>`: supplier message id → message id, written
 * by the dispatcher, read by receipts, removed by retention.
 */
export const supplierLookupKey = (
  prefix: string,
  account: string,
  supplierMessageId: string,
): string => `${prefix}smid:${account}:${normalizeSupplierMessageId(supplierMessageId)}`;

/**
 * `<prefix>smid:<account>:<normalized id>#<E.164>`: the same for a vendor that gives one
 * id to a whole batch of numbers.
 */
export const sharedSupplierLookupKey = (
  prefix: string,
  account: string,
  supplierMessageId: string,
  mobile: string,
): string => `${prefix}smid:${account}:${normalizeSupplierMessageId(supplierMessageId)}#${mobile}`;

/** `<prefix>timers`: sorted set of message ids by the time their timer is due. */
export const timersKey = (prefix: string): string => `${prefix}timers`;

/** `<prefix>claim:<messageId>:<attempt>`: one dispatcher's claim on one send attempt. */
export const claimKey = (prefix: string, messageId: string, attempt: number | string): string =>
  `${prefix}claim:${messageId}:${attempt}`;

/** `<prefix>reviews:due`: sorted set of signature/template reviews by next poll time. */
export const reviewsDueKey = (prefix: string): string => `${prefix}reviews:due`;

/** `<prefix>breaker:<account>`: hash of `fails` (consecutive) and `openUntil` (ms epoch, 0 closed). */
export const breakerKey = (prefix: string, account: string): string =>
  `${prefix}breaker:${account}`;
/** `<prefix>breaker:<account>:probe`: set while the one probe call of a half-open breaker runs. */
export const breakerProbeKey = (prefix: string, account: string): string =>
  `${prefix}breaker:${account}:probe`;
/** `<prefix>breaker:<account>:w:<window>`: hash of `calls` and `errors` in one window. */
export const breakerWindowKey = (prefix: string, account: string, window: number): string =>
  `${prefix}breaker:${account}:w:${window}`;

/** `<prefix>lastmsg:<E.164>`: the last message any tenant sent to the number. */
export const lastMessageKey = (prefix: string, mobile: string): string =>
  `${prefix}lastmsg:${mobile}`;

/**
 * `<prefix>lastmsg:<E.164>:acct:<account>`: the last message sent to the number
 * through that account. A reply without an extension code comes back to the
 * account that sent, so it is linked only within that account.
 */
export const lastMessageByAccountKey = (prefix: string, mobile: string, account: string): string =>
  `${prefix}lastmsg:${mobile}:acct:${account}`;

/**
 * `<prefix>lastmsg:<E.164>:ext:<code>:<account>`: the last message sent to the
 * number with that extension code through that account. The account is part
 * of the key because a reply comes back to the sender number of the account
 * that sent it, and two accounts may hand out the same code.
 */
export const lastMessageByExtendKey = (
  prefix: string,
  mobile: string,
  extendCode: string,
  account: string,
): string => `${prefix}lastmsg:${mobile}:ext:${extendCode}:${account}`;
