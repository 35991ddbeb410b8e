// Aliyun SMS (dysmsapi, API version 2017-05-25), RPC style, signed with HMAC-SHA1.
// SendSms:          https://help.aliyun.com/document_detail/55284.html
// QuerySendDetails: https://help.aliyun.com/document_detail/419277.html
// API error codes:  https://help.aliyun.com/document_detail/101346.html
import { randomUUID } from 'node:crypto';
import { aliyunTimestamp, signedQuery } from './aliyunSignature.ts';
import { httpRequest, TransportError } from './httpTransport.ts';
import { isE164, toAliyunNumber } from './mobile.ts';
import type {
  QueryOutcome,
  QueryRequest,
  SendOutcome,
  SendRequest,
  SupplierAccount,
  SupplierAdapter,
} from './types.ts';
import { transportOutcome } from './outcomes.ts';

export const ALIYUN_API_VERSION = '2017-05-25';

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

interface AliyunAnswer {
  Code?: unknown;
  Message?: unknown;
  BizId?: unknown;
  RequestId?: unknown;
  TotalCount?: unknown;
  SmsSendDetailDTOs?: { SmsSendDetailDTO?: unknown };
}

function parseAnswer(body: string): AliyunAnswer | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as AliyunAnswer)
      : undefined;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** yyyyMMdd of a moment in China time (UTC+8), which is how SendDate is keyed. */
export function chinaDate(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 10).replaceAll('-', '');
}

export class AliyunAdapter implements SupplierAdapter {
  readonly account: SupplierAccount;
  private readonly now: () => Date;

  constructor(account: SupplierAccount, now: () => Date = () => new Date()) {
    this.account = account;
    this.now = now;
  }

  private async call(
    action: string,
    params: Record<string, string>,
  ): Promise<{ status: number; answer: AliyunAnswer | undefined }> {
    const all: Record<string, string> = {
      AccessKeyId: this.account.accessKeyId,
      Action: action,
      Format: 'JSON',
      RegionId: this.account.region ?? 'cn-hangzhou',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: randomUUID(),
      SignatureVersion: '1.0',
      Timestamp: aliyunTimestamp(this.now()),
      Version: ALIYUN_API_VERSION,
      ...params,
    };
    const res = await httpRequest({
      url: new URL(this.account.endpoint),
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        accept: 'application/json',
      },
      body: signedQuery('POST', all, this.account.accessKeySecret),
      timeoutMs: this.account.timeoutMs,
    });
    return { status: res.status, answer: parseAnswer(res.body) };
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
    const signName = req.signature || this.account.signName || '';
    const params: Record<string, string> = {
      PhoneNumbers: toAliyunNumber(req.mobile),
      SignName: signName,
      TemplateCode: this.account.templateMap?.[req.templateCode] ?? req.templateCode,
      OutId: req.messageId,
    };
    if (Object.keys(req.params).length > 0) params.TemplateParam = JSON.stringify(req.params);
    if (req.extendCode) params.SmsUpExtendCode = req.extendCode;
    try {
      const { status, answer } = await this.call('SendSms', params);
      const code = str(answer?.Code);
      const message = str(answer?.Message) ?? `HTTP ${status}`;
      const bizId = str(answer?.BizId);
      if (status >= 200 && status < 300 && code === 'OK' && bizId) {
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
      const kind = classifyAliyunError(status, code);
      return { kind, code: code ?? `HTTP_${status}`, message, latencyMs: latency() };
    } catch (err) {
      return transportOutcome(err, latency());
    }
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
    try {
      for (const sendDate of dates) {
        const found = await this.queryDay(req, sendDate);
        if (found.kind !== 'not_found') return found;
      }
      return { kind: 'not_found', conclusive: true };
    } catch (err) {
      if (err instanceof TransportError)
        return { kind: 'unknown', message: `query failed: ${err.code}` };
      return { kind: 'unknown', message: 'query failed' };
    }
  }

  private async queryDay(req: QueryRequest, sendDate: string): Promise<QueryOutcome> {
    const pageSize = 50; // the documented maximum
    for (let page = 1; page <= 20; page++) {
      const params: Record<string, string> = {
        PhoneNumber: toAliyunNumber(req.mobile),
        SendDate: sendDate,
        PageSize: String(pageSize),
        CurrentPage: String(page),
      };
      if (req.supplierMessageId) params.BizId = req.supplierMessageId;
      const { status, answer } = await this.call('QuerySendDetails', params);
      const code = str(answer?.Code);
      if (code !== 'OK') {
        return { kind: 'unknown', message: `QuerySendDetails ${code ?? `HTTP ${status}`}` };
      }
      const rows = answer?.SmsSendDetailDTOs?.SmsSendDetailDTO;
      const list: unknown[] = Array.isArray(rows) ? rows : [];
      for (const row of list) {
        if (row === null || typeof row !== 'object') continue;
        const r = row as Record<string, unknown>;
        // Our OutId identifies the send; a row without OutId can only be
        // trusted when the vendor narrowed the answer by our BizId.
        const outId = str(r.OutId);
        const matches = outId === req.messageId || (req.supplierMessageId !== undefined && !outId);
        if (!matches) continue;
        const sendStatus = Number(r.SendStatus);
        const status = sendStatus === 3 ? 'delivered' : sendStatus === 2 ? 'failed' : 'pending';
        const errCode = str(r.ErrCode);
        return {
          kind: 'found',
          ...(req.supplierMessageId ? { supplierMessageId: req.supplierMessageId } : {}),
          status,
          ...(status === 'failed' && errCode ? { errorCode: errCode } : {}),
        };
      }
      const total = Number(answer?.TotalCount ?? list.length);
      if (list.length < pageSize || page * pageSize >= total) break;
    }
    return { kind: 'not_found', conclusive: true };
  }
}
