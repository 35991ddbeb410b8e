// Aliyun SMS (dysmsapi, API version 2017-05-25) through Alibaba Cloud's
// official SDK, RPC style: HMAC-SHA1, SignatureVersion 1.0 (the SDK's "v2"
// signature algorithm).
// SendSms:          https://help.aliyun.com/document_detail/55284.html
// SendBatchSms:     https://help.aliyun.com/document_detail/102364.htm
// QuerySendDetails: https://help.aliyun.com/document_detail/419277.html
// API error codes:  https://help.aliyun.com/document_detail/101346.html
import dysmsapi, {
  CreateSmsSignRequest,
  CreateSmsTemplateRequest,
  GetSmsSignRequest,
  GetSmsTemplateRequest,
  QuerySendDetailsRequest,
  SendBatchSmsRequest,
  SendSmsRequest,
} from '@alicloud/dysmsapi20170525';
import { $OpenApiUtil, AlibabaCloudError } from '@alicloud/openapi-core';
import { ExtendsParameters, RetryOptions, RuntimeOptions } from '@darabonba/typescript';
import { networkErrorCode, observeExchange, type ExchangeFailure } from './exchange.ts';
import { isE164, toAliyunNumber } from './mobile.ts';
import type {
  QueryOutcome,
  QueryRequest,
  ReviewApi,
  ReviewOutcome,
  SubmitOutcome,
  TemplateApplication,
  SendOutcome,
  SendRequest,
  SupplierAccount,
  SupplierAdapter,
} from './types.ts';

type Client = InstanceType<typeof dysmsapi.default>;

/**
 * Codes of the API layer that mean the request was not processed and may be
 * retried as is: flow control of the API itself, system errors the doc says to
 * retry, an expired timestamp or a reused nonce (a retry gets fresh ones).
 */
const TRANSIENT_CODES = new Set([
  'Throttling',
  'Throttling.User',
  'Throttling.Api',
  'Throttling.System',
  'ServiceUnavailable',
  'InternalError',
  'isp.SYSTEM_ERROR',
  'isp.GATEWAY_ERROR',
  'SignatureNonceUsed',
  'InvalidTimeStamp.Expired',
]);

/**
 * Classify an Aliyun answer that is not {Code: "OK"}. Any isv.* code
 * (MOBILE_NUMBER_ILLEGAL, SMS_TEMPLATE_ILLEGAL, SMS_SIGNATURE_ILLEGAL,
 * AMOUNT_NOT_ENOUGH, ACCOUNT_NOT_EXISTS/ABNORMAL, BUSINESS_LIMIT_CONTROL, …)
 * and auth errors are definite rejections.
 */
export function classifyAliyunError(
  httpStatus: number,
  code: string | undefined,
): 'rejected' | 'transient' | 'unknown' {
  if (code !== undefined && code !== '') {
    if (TRANSIENT_CODES.has(code) || code.startsWith('Throttling.')) return 'transient';
    return 'rejected';
  }
  if (httpStatus === 429 || httpStatus === 503) return 'transient';
  if (httpStatus >= 400 && httpStatus < 500) return 'rejected';
  // A 5xx or garbage without a code: the request reached something that may have acted on it.
  return 'unknown';
}

/**
 * Rejections about the number or the recipient's limits (API error codes,
 * https://help.aliyun.com/document_detail/101346.html): isv.MOBILE_NUMBER_ILLEGAL
 * (malformed number), isv.BUSINESS_LIMIT_CONTROL (the per-number flow control:
 * verification codes 1/min, 5/h, 10/day per signature and number; notifications
 * per template and number), isv.DAY_LIMIT_CONTROL and isv.MONTH_LIMIT_CONTROL
 * (per-number day and month caps), isv.BLACK_MOBILE_CONTROL (blocklisted number).
 */
const RECIPIENT_CODES = new Set([
  'isv.MOBILE_NUMBER_ILLEGAL',
  'isv.BUSINESS_LIMIT_CONTROL',
  'isv.DAY_LIMIT_CONTROL',
  'isv.MONTH_LIMIT_CONTROL',
  'isv.BLACK_MOBILE_CONTROL',
]);

export function isAliyunRecipientRejection(code: string): boolean {
  return RECIPIENT_CODES.has(code);
}

/** yyyyMMdd of a moment in China time (UTC+8), which is how SendDate is keyed. */
export function chinaDate(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 10).replaceAll('-', '');
}

/** ISO 8601 UTC without milliseconds, as the common parameter Timestamp expects. */
function aliyunTimestamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/**
 * The RPC client only talks to the root of a host (it always requests "/"),
 * so the endpoint is a scheme and a host[:port]; a path would be ignored.
 */
export function aliyunEndpoint(endpoint: string): { protocol: 'http' | 'https'; host: string } {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error('aliyun endpoint must be http(s)');
  if (url.pathname !== '/' || url.search !== '' || url.username !== '')
    throw new Error(
      'aliyun endpoint must be a scheme and host only, e.g. https://dysmsapi.aliyuncs.com/',
    );
  return { protocol: url.protocol === 'https:' ? 'https' : 'http', host: url.host };
}

export type AliyunFailure = {
  kind: 'rejected' | 'transient' | 'unknown';
  code: string;
  message: string;
  recipient?: boolean;
};

/**
 * Why an SDK call failed. The SDK throws for answers with HTTP status >= 400
 * (ClientError, ServerError, ThrottlingError, carrying the parsed body) and
 * passes socket errors through; its messages repeat the request URL, whose
 * query holds AccessKeyId and Signature, so none of its text is kept.
 */
export function aliyunFailure(f: ExchangeFailure, timeoutMs: number): AliyunFailure {
  const mayHaveLeft = f.sent ? 'unknown' : 'transient';
  const timeout =
    f.timedOut || (f.error instanceof Error && f.error.name === 'RequestTimeoutError');
  if (timeout)
    return { kind: mayHaveLeft, code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms` };
  if (f.error instanceof AlibabaCloudError && typeof f.error.statusCode === 'number') {
    const body: unknown = f.error.data;
    const fields =
      body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
    const code = str(fields.Code);
    const status = f.error.statusCode;
    const kind = classifyAliyunError(status, code);
    return {
      kind,
      code: code || `HTTP_${status}`,
      message: str(fields.Message) ?? `HTTP ${status}`,
      ...(kind === 'rejected' && code && isAliyunRecipientRejection(code)
        ? { recipient: true }
        : {}),
    };
  }
  const network = networkErrorCode(f.error);
  if (network) return { kind: mayHaveLeft, code: network, message: `network error ${network}` };
  // An answer came whose body the SDK could not read (not JSON, cut short).
  if (f.status !== undefined)
    return {
      kind: classifyAliyunError(f.status, undefined),
      code: `HTTP_${f.status}`,
      message: 'unreadable answer',
    };
  return f.sent
    ? { kind: 'unknown', code: 'NETWORK_ERROR', message: 'exchange failed' }
    : { kind: 'transient', code: 'CLIENT_ERROR', message: 'request could not be made' };
}

export class AliyunAdapter implements SupplierAdapter, ReviewApi {
  readonly account: SupplierAccount;
  private readonly now: () => Date;
  private readonly client: Client;

  constructor(account: SupplierAccount, now: () => Date = () => new Date()) {
    this.account = account;
    this.now = now;
    const { protocol, host } = aliyunEndpoint(account.endpoint);
    this.client = new dysmsapi.default(
      new $OpenApiUtil.Config({
        accessKeyId: account.accessKeyId,
        accessKeySecret: account.accessKeySecret,
        endpoint: host,
        protocol,
        regionId: account.region ?? 'cn-hangzhou',
        // RPC style, HMAC-SHA1: the signature the API documents for dysmsapi.
        signatureAlgorithm: 'v2',
        connectTimeout: account.timeoutMs,
        readTimeout: account.timeoutMs,
        // A retry could send the message twice.
        retryOptions: new RetryOptions({ retryable: false }),
      }),
    );
  }

  private runtime(): RuntimeOptions {
    return new RuntimeOptions({
      // read by older SDK cores; this one reads Config.retryOptions
      autoretry: false,
      maxAttempts: 1,
      connectTimeout: this.account.timeoutMs,
      readTimeout: this.account.timeoutMs,
      extendsParameters: new ExtendsParameters({
        queries: {
          // a common parameter the SDK only uses to pick an endpoint
          RegionId: this.account.region ?? 'cn-hangzhou',
          // our clock, so a skewed one is testable
          Timestamp: aliyunTimestamp(this.now()),
        },
        // A fresh connection per call: a reused keep-alive socket that the
        // server already closed would turn a harmless failure into "unknown".
        headers: { connection: 'close' },
      }),
    });
  }

  async send(req: SendRequest): Promise<SendOutcome> {
    const started = performance.now();
    const latency = (): number => Math.round(performance.now() - started);
    if (!isE164(req.mobile)) {
      return {
        kind: 'rejected',
        code: 'LOCAL.MOBILE_NOT_E164',
        message: 'mobile is not E.164',
        latencyMs: 0,
      };
    }
    const request = new SendSmsRequest({
      phoneNumbers: toAliyunNumber(req.mobile),
      signName: req.signature || this.account.signName || '',
      templateCode: req.templateCode,
      outId: req.messageId,
      ...(Object.keys(req.params).length > 0 ? { templateParam: JSON.stringify(req.params) } : {}),
      ...(req.extendCode ? { smsUpExtendCode: req.extendCode } : {}),
    });
    const result = await observeExchange(
      this.account.timeoutMs,
      () => this.client.sendSmsWithOptions(request, this.runtime()),
      { account: this.account.id, api: 'SendSms' },
    );
    if (!result.ok)
      return { ...aliyunFailure(result, this.account.timeoutMs), latencyMs: latency() };
    const body = result.value.body;
    const code = str(body?.code);
    const bizId = str(body?.bizId);
    if (code === 'OK' && bizId) {
      return { kind: 'accepted', supplierMessageId: bizId, latencyMs: latency() };
    }
    if (code === 'OK') {
      return {
        kind: 'unknown',
        code: 'NO_BIZ_ID',
        message: 'OK without BizId',
        latencyMs: latency(),
      };
    }
    const status = result.value.statusCode ?? 200;
    const kind = classifyAliyunError(status, code);
    return {
      kind,
      code: code || `HTTP_${status}`,
      message: str(body?.message) ?? `HTTP ${status}`,
      latencyMs: latency(),
      ...(kind === 'rejected' && code && isAliyunRecipientRejection(code)
        ? { recipient: true }
        : {}),
    };
  }

  /** SendBatchSms takes up to 100 numbers of one template (signature and params per number). */
  readonly maxBatch = 100;

  batchKey(req: SendRequest): string {
    return req.templateCode;
  }

  /**
   * One SendBatchSms for requests of one template. The vendor answers for the
   * whole call with one BizId (each request's vendor id, receipts told apart by
   * number). A definite refusal of the call says nothing about which number it
   * was about: nothing was sent, so each request then goes alone through SendSms.
   */
  async sendBatch(reqs: readonly SendRequest[]): Promise<SendOutcome[]> {
    const first = reqs[0];
    if (!first) return [];
    if (reqs.length === 1 || !reqs.every((r) => isE164(r.mobile))) {
      return Promise.all(reqs.map((r) => this.send(r)));
    }
    const started = performance.now();
    const latency = (): number => Math.round(performance.now() - started);
    const withParams = reqs.some((r) => Object.keys(r.params).length > 0);
    const withCodes = reqs.some((r) => r.extendCode);
    const request = new SendBatchSmsRequest({
      phoneNumberJson: JSON.stringify(reqs.map((r) => toAliyunNumber(r.mobile))),
      signNameJson: JSON.stringify(reqs.map((r) => r.signature || this.account.signName || '')),
      templateCode: this.batchKey(first),
      // not a message id: a receipt names the whole call, its number names the message
      outId: `batch:${first.messageId}`,
      ...(withParams ? { templateParamJson: JSON.stringify(reqs.map((r) => r.params)) } : {}),
      ...(withCodes
        ? { smsUpExtendCodeJson: JSON.stringify(reqs.map((r) => r.extendCode ?? '')) }
        : {}),
    });
    const result = await observeExchange(
      this.account.timeoutMs,
      () => this.client.sendBatchSmsWithOptions(request, this.runtime()),
      { account: this.account.id, api: 'SendBatchSms' },
    );
    if (!result.ok) {
      const failure = { ...aliyunFailure(result, this.account.timeoutMs), latencyMs: latency() };
      if (failure.kind === 'rejected') return Promise.all(reqs.map((r) => this.send(r)));
      return reqs.map(() => failure);
    }
    const body = result.value.body;
    const code = str(body?.code);
    const bizId = str(body?.bizId);
    const ms = latency();
    if (code === 'OK' && bizId) {
      return reqs.map(() => ({
        kind: 'accepted',
        supplierMessageId: bizId,
        latencyMs: ms,
        sharedId: true,
      }));
    }
    if (code === 'OK') {
      return reqs.map(() => ({
        kind: 'unknown',
        code: 'NO_BIZ_ID',
        message: 'OK without BizId',
        latencyMs: ms,
      }));
    }
    const status = result.value.statusCode ?? 200;
    const kind = classifyAliyunError(status, code);
    if (kind === 'rejected') return Promise.all(reqs.map((r) => this.send(r)));
    return reqs.map(() => ({
      kind,
      code: code || `HTTP_${status}`,
      message: str(body?.message) ?? `HTTP ${status}`,
      latencyMs: ms,
    }));
  }

  async query(req: QueryRequest): Promise<QueryOutcome> {
    if (!isE164(req.mobile)) return { kind: 'unknown', message: 'mobile is not E.164' };
    // Records are keyed by the China-time send date; a send close to midnight
    // may be recorded on the neighbouring day.
    const dates = [chinaDate(req.sentAt)];
    for (const shift of [-10 * 60_000, 10 * 60_000]) {
      const d = chinaDate(new Date(req.sentAt.getTime() + shift));
      if (!dates.includes(d)) dates.push(d);
    }
    for (const sendDate of dates) {
      const found = await this.queryDay(req, sendDate);
      if (found.kind !== 'not_found') return found;
    }
    return { kind: 'not_found', conclusive: true };
  }

  private async queryDay(req: QueryRequest, sendDate: string): Promise<QueryOutcome> {
    const pageSize = 50; // the documented maximum
    for (let page = 1; page <= 20; page++) {
      const request = new QuerySendDetailsRequest({
        phoneNumber: toAliyunNumber(req.mobile),
        sendDate,
        pageSize,
        currentPage: page,
        ...(req.supplierMessageId ? { bizId: req.supplierMessageId } : {}),
      });
      const result = await observeExchange(
        this.account.timeoutMs,
        () => this.client.querySendDetailsWithOptions(request, this.runtime()),
        { account: this.account.id, api: 'QuerySendDetails' },
      );
      if (!result.ok) {
        const f = aliyunFailure(result, this.account.timeoutMs);
        return { kind: 'unknown', message: `query failed: ${f.code}` };
      }
      const body = result.value.body;
      const code = str(body?.code);
      if (code !== 'OK') {
        return {
          kind: 'unknown',
          message: `QuerySendDetails ${code ?? `HTTP ${result.value.statusCode ?? 200}`}`,
        };
      }
      const list = body?.smsSendDetailDTOs?.smsSendDetailDTO ?? [];
      for (const row of list) {
        // Our OutId identifies the send; a row without OutId can only be
        // trusted when the vendor narrowed the answer by our BizId.
        const outId = str(row.outId);
        const matches = outId === req.messageId || (req.supplierMessageId !== undefined && !outId);
        if (!matches) continue;
        const sendStatus = Number(row.sendStatus);
        const status = sendStatus === 3 ? 'delivered' : sendStatus === 2 ? 'failed' : 'pending';
        const errCode = str(row.errCode);
        return {
          kind: 'found',
          ...(req.supplierMessageId ? { supplierMessageId: req.supplierMessageId } : {}),
          status,
          ...(status === 'failed' && errCode ? { errorCode: errCode } : {}),
        };
      }
      const total = Number(body?.totalCount ?? list.length);
      if (list.length < pageSize || page * pageSize >= total) break;
    }
    return { kind: 'not_found', conclusive: true };
  }

  // Review of signatures and templates -------------------------------------
  // CreateSmsSign:     https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-createsmssign
  // GetSmsSign:        https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-getsmssign
  // CreateSmsTemplate: https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-createsmstemplate
  // GetSmsTemplate:    https://help.aliyun.com/en/sms/developer-reference/api-dysmsapi-2017-05-25-getsmstemplate
  // Status (SignStatus / TemplateStatus): 0 in review, 1 approved, 2 rejected
  // (the reason in AuditInfo.RejectInfo), 10 review cancelled.

  private async manage<T extends { code?: string; message?: string }>(
    call: () => Promise<{ body?: T }>,
  ): Promise<{ ok: true; body: T } | { ok: false; outcome: ManageFailure }> {
    const result = await observeExchange(this.account.timeoutMs, call);
    if (!result.ok) {
      const f = aliyunFailure(result, this.account.timeoutMs);
      return {
        ok: false,
        outcome:
          f.kind === 'rejected'
            ? { kind: 'refused', reason: `${f.code}: ${f.message}` }
            : { kind: 'failed', reason: f.code },
      };
    }
    const body = result.value.body ?? ({} as T);
    const code = str(body.code);
    if (code === 'OK') return { ok: true, body };
    const kind = classifyAliyunError(200, code);
    const reason = `${code ?? 'NO_CODE'}: ${str(body.message) ?? ''}`;
    return {
      ok: false,
      outcome: kind === 'rejected' ? { kind: 'refused', reason } : { kind: 'failed', reason },
    };
  }

  async submitSignature(name: string): Promise<SubmitOutcome> {
    const r = await this.manage(() =>
      this.client.createSmsSignWithOptions(
        new CreateSmsSignRequest({
          signName: name,
          // 0: the enterprise's full or short name; 1: a website/app (SignSource)
          signSource: 0,
          signType: 0,
          remark: 'registered through streaming',
        }),
        this.runtime(),
      ),
    );
    if (!r.ok) return r.outcome;
    return { kind: 'submitted', ...(r.body.orderId ? { id: str(r.body.orderId)! } : {}) };
  }

  async signatureReview(name: string): Promise<ReviewOutcome> {
    const r = await this.manage(() =>
      this.client.getSmsSignWithOptions(new GetSmsSignRequest({ signName: name }), this.runtime()),
    );
    if (!r.ok) {
      return r.outcome.kind === 'refused'
        ? { kind: 'rejected', reason: r.outcome.reason }
        : { kind: 'failed', reason: r.outcome.reason };
    }
    return aliyunReview(Number(r.body.signStatus), r.body.auditInfo?.rejectInfo);
  }

  async submitTemplate(t: TemplateApplication): Promise<SubmitOutcome> {
    const r = await this.manage(() =>
      this.client.createSmsTemplateWithOptions(
        new CreateSmsTemplateRequest({
          templateName: t.name,
          templateContent: t.content,
          // 0 verification code, 1 notification, 2 marketing
          templateType: t.kind === 'verification' ? 0 : t.kind === 'notification' ? 1 : 2,
          relatedSignName: t.signature,
          remark: t.remark,
        }),
        this.runtime(),
      ),
    );
    if (!r.ok) return r.outcome;
    const code = str(r.body.templateCode);
    if (!code) return { kind: 'failed', reason: 'OK without TemplateCode' };
    return { kind: 'submitted', id: code };
  }

  async templateReview(vendorTemplateId: string): Promise<ReviewOutcome> {
    const r = await this.manage(() =>
      this.client.getSmsTemplateWithOptions(
        new GetSmsTemplateRequest({ templateCode: vendorTemplateId }),
        this.runtime(),
      ),
    );
    if (!r.ok) {
      return r.outcome.kind === 'refused'
        ? { kind: 'rejected', reason: r.outcome.reason }
        : { kind: 'failed', reason: r.outcome.reason };
    }
    const review = aliyunReview(Number(r.body.templateStatus), r.body.auditInfo?.rejectInfo);
    const content = str(r.body.templateContent);
    return review.kind === 'approved' || review.kind === 'pending'
      ? { ...review, ...(content !== undefined ? { content } : {}) }
      : review;
  }
}

type ManageFailure = { kind: 'refused' | 'failed'; reason: string };

/** SignStatus / TemplateStatus of GetSmsSign / GetSmsTemplate as a review. */
export function aliyunReview(status: number, rejectInfo: string | undefined): ReviewOutcome {
  if (status === 1) return { kind: 'approved' };
  if (status === 2) return { kind: 'rejected', reason: rejectInfo || 'rejected by Aliyun' };
  if (status === 10) return { kind: 'rejected', reason: 'the review was cancelled' };
  return { kind: 'pending' };
}
