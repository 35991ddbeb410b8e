// The supplier port: what the dispatcher needs from an upstream SMS vendor.
// Adapters never throw for vendor or network trouble and never log: every
// call ends in a typed outcome. Credentials never appear in outcomes.
import type { SupplierAccount as ConfiguredAccount } from '../platform/config/index.ts';

/**
 * One configured account at one vendor: platform/config's SupplierAccount (the one type,
 * from STREAMING_SUPPLIERS to the adapters), of which an adapter reads only these fields.
 * endpoint: base URL of the vendor API, e.g. https://dysmsapi.aliyuncs.com/ or
 * http://127.0.0.1:8090/ (Aliyun: scheme and host only); a Tencent endpoint that is not an
 * sms.* host is addressed as sms.tencentcloudapi.com and connected to at its own host
 * (tencent.ts). accessKeyId/accessKeySecret: Aliyun AccessKey / Tencent SecretId and
 * SecretKey. signName: the signature when a request carries none. smsSdkAppId: Tencent's
 * SmsSdkAppId (required for tencent). region: Aliyun RegionId (default cn-hangzhou) /
 * Tencent X-TC-Region (default ap-guangzhou). timeoutMs: whole-call deadline of one request.
 */
export type SupplierAccount = Pick<
  ConfiguredAccount,
  'id' | 'vendor' | 'endpoint' | 'accessKeyId' | 'accessKeySecret' | 'timeoutMs'
> &
  Partial<Pick<ConfiguredAccount, 'signName' | 'smsSdkAppId' | 'region'>>;

export interface SendRequest {
  messageId: string;
  /** E.164, e.g. +8613800138000. */
  mobile: string;
  /** Signature name (the text inside 【】); falls back to account.signName. */
  signature: string;
  /** The vendor's id of the approved template (Aliyun SMS_…, Tencent a number), never our T… code. */
  templateCode: string;
  /** Template parameters by placeholder name. */
  params: Record<string, string>;
  /**
   * The placeholder names in the vendor template's order (from its binding):
   * Tencent sends the values positionally, {1} first. Absent only for
   * messages accepted before bindings existed.
   */
  paramOrder?: string[];
  /** Rendered text, for logs and the simulator only; never sent to the vendor. */
  content: string;
  /** SMS extension code (digits) appended to the sender number, so replies carry it back. */
  extendCode?: string;
}

/**
 * - accepted: the vendor took the message.
 * - rejected: the vendor definitely did not and will not send it (fail over to another
 *   supplier, unless `recipient`: then the message fails).
 * - transient: nothing was sent; the same supplier may be retried later.
 * - unknown: it may have been sent (timeout or reset after the request left): reconcile with query(), never re-send blindly.
 */
export type SendOutcome =
  | {
      kind: 'accepted';
      supplierMessageId: string;
      latencyMs: number;
      /**
       * The vendor id names a whole batch call (Aliyun SendBatchSms has one
       * BizId): receipts are matched by that id and the number.
       */
      sharedId?: boolean;
    }
  | {
      kind: 'rejected';
      code: string;
      message: string;
      latencyMs: number;
      /**
       * The rejection is about the number or the recipient's own limits
       * (malformed number, per-number frequency limits, blocklists): final
       * for the message, since failing over would dodge the vendor's
       * anti-harassment limit.
       */
      recipient?: boolean;
    }
  | { kind: 'transient'; code: string; message: string; latencyMs: number }
  | { kind: 'unknown'; code: string; message: string; latencyMs: number };

export interface QueryRequest {
  messageId: string;
  mobile: string;
  supplierMessageId?: string;
  /** When we submitted (or tried to submit) the message. */
  sentAt: Date;
}

/**
 * - found: the vendor has the message. supplierMessageId is absent when the
 *   vendor's query answer does not carry it (Aliyun's SmsSendDetailDTO has no
 *   BizId) and we did not know it already.
 * - not_found: the vendor has no record. `conclusive` is false when the vendor's
 *   query only lists messages that already have a delivery report (Tencent's
 *   PullSmsSendStatusByPhoneNumber), so absence may just mean "no report yet".
 * - unknown: the query itself failed.
 */
export type QueryOutcome =
  | {
      kind: 'found';
      supplierMessageId?: string;
      status: 'pending' | 'delivered' | 'failed';
      errorCode?: string;
    }
  | { kind: 'not_found'; conclusive: boolean }
  | { kind: 'unknown'; message: string };

export interface SupplierAdapter {
  readonly account: SupplierAccount;
  send(req: SendRequest): Promise<SendOutcome>;
  query(req: QueryRequest): Promise<QueryOutcome>;
  /**
   * One vendor batch call for requests that share what batchKey says they
   * share (at most maxBatch, distinct numbers): an outcome per request, in order.
   */
  sendBatch?(reqs: readonly SendRequest[]): Promise<SendOutcome[]>;
  /** Requests with the same key may go in one sendBatch call. */
  batchKey?(req: SendRequest): string;
  readonly maxBatch?: number;
}

// Review of signatures and templates (the vendors' management APIs) ---------

/** What we apply for: our template in the vendor's syntax. */
export interface TemplateApplication {
  name: string;
  kind: 'verification' | 'notification' | 'marketing';
  /** In the vendor's syntax (Aliyun ${name}, Tencent {1}). */
  content: string;
  /** The signature the template is used with (Aliyun RelatedSignName). */
  signature: string;
  /** Why, for the reviewer. */
  remark: string;
}

/**
 * - submitted: the vendor took the application (its id, when it gives one).
 * - refused: the vendor will not review it as sent (the reason is final).
 * - failed: the call failed; try again later.
 */
export type SubmitOutcome =
  | { kind: 'submitted'; id?: string }
  | { kind: 'refused'; reason: string }
  | { kind: 'failed'; reason: string };

/** A review as the vendor reports it now; `content` is the vendor's template text. */
export type ReviewOutcome =
  | { kind: 'pending'; content?: string }
  | { kind: 'approved'; content?: string }
  | { kind: 'rejected'; reason: string }
  | { kind: 'failed'; reason: string };

export interface ReviewApi {
  submitSignature(name: string): Promise<SubmitOutcome>;
  signatureReview(name: string, vendorSignId?: string): Promise<ReviewOutcome>;
  submitTemplate(application: TemplateApplication): Promise<SubmitOutcome>;
  templateReview(vendorTemplateId: string): Promise<ReviewOutcome>;
}
