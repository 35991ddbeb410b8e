// Tencent Cloud SMS, API version 2021-01-11, JSON POST signed with TC3-HMAC-SHA256.
// SendSms:                        https://cloud.tencent.com/document/api/382/55981
// PullSmsSendStatusByPhoneNumber: https://tencentcloud.com/document/api/382/40518
// Error codes:                    https://cloud.tencent.com/document/api/382/52075
// Signed here rather than through tencentcloud-sdk-nodejs(-sms): the SDK takes
// the TC3 credential scope's service from the first label of the endpoint host
// ("127" for 127.0.0.1) and signs the host header without its port, so pointed
// at any address but <service>.tencentcloudapi.com on the default port its
// requests fail the gateway's signature check; its network errors also carry
// only a message, without the socket error code.
import { httpRequest, TransportError } from './httpTransport.ts';
import { isE164 } from './mobile.ts';
import { transportOutcome } from './outcomes.ts';
import { tc3Sign } from './tencentSignature.ts';
import type {
  QueryOutcome,
  QueryRequest,
  SendOutcome,
  SendRequest,
  SupplierAccount,
  SupplierAdapter,
} from './types.ts';

export const TENCENT_API_VERSION = '2021-01-11';
const SERVICE = 'sms';
const CONTENT_TYPE = 'application/json; charset=utf-8';

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

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

export class TencentAdapter implements SupplierAdapter {
  readonly account: SupplierAccount;
  private readonly now: () => Date;

  constructor(account: SupplierAccount, now: () => Date = () => new Date()) {
    this.account = account;
    this.now = now;
  }

  private async call(
    action: string,
    payload: Record<string, unknown>,
  ): Promise<{ status: number; response: Record<string, unknown> | undefined }> {
    const url = new URL(this.account.endpoint);
    const body = JSON.stringify(payload);
    const timestamp = Math.floor(this.now().getTime() / 1000);
    const { authorization } = tc3Sign({
      secretId: this.account.accessKeyId,
      secretKey: this.account.accessKeySecret,
      service: SERVICE,
      method: 'POST',
      canonicalUri: url.pathname || '/',
      canonicalQueryString: '',
      headers: { 'content-type': CONTENT_TYPE, host: url.host },
      payload: body,
      timestamp,
    });
    const res = await httpRequest({
      url,
      method: 'POST',
      headers: {
        authorization,
        'content-type': CONTENT_TYPE,
        host: url.host,
        'x-tc-action': action,
        'x-tc-version': TENCENT_API_VERSION,
        'x-tc-timestamp': String(timestamp),
        'x-tc-region': this.account.region ?? 'ap-guangzhou',
      },
      body,
      timeoutMs: this.account.timeoutMs,
    });
    let response: Record<string, unknown> | undefined;
    try {
      response = obj(obj(JSON.parse(res.body))?.Response);
    } catch {
      response = undefined;
    }
    return { status: res.status, response };
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
    if (!this.account.appId) {
      return {
        kind: 'rejected',
        code: 'LOCAL.NO_SDK_APP_ID',
        message: 'account has no appId',
        latencyMs: 0,
      };
    }
    const payload = {
      PhoneNumberSet: [req.mobile],
      SmsSdkAppId: this.account.appId,
      SignName: req.signature || this.account.signName || '',
      TemplateId: this.account.templateMap?.[req.templateCode] ?? req.templateCode,
      TemplateParamSet: Object.values(req.params),
      SessionContext: req.messageId,
      ...(req.extendCode ? { ExtendCode: req.extendCode } : {}),
    };
    try {
      const { status, response } = await this.call('SendSms', payload);
      if (!response) {
        const kind =
          status === 429 || status === 503
            ? 'transient'
            : status >= 400 && status < 500
              ? 'rejected'
              : 'unknown';
        return {
          kind,
          code: `HTTP_${status}`,
          message: 'no Response in answer',
          latencyMs: latency(),
        };
      }
      const error = obj(response.Error);
      if (error) {
        const code = str(error.Code) ?? 'Error';
        return {
          kind: classifyTencentRequestError(code),
          code,
          message: str(error.Message) ?? code,
          latencyMs: latency(),
        };
      }
      const set = Array.isArray(response.SendStatusSet) ? response.SendStatusSet : [];
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
      const code = str(mine.Code) ?? '';
      const serialNo = str(mine.SerialNo);
      if (code === 'Ok' && serialNo) {
        return { kind: 'accepted', supplierMessageId: serialNo, latencyMs: latency() };
      }
      if (code === 'Ok') {
        return {
          kind: 'unknown',
          code: 'NO_SERIAL_NO',
          message: 'Ok without SerialNo',
          latencyMs: latency(),
        };
      }
      return {
        kind: classifyTencentNumberError(code),
        code: code || 'UNKNOWN_CODE',
        message: str(mine.Message) ?? code,
        latencyMs: latency(),
      };
    } catch (err) {
      return transportOutcome(err, latency());
    }
  }

  /**
   * Reconcile through PullSmsSendStatusByPhoneNumber. It lists only sends
   * that already have a delivery report, so absence is not conclusive.
   */
  async query(req: QueryRequest): Promise<QueryOutcome> {
    if (!isE164(req.mobile)) return { kind: 'unknown', message: 'mobile is not E.164' };
    if (!this.account.appId) return { kind: 'unknown', message: 'account has no appId' };
    const nowSec = Math.floor(this.now().getTime() / 1000);
    const begin = Math.floor(req.sentAt.getTime() / 1000) - 60;
    if (nowSec - begin > 7 * 86400)
      return { kind: 'unknown', message: 'older than the 7 days the pull API keeps' };
    try {
      const { status, response } = await this.call('PullSmsSendStatusByPhoneNumber', {
        BeginTime: begin,
        EndTime: nowSec + 60,
        Offset: 0, // the doc: fixed to 0
        Limit: 100, // the documented maximum
        PhoneNumber: req.mobile,
        SmsSdkAppId: this.account.appId,
      });
      if (!response) return { kind: 'unknown', message: `pull failed: HTTP ${status}` };
      const error = obj(response.Error);
      if (error) return { kind: 'unknown', message: `pull failed: ${str(error.Code) ?? 'Error'}` };
      const set = Array.isArray(response.PullSmsSendStatusSet) ? response.PullSmsSendStatusSet : [];
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
    } catch (err) {
      if (err instanceof TransportError)
        return { kind: 'unknown', message: `pull failed: ${err.code}` };
      return { kind: 'unknown', message: 'pull failed' };
    }
  }
}
