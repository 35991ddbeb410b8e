// Tencent Cloud SMS, API version 2021-01-11, through Tencent Cloud's official
// SDK (tencentcloud-sdk-nodejs-sms), as Aliyun goes through its own.
// SendSms:                        https://cloud.tencent.com/document/api/382/55981
// PullSmsSendStatusByPhoneNumber: https://tencentcloud.com/document/api/382/40518
// Error codes:                    https://cloud.tencent.com/document/api/382/52075
//
// The SDK signs TC3-HMAC-SHA256 with the service taken from the first DNS label
// of its endpoint and with `host` as the endpoint's hostname without its port.
// So it always addresses sms.<domain>: an endpoint that is not an sms.* host
// (the simulator on 127.0.0.1:8090) is addressed as sms.tencentcloudapi.com on
// the endpoint's port, and an agent whose lookup resolves that name to the
// endpoint's own host makes the connection go there.
import dns from 'node:dns';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import https from 'node:https';
import { sms } from 'tencentcloud-sdk-nodejs-sms';
import { observeExchange, type ExchangeFailure } from './exchange.ts';
import { isE164 } from './mobile.ts';
import type {
  ReviewApi,
  ReviewOutcome,
  SubmitOutcome,
  TemplateApplication,
  QueryOutcome,
  QueryRequest,
  SendOutcome,
  SendRequest,
  SupplierAccount,
  SupplierAdapter,
} from './types.ts';

export const TENCENT_API_VERSION = '2021-01-11';
const TENCENT_HOST = 'sms.tencentcloudapi.com';

type Client = InstanceType<typeof sms.v20210111.Client>;

/**
 * Classify a top-level Response.Error code (the request as a whole failed).
 * Frequency limits of the API and internal errors mean nothing was sent;
 * InternalError.Timeout ("请求下发短信超时") may have been sent; an expired
 * signature timestamp is retried with a fresh one. Everything else (auth,
 * parameters, FailedOperation.InsufficientBalanceInSmsPackage, …) is definite.
 */
export function classifyTencentRequestError(code: string): 'rejected' | 'transient' | 'unknown' {
  if (code === 'InternalError.Timeout') return 'unknown';
  if (code.startsWith('RequestLimitExceeded')) return 'transient';
  if (code === 'InternalError' || code.startsWith('InternalError.')) return 'transient';
  if (code === 'ResourceUnavailable' || code === 'ServiceUnavailable') return 'transient';
  if (code === 'AuthFailure.SignatureExpire') return 'transient';
  return 'rejected';
}

/**
 * Classify a per-number SendStatus.Code other than "Ok": a rejection of that
 * number (LimitExceeded.PhoneNumberDailyLimit, InvalidParameterValue.IncorrectPhoneNumber,
 * FailedOperation.InsufficientBalanceInSmsPackage, …), except a delivery
 * timeout, which may have been sent.
 */
export function classifyTencentNumberError(code: string): 'rejected' | 'unknown' {
  return code === 'InternalError.Timeout' ? 'unknown' : 'rejected';
}

/**
 * Per-number rejections about the number or the recipient's limits (SendSms
 * error codes, https://cloud.tencent.com/document/api/382/59177 and
 * https://cloud.tencent.com/document/api/382/52075): the per-number frequency
 * limits LimitExceeded.PhoneNumberThirtySecondLimit / OneHourLimit / DailyLimit /
 * SameContentDailyLimit, LimitExceeded.DeliveryFrequencyLimit (the app's
 * frequency policy per number), InvalidParameterValue.IncorrectPhoneNumber and
 * FailedOperation.PhoneNumberInBlacklist (opted out / carrier do-not-disturb).
 * LimitExceeded.PhoneNumberCountLimit is about the request (over 200 numbers).
 */
export function isTencentRecipientRejection(code: string): boolean {
  if (code === 'LimitExceeded.PhoneNumberCountLimit') return false;
  return (
    code.startsWith('LimitExceeded.PhoneNumber') ||
    code === 'LimitExceeded.DeliveryFrequencyLimit' ||
    code === 'InvalidParameterValue.IncorrectPhoneNumber' ||
    code === 'FailedOperation.PhoneNumberInBlacklist'
  );
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** How the SDK is pointed at an account's endpoint. */
export interface TencentTarget {
  protocol: 'http://' | 'https://';
  /** What the SDK addresses and signs: host[:port][/base path]. */
  endpoint: string;
  /** Where the connection really goes, when that is not the addressed host. */
  connectTo: string | undefined;
}

export function tencentTarget(endpoint: string): TencentTarget {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error('tencent endpoint must be http(s)');
  if (url.search !== '' || url.username !== '')
    throw new Error('tencent endpoint must be a scheme, a host and at most a base path');
  const own = url.hostname.startsWith('sms.');
  const host = own ? url.hostname : TENCENT_HOST;
  const path = url.pathname.replace(/\/+$/, '');
  return {
    protocol: url.protocol === 'https:' ? 'https://' : 'http://',
    endpoint: `${host}${url.port ? `:${url.port}` : ''}${path}`,
    connectTo: own ? undefined : url.hostname.replace(/^\[|\]$/g, ''),
  };
}

/**
 * A fresh connection per call (a reused keep-alive socket that the server
 * already closed would turn a harmless failure into "unknown"), resolved to
 * connectTo when the endpoint is not the addressed host.
 */
function agentFor(target: TencentTarget): http.Agent {
  const options: http.AgentOptions = { keepAlive: false };
  const connectTo = target.connectTo;
  if (connectTo !== undefined) {
    const lookup: LookupFunction = (_hostname, opts, callback) => {
      dns.lookup(connectTo, opts, (err, address, family) => callback(err, address, family));
    };
    options.lookup = lookup;
  }
  return target.protocol === 'https://' ? new https.Agent(options) : new http.Agent(options);
}

export type TencentFailure = {
  kind: 'rejected' | 'transient' | 'unknown';
  code: string;
  message: string;
};

/**
 * Why an SDK call failed. The SDK throws TencentCloudSDKHttpException for a
 * Response.Error (with its code) and for a non-200 answer (with httpCode), and
 * wraps socket errors into one that carries only their message, whose text
 * names the URL: none of that text is kept but the vendor's own messages.
 */
export function tencentFailure(f: ExchangeFailure, timeoutMs: number): TencentFailure {
  const mayHaveLeft = f.sent ? 'unknown' : 'transient';
  if (f.timedOut)
    return { kind: mayHaveLeft, code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms` };
  const err = obj(f.error);
  const code = str(err?.code);
  if (code !== undefined && code !== '' && str(err?.requestId) !== undefined) {
    return {
      kind: classifyTencentRequestError(code),
      code,
      message: str(err?.message) ?? code,
    };
  }
  if (f.networkCode)
    return { kind: mayHaveLeft, code: f.networkCode, message: `network error ${f.networkCode}` };
  if (f.status !== undefined && f.status !== 200) {
    const status = f.status;
    const kind =
      status === 429 || status === 503
        ? 'transient'
        : status >= 400 && status < 500
          ? 'rejected'
          : 'unknown';
    return { kind, code: `HTTP_${status}`, message: 'no Response in answer' };
  }
  // A 200 whose body is not a Response, or an exchange cut short.
  if (f.status !== undefined)
    return { kind: 'unknown', code: 'HTTP_200', message: 'unreadable answer' };
  return f.sent
    ? { kind: 'unknown', code: 'NETWORK_ERROR', message: 'exchange failed' }
    : { kind: 'transient', code: 'CLIENT_ERROR', message: 'request could not be made' };
}

/** The SDK client of an account, pointed at its endpoint; shared with the management calls. */
export function tencentClient(account: SupplierAccount): Client {
  const target = tencentTarget(account.endpoint);
  return new sms.v20210111.Client({
    credential: { secretId: account.accessKeyId, secretKey: account.accessKeySecret },
    region: account.region ?? 'ap-guangzhou',
    profile: {
      signMethod: 'TC3-HMAC-SHA256',
      httpProfile: {
        protocol: target.protocol,
        endpoint: target.endpoint,
        reqMethod: 'POST',
        // seconds; twice the account's deadline so that observeExchange's
        // whole-call deadline is the one that ends a slow call
        reqTimeout: (2 * account.timeoutMs) / 1000,
        agent: agentFor(target),
        headers: { Connection: 'close' },
      },
    },
  });
}

export class TencentAdapter implements SupplierAdapter, ReviewApi {
  readonly account: SupplierAccount;
  private readonly now: () => Date;
  private readonly client: Client;

  /** `now` sets the pull window; the SDK signs with the system clock. */
  constructor(account: SupplierAccount, now: () => Date = () => new Date()) {
    this.account = account;
    this.now = now;
    this.client = tencentClient(account);
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
    if (!this.account.smsSdkAppId) {
      return {
        kind: 'rejected',
        code: 'LOCAL.NO_SDK_APP_ID',
        message: 'account has no appId',
        latencyMs: 0,
      };
    }
    const appId = this.account.smsSdkAppId;
    const result = await observeExchange(
      this.account.timeoutMs,
      () =>
        this.client.SendSms({
          PhoneNumberSet: [req.mobile],
          SmsSdkAppId: appId,
          SignName: req.signature || this.account.signName || '',
          TemplateId: req.templateCode,
          TemplateParamSet: tencentParamSet(req),
          SessionContext: req.messageId,
          ...(req.extendCode ? { ExtendCode: req.extendCode } : {}),
        }),
      { account: this.account.id, api: 'SendSms' },
    );
    if (!result.ok)
      return { ...tencentFailure(result, this.account.timeoutMs), latencyMs: latency() };
    const set: unknown[] = Array.isArray(result.value.SendStatusSet)
      ? result.value.SendStatusSet
      : [];
    const mine = set
      .map(obj)
      .find((s) => s !== undefined && (str(s.PhoneNumber) === req.mobile || set.length === 1));
    if (!mine) {
      return {
        kind: 'unknown',
        code: 'NO_SEND_STATUS',
        message: 'no SendStatus for the number',
        latencyMs: latency(),
      };
    }
    return tencentStatusOutcome(mine, latency());
  }

  /** SendSms takes up to 200 numbers with one template, signature and parameter set. */
  readonly maxBatch = 200;

  batchKey(req: SendRequest): string {
    return JSON.stringify([
      req.templateCode,
      req.signature,
      tencentParamSet(req),
      req.extendCode ?? '',
    ]);
  }

  /**
   * One SendSms with a PhoneNumberSet of every request's number (they share
   * batchKey); each number's SendStatus is its request's outcome.
   */
  async sendBatch(reqs: readonly SendRequest[]): Promise<SendOutcome[]> {
    const first = reqs[0];
    if (!first) return [];
    if (reqs.length === 1) return [await this.send(first)];
    const started = performance.now();
    const latency = (): number => Math.round(performance.now() - started);
    const local = reqs.map((r) =>
      isE164(r.mobile)
        ? undefined
        : ({
            kind: 'rejected',
            code: 'LOCAL.MOBILE_NOT_E164',
            message: 'mobile is not E.164',
            latencyMs: 0,
          } as const),
    );
    const sendable = reqs.filter((_, i) => local[i] === undefined);
    if (!this.account.smsSdkAppId || sendable.length === 0) {
      return Promise.all(reqs.map((r) => this.send(r)));
    }
    const appId = this.account.smsSdkAppId;
    const result = await observeExchange(
      this.account.timeoutMs,
      () =>
        this.client.SendSms({
          PhoneNumberSet: sendable.map((r) => r.mobile),
          SmsSdkAppId: appId,
          SignName: first.signature || this.account.signName || '',
          TemplateId: first.templateCode,
          TemplateParamSet: tencentParamSet(first),
          // one per call: receipts and pulls match each number by its SerialNo
          SessionContext: `batch:${first.messageId}`,
          ...(first.extendCode ? { ExtendCode: first.extendCode } : {}),
        }),
      { account: this.account.id, api: 'SendSms' },
    );
    if (!result.ok) {
      const failure = { ...tencentFailure(result, this.account.timeoutMs), latencyMs: latency() };
      return reqs.map((_, i) => local[i] ?? failure);
    }
    const set: unknown[] = Array.isArray(result.value.SendStatusSet)
      ? result.value.SendStatusSet
      : [];
    const byNumber = new Map<string, Record<string, unknown>>();
    for (const item of set) {
      const s = obj(item);
      const n = s ? str(s.PhoneNumber) : undefined;
      if (s && n) byNumber.set(n, s);
    }
    const ms = latency();
    return reqs.map((r, i): SendOutcome => {
      const l = local[i];
      if (l) return l;
      const mine = byNumber.get(r.mobile);
      if (!mine) {
        return {
          kind: 'unknown',
          code: 'NO_SEND_STATUS',
          message: 'no SendStatus for the number',
          latencyMs: ms,
        };
      }
      return tencentStatusOutcome(mine, ms);
    });
  }

  /**
   * Reconcile through PullSmsSendStatusByPhoneNumber. It lists only sends
   * that already have a delivery report, so absence is not conclusive.
   */
  async query(req: QueryRequest): Promise<QueryOutcome> {
    if (!isE164(req.mobile)) return { kind: 'unknown', message: 'mobile is not E.164' };
    if (!this.account.smsSdkAppId) return { kind: 'unknown', message: 'account has no appId' };
    const appId = this.account.smsSdkAppId;
    const nowSec = Math.floor(this.now().getTime() / 1000);
    const begin = Math.floor(req.sentAt.getTime() / 1000) - 60;
    if (nowSec - begin > 7 * 86400)
      return { kind: 'unknown', message: 'older than the 7 days the pull API keeps' };
    const result = await observeExchange(
      this.account.timeoutMs,
      () =>
        this.client.PullSmsSendStatusByPhoneNumber({
          BeginTime: begin,
          EndTime: nowSec + 60,
          Offset: 0, // the doc: fixed to 0
          Limit: 100, // the documented maximum
          PhoneNumber: req.mobile,
          SmsSdkAppId: appId,
        }),
      { account: this.account.id, api: 'PullSmsSendStatusByPhoneNumber' },
    );
    if (!result.ok) {
      const f = tencentFailure(result, this.account.timeoutMs);
      return { kind: 'unknown', message: `pull failed: ${f.code}` };
    }
    const set: unknown[] = Array.isArray(result.value.PullSmsSendStatusSet)
      ? result.value.PullSmsSendStatusSet
      : [];
    for (const item of set) {
      const s = obj(item);
      if (!s) continue;
      const serialNo = str(s.SerialNo);
      const matches =
        str(s.SessionContext) === req.messageId ||
        (req.supplierMessageId !== undefined && serialNo === req.supplierMessageId);
      if (!matches) continue;
      const report = str(s.ReportStatus);
      const st = report === 'SUCCESS' ? 'delivered' : report === 'FAIL' ? 'failed' : 'pending';
      const description = str(s.Description);
      return {
        kind: 'found',
        ...(serialNo ? { supplierMessageId: serialNo } : {}),
        status: st,
        ...(st === 'failed' && description ? { errorCode: description } : {}),
      };
    }
    return { kind: 'not_found', conclusive: false };
  }

  // Review of signatures and templates (API 2021-01-11) ---------------------
  // AddSmsSign:              https://cloud.tencent.com/document/product/382/55974
  // DescribeSmsSignList:     https://cloud.tencent.com/document/product/382/55969
  // AddSmsTemplate:          https://cloud.tencent.com/document/product/382/55981
  // DescribeSmsTemplateList: https://cloud.tencent.com/document/product/382/55969
  // StatusCode: 0 approved, 1 in review, -1 rejected (ReviewReply says why).

  private async manage(
    call: () => Promise<unknown>,
  ): Promise<
    | { ok: true; response: Record<string, unknown> }
    | { ok: false; kind: 'refused' | 'failed'; reason: string }
  > {
    // the SDK throws for Response.Error (with its code) and for the network
    const result = await observeExchange(this.account.timeoutMs, call);
    if (!result.ok) {
      const f = tencentFailure(result, this.account.timeoutMs);
      return {
        ok: false,
        kind: f.kind === 'rejected' ? 'refused' : 'failed',
        reason: `${f.code}: ${f.message}`,
      };
    }
    return { ok: true, response: obj(result.value) ?? {} };
  }

  async submitSignature(name: string): Promise<SubmitOutcome> {
    const r = await this.manage(() =>
      this.client.AddSmsSign({
        SignName: name,
        // 0 company, 1 app, 2 website, 3 official account, 4 trademark, 5 government
        SignType: 0,
        // 0 the three-in-one business licence
        DocumentType: 0,
        International: 0,
        // 0 for our own business
        SignPurpose: 0,
        ProofImage: '',
        Remark: 'registered through streaming',
      }),
    );
    if (!r.ok) return { kind: r.kind, reason: r.reason };
    const id = str(obj(r.response.AddSignStatus)?.SignId);
    if (!id) return { kind: 'failed', reason: 'AddSmsSign answered without SignId' };
    return { kind: 'submitted', id };
  }

  async signatureReview(_name: string, vendorSignId?: string): Promise<ReviewOutcome> {
    if (vendorSignId === undefined || !/^\d+$/.test(vendorSignId)) {
      return { kind: 'rejected', reason: 'no SignId was recorded for this signature' };
    }
    const r = await this.manage(() =>
      this.client.DescribeSmsSignList({ SignIdSet: [Number(vendorSignId)], International: 0 }),
    );
    if (!r.ok) return { kind: r.kind === 'refused' ? 'rejected' : 'failed', reason: r.reason };
    const set = r.response.DescribeSignListStatusSet;
    const row = Array.isArray(set) ? obj(set[0]) : undefined;
    if (!row) return { kind: 'rejected', reason: `Tencent has no signature ${vendorSignId}` };
    return tencentReview(Number(row.StatusCode), str(row.ReviewReply));
  }

  async submitTemplate(t: TemplateApplication): Promise<SubmitOutcome> {
    const r = await this.manage(() =>
      this.client.AddSmsTemplate({
        TemplateName: t.name,
        TemplateContent: t.content,
        // 0 ordinary (verification codes and notifications), 1 marketing
        SmsType: t.kind === 'marketing' ? 1 : 0,
        International: 0,
        Remark: t.remark,
      }),
    );
    if (!r.ok) return { kind: r.kind, reason: r.reason };
    const id = str(obj(r.response.AddTemplateStatus)?.TemplateId);
    if (!id) return { kind: 'failed', reason: 'AddSmsTemplate answered without TemplateId' };
    return { kind: 'submitted', id };
  }

  async templateReview(vendorTemplateId: string): Promise<ReviewOutcome> {
    if (!/^\d+$/.test(vendorTemplateId)) {
      return { kind: 'rejected', reason: `${vendorTemplateId} is not a Tencent template id` };
    }
    const r = await this.manage(() =>
      this.client.DescribeSmsTemplateList({
        TemplateIdSet: [Number(vendorTemplateId)],
        International: 0,
      }),
    );
    if (!r.ok) return { kind: r.kind === 'refused' ? 'rejected' : 'failed', reason: r.reason };
    const set = r.response.DescribeTemplateStatusSet;
    const row = Array.isArray(set) ? obj(set[0]) : undefined;
    if (!row) return { kind: 'rejected', reason: `Tencent has no template ${vendorTemplateId}` };
    const review = tencentReview(Number(row.StatusCode), str(row.ReviewReply));
    const content = str(row.TemplateContent);
    return (review.kind === 'approved' || review.kind === 'pending') && content !== undefined
      ? { ...review, content }
      : review;
  }
}

/** TemplateParamSet in the vendor template's order ({1}, {2}, …), whatever the caller's key order. */
/** One number's SendStatus as the outcome of its request. */
function tencentStatusOutcome(mine: Record<string, unknown>, latencyMs: number): SendOutcome {
  const code = str(mine.Code) ?? '';
  const serialNo = str(mine.SerialNo);
  if (code === 'Ok' && serialNo)
    return { kind: 'accepted', supplierMessageId: serialNo, latencyMs };
  if (code === 'Ok') {
    return { kind: 'unknown', code: 'NO_SERIAL_NO', message: 'Ok without SerialNo', latencyMs };
  }
  const kind = classifyTencentNumberError(code);
  return {
    kind,
    code: code || 'UNKNOWN_CODE',
    message: str(mine.Message) ?? code,
    latencyMs,
    ...(kind === 'rejected' && isTencentRecipientRejection(code) ? { recipient: true } : {}),
  };
}

export function tencentParamSet(req: Pick<SendRequest, 'params' | 'paramOrder'>): string[] {
  if (req.paramOrder === undefined) return Object.values(req.params);
  return req.paramOrder.map((name) => req.params[name] ?? '');
}

/** StatusCode of DescribeSmsSignList / DescribeSmsTemplateList as a review. */
export function tencentReview(status: number, reply: string | undefined): ReviewOutcome {
  if (status === 0) return { kind: 'approved' };
  if (status === -1) return { kind: 'rejected', reason: reply || 'rejected by Tencent' };
  return { kind: 'pending' };
}
