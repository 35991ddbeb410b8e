// Tencent Cloud SMS 2021-01-11 endpoint: TC3-HMAC-SHA256 check as the API 3.0
// gateway does it, then SendSms, PullSmsSendStatusByPhoneNumber and PullSmsSendStatus.
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { checkSend, statusOf } from './catalog.ts';
import type { SimContext } from './context.ts';
import { visibleToQueries } from './statusModes.ts';
import { parseAuthorization, tc3SignatureMatches } from './tencentAuth.ts';
import {
  normalizeMobile,
  segmentsOf,
  splitMobile,
  type SimAccount,
  type SimMessage,
} from './state.ts';

const MAX_SKEW_S = 300;

function reply(res: Response, body: Record<string, unknown>): void {
  res.status(200).json({ Response: { ...body, RequestId: randomUUID() } });
}

function error(res: Response, code: string, message: string): void {
  reply(res, { Error: { Code: code, Message: message } });
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isoCode(e164: string): string {
  const cc = splitMobile(e164).nationCode;
  return (
    (
      {
        '86': 'CN',
        '852': 'HK',
        '853': 'MO',
        '886': 'TW',
        '1': 'US',
        '44': 'GB',
        '65': 'SG',
      } as Record<string, string>
    )[cc] ?? 'XX'
  );
}

/**
 * The host as the gateway's signature covers it: without a port. The real
 * gateway listens on 443, where clients send Host without one, and the
 * official SDK signs the endpoint's hostname even when it names a port.
 */
export function signedHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host.trim());
  return m ? m[1] : host;
}

/** The account whose TC3 signature the request carries; when refused, answered and nothing. */
function signedAccount(
  ctx: SimContext,
  req: Request,
  res: Response,
): { account: SimAccount; rawBody: Buffer } | void {
  const auth = parseAuthorization(header(req, 'authorization'));
  if (!auth)
    return error(
      res,
      'AuthFailure.InvalidAuthorization',
      'Authorization in the request header is invalid.',
    );
  const account = ctx.state.findByKey('tencent', auth.secretId);
  if (!account) return error(res, 'AuthFailure.SecretIdNotFound', 'The SecretId is not found.');
  const timestamp = header(req, 'x-tc-timestamp') ?? '';
  const ts = /^\d+$/.test(timestamp) ? Number(timestamp) : NaN;
  if (Number.isNaN(ts) || Math.abs(Date.now() / 1000 - ts) > MAX_SKEW_S) {
    account.stats.authFailures++;
    return error(
      res,
      'AuthFailure.SignatureExpire',
      'Signature expired. Timestamp and server time cannot differ by more than five minutes.',
    );
  }
  const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const [path = '/', query = ''] = req.originalUrl.split('?');
  const headers: Record<string, string | undefined> = {};
  for (const name of auth.signedHeaders)
    headers[name] = name === 'host' ? signedHost(header(req, name)) : header(req, name);
  const scopeOk =
    auth.service === 'sms' &&
    auth.date === new Date(ts * 1000).toISOString().slice(0, 10) &&
    auth.signedHeaders.includes('content-type') &&
    auth.signedHeaders.includes('host');
  if (
    !scopeOk ||
    !tc3SignatureMatches({
      method: req.method,
      path,
      query,
      headers,
      rawBody,
      timestamp,
      auth,
      secretKey: account.accessKeySecret,
    })
  ) {
    account.stats.authFailures++;
    return error(
      res,
      'AuthFailure.SignatureFailure',
      'The provided credentials could not be validated. Please check your signature is correct.',
    );
  }
  return { account, rawBody };
}

export function tencentHandler(ctx: SimContext) {
  return async (req: Request, res: Response): Promise<void> => {
    if (req.method !== 'POST')
      return error(res, 'InvalidParameter', 'only POST with application/json is simulated');
    const signed = signedAccount(ctx, req, res);
    if (!signed) return;
    const { account, rawBody } = signed;
    if (header(req, 'x-tc-version') !== '2021-01-11')
      return error(res, 'NoSuchVersion', 'The API version does not exist.');
    if (!header(req, 'x-tc-region'))
      return error(res, 'MissingParameter', 'X-TC-Region is required.');
    let body: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(rawBody.toString('utf8'));
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      body = v as Record<string, unknown>;
    } catch {
      return error(res, 'FailedOperation.FailResolvePacket', 'Failed to parse the request packet.');
    }
    const action = header(req, 'x-tc-action') ?? '';
    // the management APIs name no application; sending and pulling do
    const perApp = !/^(AddSms|DescribeSms)/.test(action);
    if (perApp && account.appId !== undefined && body.SmsSdkAppId !== account.appId) {
      return error(
        res,
        'UnauthorizedOperation.SmsSdkAppIdVerifyFail',
        'SmsSdkAppId verification failed.',
      );
    }
    switch (action) {
      case 'SendSms':
        return sendSms(ctx, account, body, res);
      case 'PullSmsSendStatusByPhoneNumber':
        return pullByPhone(ctx, account, body, res);
      case 'AddSmsSign':
      case 'DescribeSmsSignList':
      case 'AddSmsTemplate':
      case 'DescribeSmsTemplateList':
        return manage(ctx, account, action, body, res);
      case 'PullSmsSendStatus':
        return pullAll(ctx, account, body, res);
      default:
        return error(res, 'InvalidAction', 'The API does not exist.');
    }
  };
}

/** The request's own mistakes (count, template, application, params, session); stats counted. */
function sendProblem(
  account: SimAccount,
  body: Record<string, unknown>,
  numbers: unknown[],
  session: string,
): [code: string, message: string] | undefined {
  if (numbers.length > 1) {
    account.stats.batchCalls++;
    account.stats.batchNumbers += numbers.length;
  }
  if (numbers.length > 200)
    return ['LimitExceeded.PhoneNumberCountLimit', 'More than 200 numbers in one request.'];
  if (typeof body.TemplateId !== 'string' || body.TemplateId === '')
    return ['MissingParameter', 'TemplateId is required.'];
  if (typeof body.SmsSdkAppId !== 'string' || body.SmsSdkAppId === '')
    return ['MissingParameter', 'SmsSdkAppId is required.'];
  const params = body.TemplateParamSet ?? [];
  if (!Array.isArray(params) || params.some((p) => typeof p !== 'string')) {
    return [
      'InvalidParameterValue.TemplateParameterFormatError',
      'TemplateParamSet must be an array of strings.',
    ];
  }
  if (Buffer.byteLength(session, 'utf8') >= 512)
    return [
      'InvalidParameterValue.ContentLengthLimit',
      'SessionContext must be shorter than 512 bytes.',
    ];
  return undefined;
}

/** What the account took for one number. */
function tencentMessage(
  account: SimAccount,
  body: Record<string, unknown>,
  taken: {
    session: string;
    serialNo: string;
    mobile: string;
    signName: string;
    params: string[];
    content: string;
  },
): SimMessage {
  const { session, serialNo, mobile, signName, params, content } = taken;
  return {
    accountId: account.id,
    vendor: 'tencent',
    messageId: session,
    supplierMessageId: serialNo,
    mobile,
    signName,
    templateCode: String(body.TemplateId),
    params,
    content,
    segments: segmentsOf(content),
    appId: String(body.SmsSdkAppId),
    ...(typeof body.ExtendCode === 'string' && body.ExtendCode !== ''
      ? { extendCode: body.ExtendCode }
      : {}),
    sentAt: new Date(),
    status: 'pending',
  };
}

async function sendSms(
  ctx: SimContext,
  account: SimAccount,
  body: Record<string, unknown>,
  res: Response,
): Promise<void> {
  const session = typeof body.SessionContext === 'string' ? body.SessionContext : '';
  ctx.state.countReceived(account, session);
  const numbers = body.PhoneNumberSet;
  if (!Array.isArray(numbers) || numbers.length === 0)
    return error(res, 'MissingParameter', 'PhoneNumberSet is required.');
  const problem = sendProblem(account, body, numbers, session);
  if (problem) return error(res, ...problem);
  const params = (body.TemplateParamSet ?? []) as string[]; // strings: sendProblem checked
  const signName = typeof body.SignName === 'string' ? body.SignName : '';
  // the vendor's own checks: approved template and signature, the params it needs
  const check = checkSend(ctx.catalog, account, signName, String(body.TemplateId), params);
  if (!check.ok && !check.perNumber) {
    account.stats.rejected++;
    return error(res, check.code, check.message);
  }
  const decision = ctx.decide(account, {
    transient: 'RequestLimitExceeded',
    reject: 'InvalidParameterValue.IncorrectPhoneNumber',
  });
  await ctx.sleep(account.behaviour.latencyMs);
  if (decision.kind === 'transient')
    return error(res, decision.code, 'The number of requests exceeds the frequency limit.');

  const content = check.ok ? check.text : '';
  const set = numbers.map((raw) => {
    const given = typeof raw === 'string' ? raw : String(raw);
    const mobile = normalizeMobile(given);
    const base = {
      PhoneNumber: mobile ?? given,
      SessionContext: session,
      IsoCode: mobile ? isoCode(mobile) : 'XX',
    };
    if (!mobile) {
      return {
        ...base,
        SerialNo: '',
        Fee: 0,
        Code: 'InvalidParameterValue.IncorrectPhoneNumber',
        Message: 'incorrect number format',
      };
    }
    if (!check.ok) {
      return { ...base, SerialNo: '', Fee: 0, Code: check.code, Message: check.message };
    }
    if (decision.kind === 'rejected') {
      return {
        ...base,
        SerialNo: '',
        Fee: 0,
        Code: decision.code,
        Message: `rejected: ${decision.code}`,
      };
    }
    const serialNo = `2433:${Date.now()}${String(ctx.state.nextSerial()).padStart(10, '0')}`;
    const message = tencentMessage(account, body, {
      session,
      serialNo,
      mobile,
      signName,
      params,
      content,
    });
    ctx.accept(account, message);
    return {
      ...base,
      SerialNo: serialNo,
      Fee: message.segments,
      Code: 'Ok',
      Message: 'send success',
    };
  });
  if (decision.kind === 'accepted' && decision.hang) return ctx.hold(account, res);
  reply(res, { SendStatusSet: set });
}

function statusItem(m: SimMessage): Record<string, unknown> {
  const { nationCode, national } = splitMobile(m.mobile);
  return {
    UserReceiveTime: Math.floor((m.reportedAt ?? m.sentAt).getTime() / 1000),
    CountryCode: nationCode,
    SubscriberNumber: national,
    PhoneNumber: m.mobile,
    SerialNo: m.supplierMessageId,
    ReportStatus: m.status === 'delivered' ? 'SUCCESS' : 'FAIL',
    Description: m.status === 'delivered' ? 'DELIVRD' : (m.errCode ?? 'UNKNOWN'),
    SessionContext: m.messageId,
  };
}

function limitOf(body: Record<string, unknown>): number | undefined {
  const limit = body.Limit;
  return typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= 100
    ? limit
    : undefined;
}

function pullByPhone(
  ctx: SimContext,
  account: SimAccount,
  body: Record<string, unknown>,
  res: Response,
): void {
  account.stats.queries++;
  const limit = limitOf(body);
  if (typeof body.BeginTime !== 'number')
    return error(res, 'MissingParameter', 'BeginTime is required.');
  if (body.Offset !== 0) return error(res, 'InvalidParameterValue', 'Offset must be 0.');
  if (limit === undefined)
    return error(res, 'InvalidParameterValue', 'Limit must be between 1 and 100.');
  const mobile =
    typeof body.PhoneNumber === 'string' ? normalizeMobile(body.PhoneNumber) : undefined;
  if (!mobile)
    return error(res, 'InvalidParameterValue.IncorrectPhoneNumber', 'PhoneNumber is not E.164.');
  if (typeof body.SmsSdkAppId !== 'string' || body.SmsSdkAppId === '')
    return error(res, 'MissingParameter', 'SmsSdkAppId is required.');
  const begin = body.BeginTime * 1000;
  const end = typeof body.EndTime === 'number' ? body.EndTime * 1000 : Infinity;
  // the documented window: at most the last 7 days
  if (Date.now() - begin > 7 * 86_400_000)
    return error(res, 'InvalidParameterValue', 'BeginTime may be at most 7 days ago.');
  if (end < begin) return error(res, 'InvalidParameterValue', 'EndTime is before BeginTime.');
  // Only sends that have a delivery report are listed, as with the real API.
  const items = ctx.state.messages
    .filter(
      (m) =>
        m.accountId === account.id &&
        m.mobile === mobile &&
        m.appId === body.SmsSdkAppId &&
        m.status !== 'pending' &&
        m.sentAt.getTime() >= begin &&
        m.sentAt.getTime() <= end &&
        visibleToQueries(account, m),
    )
    .slice(0, limit)
    .map(statusItem);
  reply(res, { PullSmsSendStatusSet: items });
}

function pullAll(
  ctx: SimContext,
  account: SimAccount,
  body: Record<string, unknown>,
  res: Response,
): void {
  account.stats.queries++;
  const limit = limitOf(body);
  if (limit === undefined)
    return error(res, 'InvalidParameterValue', 'Limit must be between 1 and 100.');
  const fresh = ctx.state.messages
    .filter(
      (m) =>
        m.accountId === account.id &&
        m.appId === body.SmsSdkAppId &&
        m.status !== 'pending' &&
        !ctx.state.pulled.has(m) &&
        visibleToQueries(account, m),
    )
    .slice(0, limit);
  for (const m of fresh) ctx.state.pulled.add(m);
  reply(res, { PullSmsSendStatusSet: fresh.map(statusItem) });
}

// Signature and template management (2021-01-11): AddSmsSign /
// DescribeSmsSignList, AddSmsTemplate / DescribeSmsTemplateList.
// StatusCode 0 approved, 1 in review, -1 rejected (ReviewReply says why).
const STATUS_CODE = { approved: 0, pending: 1, rejected: -1 } as const;

function ids(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || v.length > 100) return undefined;
  if (!v.every((x) => typeof x === 'number' && Number.isInteger(x))) return undefined;
  return v.map(String);
}

/** Seconds since the epoch, as the vendor gives a creation time. */
const created = (at: number) => Math.floor(at / 1000);

function addSmsSign(
  ctx: SimContext,
  account: SimAccount,
  body: Record<string, unknown>,
  res: Response,
): void {
  const name = typeof body.SignName === 'string' ? body.SignName : '';
  if ([...name].length < 2 || [...name].length > 12)
    return error(
      res,
      'InvalidParameterValue.InvalidSignName',
      'SignName must have 2 to 12 characters.',
    );
  const s = ctx.catalog.applySignature(account, name);
  return reply(res, { AddSignStatus: { SignId: Number(s.id), SignApplyId: Number(s.id) } });
}

function describeSmsSignList(
  ctx: SimContext,
  account: SimAccount,
  body: Record<string, unknown>,
  res: Response,
): void {
  const b = account.behaviour;
  const wanted = ids(body.SignIdSet);
  if (!wanted) return error(res, 'InvalidParameterValue', 'SignIdSet: 1 to 100 integer ids.');
  const set = wanted.flatMap((id) => {
    const s = ctx.catalog.signatureById(account.id, id);
    if (!s) return [];
    const status = statusOf(s, b);
    return [
      {
        SignId: Number(s.id),
        International: 0,
        StatusCode: STATUS_CODE[status],
        ReviewReply: status === 'rejected' ? (s.reason ?? '') : '',
        SignName: s.name,
        CreateTime: created(s.appliedAt),
      },
    ];
  });
  return reply(res, { DescribeSignListStatusSet: set });
}

function addSmsTemplate(
  ctx: SimContext,
  account: SimAccount,
  body: Record<string, unknown>,
  res: Response,
): void {
  const name = typeof body.TemplateName === 'string' ? body.TemplateName : '';
  const content = typeof body.TemplateContent === 'string' ? body.TemplateContent : '';
  if (name === '' || content === '')
    return error(res, 'MissingParameter', 'TemplateName and TemplateContent are required.');
  if (/\$\{/.test(content))
    return error(
      res,
      'FailedOperation.TemplateParamSetNotMatchApprovedTemplate',
      'Variables are written {1}, {2}, …',
    );
  const t = ctx.catalog.applyTemplate(account, {
    name,
    content,
    type: Number(body.SmsType ?? 0) === 1 ? 2 : 1,
  });
  return reply(res, { AddTemplateStatus: { TemplateId: t.id } });
}

function describeSmsTemplateList(
  ctx: SimContext,
  account: SimAccount,
  body: Record<string, unknown>,
  res: Response,
): void {
  const b = account.behaviour;
  const c = ctx.catalog.of(account.id);
  const wanted = ids(body.TemplateIdSet);
  if (!wanted) return error(res, 'InvalidParameterValue', 'TemplateIdSet: 1 to 100 integer ids.');
  const set = wanted.flatMap((id) => {
    const t = c.templates.get(id);
    if (!t) return [];
    const status = statusOf(t, b);
    return [
      {
        TemplateId: Number(t.id),
        International: 0,
        StatusCode: STATUS_CODE[status],
        ReviewReply: status === 'rejected' ? (t.reason ?? '') : '',
        TemplateName: t.name,
        TemplateContent: t.content,
        CreateTime: created(t.appliedAt),
      },
    ];
  });
  return reply(res, { DescribeTemplateStatusSet: set });
}

/** The management APIs: signatures and templates, applied for and described. */
const MANAGE: Record<
  string,
  (ctx: SimContext, account: SimAccount, body: Record<string, unknown>, res: Response) => void
> = {
  AddSmsSign: addSmsSign,
  DescribeSmsSignList: describeSmsSignList,
  AddSmsTemplate: addSmsTemplate,
  DescribeSmsTemplateList: describeSmsTemplateList,
};

function manage(
  ctx: SimContext,
  account: SimAccount,
  action: string,
  body: Record<string, unknown>,
  res: Response,
): void {
  MANAGE[action]?.(ctx, account, body, res);
}
