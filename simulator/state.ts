// In-memory state of the simulator: accounts, their behaviour, every message
// they accepted, and per-message counters that let tests prove a message was
// never sent twice.
import { seededRng, type Rng } from './rng.ts';

export type Vendor = 'aliyun' | 'tencent';

/** How an account misbehaves. Rates are probabilities in [0, 1]. */
export interface Behaviour {
  /** Delay before answering SendSms. */
  latencyMs: number;
  /** Share of SendSms rejected with rejectCode. */
  rejectRate: number;
  /** Vendor error code of rejections (default isv.MOBILE_NUMBER_ILLEGAL / InvalidParameterValue.IncorrectPhoneNumber). */
  rejectCode?: string;
  /** Once this many messages were accepted, reject every further SendSms (null: never). */
  rejectAfter: number | null;
  /** Share of SendSms answered with a flow-control error (nothing recorded). */
  transientRate: number;
  /** Code of those (default Throttling.User / RequestLimitExceeded). */
  transientCode?: string;
  /** Share of SendSms accepted and recorded, then never answered. */
  timeoutAfterAcceptRate: number;
  /** How long a hung request is held before the socket is closed. */
  hangMs: number;
  /** Share of receipts never pushed (the status still shows in queries). */
  dropReceiptRate: number;
  /** Share of receipts pushed twice. */
  duplicateReceiptRate: number;
  /** Shuffle the receipts inside each pushed batch. */
  reorderReceipts: boolean;
  /** Time from acceptance to the delivery report. */
  receiptDelayMs: number;
  /** Share of accepted messages that fail delivery. */
  deliverFailRate: number;
  /** Carrier code of failed deliveries. */
  deliverFailCode: string;
  /** Status queries (QuerySendDetails, Tencent's pulls) show a message only this long after acceptance. */
  queryLagMs: number;
  /** Seed of the behaviour's random numbers. */
  seed: number;
  /** Receipts gathered into one push at most. */
  pushBatchSize: number;
  /** Time receipts wait for company before a push. */
  pushBatchWindowMs: number;
  /** Retries of a failed push (Aliyun retries 3 times). */
  pushRetries: number;
  /** Retry n waits pushRetryBaseMs * [1, 5, 10, …][n] (Aliyun: 1, 5, 10 minutes). */
  pushRetryBaseMs: number;
  /** How long a signature or template stays in review (the vendors: about two hours). */
  reviewDelayMs: number;
  /** Rejection rule: a regular expression over a signature's name or a template's name and text. */
  reviewRejectPattern: string | null;
  /** The reason a rejected review carries. */
  reviewRejectReason: string;
}

export const DEFAULT_BEHAVIOUR: Behaviour = {
  latencyMs: 0,
  rejectRate: 0,
  rejectAfter: null,
  transientRate: 0,
  timeoutAfterAcceptRate: 0,
  hangMs: 30_000,
  dropReceiptRate: 0,
  duplicateReceiptRate: 0,
  reorderReceipts: false,
  receiptDelayMs: 20,
  deliverFailRate: 0,
  deliverFailCode: 'MK:0001',
  queryLagMs: 0,
  seed: 1,
  pushBatchSize: 20,
  pushBatchWindowMs: 10,
  pushRetries: 3,
  pushRetryBaseMs: 100,
  reviewDelayMs: 1_000,
  reviewRejectPattern: null,
  reviewRejectReason: '模板内容不符合规范 (the content does not follow the template rules)',
};

export interface AccountConfig {
  id: string;
  vendor: Vendor;
  accessKeyId: string;
  accessKeySecret: string;
  /** Tencent SmsSdkAppId the account owns; when set, requests must name it. */
  appId?: string;
  receiptUrl?: string;
  inboundUrl?: string;
  /** Signature used for inbound pushes. */
  signName?: string;
}

export interface AccountStats {
  received: number;
  /** Calls that named more than one number (Tencent SendSms, Aliyun SendBatchSms), and their numbers. */
  batchCalls: number;
  batchNumbers: number;
  accepted: number;
  rejected: number;
  transient: number;
  hung: number;
  authFailures: number;
  queries: number;
  receiptsGenerated: number;
  receiptsPushed: number;
  receiptsDropped: number;
  receiptsDuplicated: number;
  pushAttempts: number;
  pushFailures: number;
  inboundPushed: number;
}

export interface SimAccount extends AccountConfig {
  behaviour: Behaviour;
  sendRng: Rng;
  receiptRng: Rng;
  stats: AccountStats;
}

export interface SimMessage {
  accountId: string;
  vendor: Vendor;
  /** Aliyun OutId / Tencent SessionContext: our message id. */
  messageId: string;
  /** Aliyun BizId / Tencent SerialNo. */
  supplierMessageId: string;
  /** E.164. */
  mobile: string;
  signName: string;
  templateCode: string;
  params: unknown;
  /** The text as the handset shows it: 【signature】 and the vendor template with the params filled in. */
  content: string;
  segments: number;
  appId?: string;
  /** Aliyun SmsUpExtendCode / Tencent ExtendCode it was sent with, if any. */
  extendCode?: string;
  sentAt: Date;
  status: 'pending' | 'delivered' | 'failed';
  errCode?: string;
  reportedAt?: Date;
  /** Forgotten through the admin API: no query finds it, no receipt comes. */
  forgotten?: boolean;
}

export interface MessageCounts {
  received: number;
  accepted: number;
}

function emptyStats(): AccountStats {
  return {
    received: 0,
    batchCalls: 0,
    batchNumbers: 0,
    accepted: 0,
    rejected: 0,
    transient: 0,
    hung: 0,
    authFailures: 0,
    queries: 0,
    receiptsGenerated: 0,
    receiptsPushed: 0,
    receiptsDropped: 0,
    receiptsDuplicated: 0,
    pushAttempts: 0,
    pushFailures: 0,
    inboundPushed: 0,
  };
}

export class SimulatorState {
  readonly accounts = new Map<string, SimAccount>();
  readonly messages: SimMessage[] = [];
  /** messageId -> counts over all accounts. */
  readonly counts = new Map<string, MessageCounts>();
  /** `${accountId}\0${messageId}` -> counts for that account. */
  readonly accountCounts = new Map<string, MessageCounts>();
  /** Aliyun SignatureNonce -> time first seen. */
  readonly nonces = new Map<string, number>();
  /** Tencent PullSmsSendStatus cursor per account: reports already handed out. */
  readonly pulled = new Set<SimMessage>();
  private serial = 0;

  upsertAccount(config: AccountConfig, behaviour: Partial<Behaviour> = {}): SimAccount {
    const existing = this.accounts.get(config.id);
    const merged: Behaviour = { ...(existing?.behaviour ?? DEFAULT_BEHAVIOUR), ...behaviour };
    const reseed = !existing || behaviour.seed !== undefined;
    const account: SimAccount = {
      ...config,
      behaviour: merged,
      sendRng: reseed || !existing ? seededRng(merged.seed) : existing.sendRng,
      receiptRng: reseed || !existing ? seededRng(merged.seed + 7919) : existing.receiptRng,
      stats: existing?.stats ?? emptyStats(),
    };
    this.accounts.set(config.id, account);
    return account;
  }

  findByKey(vendor: Vendor, accessKeyId: string): SimAccount | undefined {
    for (const a of this.accounts.values()) {
      if (a.vendor === vendor && a.accessKeyId === accessKeyId) return a;
    }
    return undefined;
  }

  countReceived(account: SimAccount, messageId: string): void {
    account.stats.received++;
    if (messageId === '') return;
    bump(this.counts, messageId, 'received');
    bump(this.accountCounts, `${account.id}\0${messageId}`, 'received');
  }

  countAccepted(account: SimAccount, messageId: string): void {
    account.stats.accepted++;
    if (messageId === '') return;
    bump(this.counts, messageId, 'accepted');
    bump(this.accountCounts, `${account.id}\0${messageId}`, 'accepted');
  }

  nextSerial(): number {
    return ++this.serial;
  }

  /** Forget messages, counters and nonces; keep accounts unless asked (their stats and seeds restart). */
  reset(dropAccounts: boolean): void {
    this.messages.length = 0;
    this.counts.clear();
    this.accountCounts.clear();
    this.nonces.clear();
    this.pulled.clear();
    if (dropAccounts) {
      this.accounts.clear();
      return;
    }
    for (const a of this.accounts.values()) {
      a.stats = emptyStats();
      a.sendRng = seededRng(a.behaviour.seed);
      a.receiptRng = seededRng(a.behaviour.seed + 7919);
    }
  }
}

function bump(map: Map<string, MessageCounts>, key: string, field: keyof MessageCounts): void {
  const c = map.get(key) ?? { received: 0, accepted: 0 };
  c[field]++;
  map.set(key, c);
}

/** A vendor's number forms to E.164 (mainland 11-digit, 86/0086/+86 prefixes, country code + number). */
export function normalizeMobile(raw: string): string | undefined {
  const s = raw.trim();
  let digits: string;
  if (/^\+\d+$/.test(s)) digits = s.slice(1);
  else if (/^00\d+$/.test(s)) digits = s.slice(2);
  else if (/^1\d{10}$/.test(s)) digits = `86${s}`;
  else if (/^\d+$/.test(s)) digits = s;
  else return undefined;
  if (digits.startsWith('86')) return /^861\d{10}$/.test(digits) ? `+${digits}` : undefined;
  return /^[1-9]\d{6,14}$/.test(digits) ? `+${digits}` : undefined;
}

/** The national part and country code of an E.164 number (mainland: 86 + 11 digits). */
export function splitMobile(e164: string): { nationCode: string; national: string } {
  const d = e164.slice(1);
  if (d.startsWith('86')) return { nationCode: '86', national: d.slice(2) };
  const cc =
    /^(1|7|2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58])/.exec(d)?.[0] ?? d.slice(0, 3);
  return { nationCode: cc, national: d.slice(cc.length) };
}

/** "yyyy-MM-dd HH:mm:ss" in China time (UTC+8). */
export function chinaTime(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Mainland segment rule: up to 70 characters is one message, otherwise ceil(n / 67). */
export function segmentsOf(text: string): number {
  const n = [...text].length;
  return n <= 70 ? 1 : Math.ceil(n / 67);
}
