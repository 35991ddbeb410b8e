// Aliyun dysmsapi 2017-05-25 RPC endpoint: signature check as the gateway
// does it, then SendSms, SendBatchSms and QuerySendDetails.
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { aliyunSignatureMatches } from './aliyunAuth.ts';
import { checkSend, statusOf } from './catalog.ts';
import { visibleToQueries } from './statusModes.ts';
import type { SimContext } from './context.ts';
import {
  chinaTime,
  normalizeMobile,
  segmentsOf,
  splitMobile,
  type SimAccount,
  type SimMessage,
} from './state.ts';

const NONCE_TTL_MS = 15 * 60_000;
const TIMESTAMP_SKEW_MS = 15 * 60_000;

function requestId(): string {
  return randomUUID().toUpperCase();
}

function fail(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({
    RequestId: requestId(),
    HostId: 'dysmsapi.aliyuncs.com',
    Code: code,
    Message: message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}`,
  });
}

/** Business errors come back as HTTP 200 with a Code other than OK. */
function answer(res: Response, code: string, message: string): void {
  res.status(200).json({ RequestId: requestId(), Code: code, Message: message });
}

function flatten(source: unknown, into: Record<string, string>): void {
  if (source === null || typeof source !== 'object') return;
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (typeof v === 'string') into[k] = v;
    else if (Array.isArray(v) && typeof v[0] === 'string') into[k] = v[0];
  }
}

function chinaDay(d: Date): string {
  return chinaTime(d).slice(0, 10).replaceAll('-', '');
}

/**
 * The account whose signature the request carries (key, method, version,
 * timestamp, signature, fresh nonce); when refused, answered and nothing.
 */
function signedAccount(
  ctx: SimContext,
  req: Request,
  params: Record<string, string>,
  res: Response,
): SimAccount | void {
  for (const name of [
    'AccessKeyId',
    'Signature',
    'SignatureNonce',
    'Timestamp',
    'Action',
    'Version',
  ]) {
    if (!params[name])
      return fail(res, 400, `Missing${name}`, `${name} is mandatory for this action.`);
  }
  const account = ctx.state.findByKey('aliyun', params.AccessKeyId ?? '');
  if (!account)
    return fail(res, 404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
  if (params.SignatureMethod !== 'HMAC-SHA1') {
    account.stats.authFailures++;
    return fail(res, 400, 'InvalidSignatureMethod', 'Specified signature method is not supported.');
  }
  if (params.SignatureVersion !== '1.0') {
    account.stats.authFailures++;
    return fail(
      res,
      400,
      'InvalidSignatureVersion',
      'Specified signature version is not supported.',
    );
  }
  const ts = params.Timestamp ?? '';
  const when = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(ts) ? Date.parse(ts) : NaN;
  if (Number.isNaN(when)) {
    account.stats.authFailures++;
    return fail(
      res,
      400,
      'InvalidTimeStamp.Format',
      'Specified time stamp or date value is not well formatted.',
    );
  }
  if (Math.abs(Date.now() - when) > TIMESTAMP_SKEW_MS) {
    account.stats.authFailures++;
    return fail(
      res,
      400,
      'InvalidTimeStamp.Expired',
      'Specified time stamp or date value is expired.',
    );
  }
  if (!aliyunSignatureMatches(req.method, params, account.accessKeySecret)) {
    account.stats.authFailures++;
    return fail(
      res,
      400,
      'SignatureDoesNotMatch',
      'Specified signature is not matched with our calculation.',
    );
  }
  const nonceKey = `${account.accessKeyId}\0${params.SignatureNonce}`;
  const seen = ctx.state.nonces.get(nonceKey);
  if (seen !== undefined && Date.now() - seen < NONCE_TTL_MS) {
    account.stats.authFailures++;
    return fail(res, 400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
  }
  ctx.state.nonces.set(nonceKey, Date.now());
  if (ctx.state.nonces.size > 50_000) {
    for (const [k, t] of ctx.state.nonces)
      if (Date.now() - t >= NONCE_TTL_MS) ctx.state.nonces.delete(k);
  }
  return account;
}

export function aliyunHandler(ctx: SimContext) {
  return async (req: Request, res: Response): Promise<void> => {
    const params: Record<string, string> = {};
    flatten(req.query, params);
    if (req.method === 'POST') flatten(req.body, params);

    const account = signedAccount(ctx, req, params, res);
    if (!account) return;
    if (params.Version !== '2017-05-25') {
      return fail(res, 400, 'InvalidVersion', 'Specified parameter Version is not valid.');
    }
    switch (params.Action) {
      case 'SendSms':
        return sendSms(ctx, account, params, res);
      case 'SendBatchSms':
        return sendBatchSms(ctx, account, params, res);
      case 'QuerySendDetails':
        return querySendDetails(ctx, account, params, res);
      case 'CreateSmsSign':
      case 'GetSmsSign':
      case 'CreateSmsTemplate':
      case 'GetSmsTemplate':
        return manage(ctx, account, params.Action, params, res);
      default:
        return fail(
          res,
          404,
          'InvalidAction.NotFound',
          'Specified api is not found, please check your url and method.',
        );
    }
  };
}

async function sendSms(
  ctx: SimContext,
  account: SimAccount,
  params: Record<string, string>,
  res: Response,
): Promise<void> {
  const outId = params.OutId ?? '';
  ctx.state.countReceived(account, outId);
  if (!params.PhoneNumbers)
    return fail(res, 400, 'MissingPhoneNumbers', 'PhoneNumbers is mandatory for this action.');
  if (!params.SignName)
    return fail(res, 400, 'MissingSignName', 'SignName is mandatory for this action.');
  if (!params.TemplateCode)
    return fail(res, 400, 'MissingTemplateCode', 'TemplateCode is mandatory for this action.');
  const numbers = params.PhoneNumbers.split(',').map((n) => normalizeMobile(n));
  if (numbers.length > 1000 || numbers.some((n) => n === undefined)) {
    return answer(res, 'isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
  }
  let templateParam: unknown = {};
  if (params.TemplateParam !== undefined && params.TemplateParam !== '') {
    try {
      templateParam = JSON.parse(params.TemplateParam);
    } catch {
      return answer(res, 'isv.INVALID_JSON_PARAM', 'JSON参数不合法,只接受字符串值');
    }
    const values =
      templateParam !== null && typeof templateParam === 'object' && !Array.isArray(templateParam)
        ? Object.values(templateParam as Record<string, unknown>)
        : undefined;
    if (!values || values.some((v) => typeof v !== 'string')) {
      return answer(res, 'isv.INVALID_JSON_PARAM', 'JSON参数不合法,只接受字符串值');
    }
  }
  // the vendor's own checks: approved template and signature, the params it needs
  const check = checkSend(
    ctx.catalog,
    account,
    params.SignName,
    params.TemplateCode,
    templateParam as Record<string, string>,
  );
  if (!check.ok) {
    account.stats.rejected++;
    return answer(res, check.code, check.message);
  }
  const { SignName: signName, TemplateCode: templateCode, SmsUpExtendCode: extendCode } = params;
  return decideAndAnswer(
    ctx,
    account,
    res,
    outId,
    numbers.map((mobile) => ({
      mobile: mobile ?? '',
      signName,
      templateCode,
      params: templateParam,
      content: check.text,
      ...(extendCode ? { extendCode } : {}),
    })),
  );
}

/** One number of a send, as the vendor's checks passed it. */
type Element = Pick<SimMessage, 'mobile' | 'signName' | 'templateCode' | 'params' | 'content'> & {
  extendCode?: string;
};

/**
 * What SendSms and SendBatchSms do once the vendor's checks passed: the
 * account's behaviour decides (throttled, failed, rejected or accepted), its
 * latency passes, and an accepted call gets one BizId for all its numbers,
 * each number a message, and the OK answer (or a connection held open).
 */
async function decideAndAnswer(
  ctx: SimContext,
  account: SimAccount,
  res: Response,
  outId: string,
  elements: Element[],
): Promise<void> {
  const decision = ctx.decide(account, {
    transient: 'Throttling.User',
    reject: 'isv.MOBILE_NUMBER_ILLEGAL',
  });
  await ctx.sleep(account.behaviour.latencyMs);
  if (decision.kind === 'transient') {
    return decision.code.startsWith('Throttling')
      ? fail(res, 400, decision.code, 'Request was denied due to user flow control.')
      : answer(res, decision.code, 'The request processing has failed due to some unknown error.');
  }
  if (decision.kind === 'rejected') return answer(res, decision.code, `rejected: ${decision.code}`);

  const serial = ctx.state.nextSerial();
  const bizId = `${BigInt(Date.now()) * 100000n + BigInt(serial % 100000)}^0`;
  for (const element of elements) {
    ctx.accept(account, {
      ...element,
      accountId: account.id,
      vendor: 'aliyun',
      messageId: outId,
      supplierMessageId: bizId,
      segments: segmentsOf(element.content),
      sentAt: new Date(),
      status: 'pending',
    });
  }
  if (decision.hang) return ctx.hold(account, res);
  res.status(200).json({ RequestId: requestId(), Code: 'OK', Message: 'OK', BizId: bizId });
}

/** A JSON array of strings (SendBatchSms' *Json parameters), else undefined. */
function stringArray(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * SendBatchSms: one template, up to 100 numbers, a signature (and optionally
 * parameters and an extension code) per number, index by index. One BizId for
 * the whole call; any bad element refuses the whole call, as the vendor does.
 */
/** TemplateParamJson: one object of string values per number (none given: empty ones). */
function templateParamSets(
  json: string | undefined,
  count: number,
): Record<string, string>[] | { code: string; message: string } {
  if (json === undefined || json === '') return Array.from({ length: count }, () => ({}));
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { code: 'isv.INVALID_JSON_PARAM', message: 'JSON参数不合法,只接受字符串值' };
  }
  const ok =
    Array.isArray(parsed) &&
    parsed.every(
      (p) =>
        p !== null &&
        typeof p === 'object' &&
        !Array.isArray(p) &&
        Object.values(p as Record<string, unknown>).every((v) => typeof v === 'string'),
    );
  if (!ok) return { code: 'isv.INVALID_JSON_PARAM', message: 'JSON参数不合法,只接受字符串值' };
  if ((parsed as unknown[]).length !== count)
    return { code: 'isv.INVALID_PARAMETERS', message: '模板变量数量与手机号码数量不一致' };
  return parsed as Record<string, string>[];
}

async function sendBatchSms(
  ctx: SimContext,
  account: SimAccount,
  params: Record<string, string>,
  res: Response,
): Promise<void> {
  const outId = params.OutId ?? '';
  ctx.state.countReceived(account, outId);
  if (!params.PhoneNumberJson)
    return fail(
      res,
      400,
      'MissingPhoneNumberJson',
      'PhoneNumberJson is mandatory for this action.',
    );
  if (!params.SignNameJson)
    return fail(res, 400, 'MissingSignNameJson', 'SignNameJson is mandatory for this action.');
  if (!params.TemplateCode)
    return fail(res, 400, 'MissingTemplateCode', 'TemplateCode is mandatory for this action.');
  const raw = stringArray(params.PhoneNumberJson);
  const signs = stringArray(params.SignNameJson);
  if (!raw || !signs) return answer(res, 'isv.INVALID_JSON_PARAM', 'JSON参数不合法');
  account.stats.batchCalls++;
  account.stats.batchNumbers += raw.length;
  if (raw.length === 0 || raw.length > 100)
    return answer(res, 'isv.MOBILE_COUNT_OVER_LIMIT', '手机号码数量超过限制');
  if (signs.length !== raw.length)
    return answer(res, 'isv.INVALID_PARAMETERS', '签名数量与手机号码数量不一致');
  const paramSets = templateParamSets(params.TemplateParamJson, raw.length);
  if (!Array.isArray(paramSets)) return answer(res, paramSets.code, paramSets.message);
  const codes = stringArray(params.SmsUpExtendCodeJson);
  if (params.SmsUpExtendCodeJson !== undefined && (!codes || codes.length !== raw.length))
    return answer(res, 'isv.INVALID_PARAMETERS', '扩展码数量与手机号码数量不一致');
  const numbers = raw.map((n) => normalizeMobile(n));
  if (numbers.some((n) => n === undefined))
    return answer(res, 'isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
  // the vendor's own checks, for every element: approved template and signature, the params
  const checks = numbers.map((_, i) =>
    checkSend(ctx.catalog, account, signs[i]!, params.TemplateCode!, paramSets[i]!),
  );
  const refused = checks.find((c) => !c.ok);
  if (refused && !refused.ok) {
    account.stats.rejected++;
    return answer(res, refused.code, refused.message);
  }
  return decideAndAnswer(
    ctx,
    account,
    res,
    outId,
    numbers.map((mobile, i) => {
      const check = checks[i]!;
      return {
        mobile: mobile ?? '',
        signName: signs[i]!,
        templateCode: params.TemplateCode!,
        params: paramSets[i]!,
        content: check.ok ? check.text : '',
        ...(codes?.[i] ? { extendCode: codes[i] } : {}),
      };
    }),
  );
}

function querySendDetails(
  ctx: SimContext,
  account: SimAccount,
  params: Record<string, string>,
  res: Response,
): void {
  account.stats.queries++;
  const mobile = params.PhoneNumber ? normalizeMobile(params.PhoneNumber) : undefined;
  if (!params.PhoneNumber)
    return fail(res, 400, 'MissingPhoneNumber', 'PhoneNumber is mandatory for this action.');
  if (!mobile) return answer(res, 'isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
  if (!/^\d{8}$/.test(params.SendDate ?? ''))
    return fail(res, 400, 'isv.INVALID_PARAMETERS', 'SendDate must be yyyyMMdd.');
  const pageSize = Number(params.PageSize);
  const page = Number(params.CurrentPage ?? '1');
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 50) {
    return fail(res, 400, 'isv.INVALID_PARAMETERS', 'PageSize must be between 1 and 50.');
  }
  if (!Number.isInteger(page) || page < 1)
    return fail(res, 400, 'isv.INVALID_PARAMETERS', 'CurrentPage must be 1 or more.');
  const rows = ctx.state.messages.filter(
    (m) =>
      m.accountId === account.id &&
      m.mobile === mobile &&
      chinaDay(m.sentAt) === params.SendDate &&
      (!params.BizId || m.supplierMessageId === params.BizId) &&
      visibleToQueries(account, m),
  );
  const { nationCode, national } = splitMobile(mobile);
  const dtos = rows.slice((page - 1) * pageSize, page * pageSize).map((m) => ({
    PhoneNum: nationCode === '86' ? national : mobile.slice(1),
    SendStatus: m.status === 'pending' ? 1 : m.status === 'failed' ? 2 : 3,
    ErrCode: m.status === 'delivered' ? 'DELIVERED' : (m.errCode ?? ''),
    TemplateCode: m.templateCode,
    Content: m.content,
    SendDate: chinaTime(m.sentAt),
    ReceiveDate: m.reportedAt ? chinaTime(m.reportedAt) : '',
    OutId: m.messageId,
  }));
  res.status(200).json({
    RequestId: requestId(),
    Code: 'OK',
    Message: 'OK',
    TotalCount: rows.length,
    SmsSendDetailDTOs: { SmsSendDetailDTO: dtos },
  });
}

// Signature and template management (2017-05-25): CreateSmsSign / GetSmsSign,
// CreateSmsTemplate / GetSmsTemplate. Status 0 in review, 1 approved, 2 rejected.
const STATUS = { pending: 0, approved: 1, rejected: 2 } as const;

function manage(
  ctx: SimContext,
  account: SimAccount,
  action: string,
  params: Record<string, string>,
  res: Response,
): void {
  const b = account.behaviour;
  const c = ctx.catalog.of(account.id);
  const ok = (body: Record<string, unknown>): void => {
    res.status(200).json({ RequestId: requestId(), Code: 'OK', Message: 'OK', ...body });
  };
  switch (action) {
    case 'CreateSmsSign': {
      const name = params.SignName ?? '';
      if ([...name].length < 2 || [...name].length > 12)
        return answer(res, 'isv.SMS_SIGN_ILLEGAL', '签名不合法: 2–12 个字符');
      const s = ctx.catalog.applySignature(account, name);
      return ok({ SignName: s.name, OrderId: s.id });
    }
    case 'GetSmsSign': {
      const s = c.signatures.get(params.SignName ?? '');
      if (!s) return answer(res, 'isv.SMS_SIGN_ILLEGAL', '签名不存在');
      const status = statusOf(s, b);
      return ok({
        SignName: s.name,
        SignStatus: STATUS[status],
        OrderId: s.id,
        AuditInfo: status === 'rejected' ? { RejectInfo: s.reason ?? '' } : {},
      });
    }
    case 'CreateSmsTemplate': {
      const content = params.TemplateContent ?? '';
      const type = Number(params.TemplateType ?? '1');
      if (content === '' || !params.TemplateName)
        return answer(
          res,
          'isv.SMS_TEMPLATE_ILLEGAL',
          'TemplateName and TemplateContent are required',
        );
      if (![0, 1, 2, 3].includes(type))
        return answer(res, 'isv.SMS_TEMPLATE_ILLEGAL', 'TemplateType must be 0, 1, 2 or 3');
      const t = ctx.catalog.applyTemplate(account, { name: params.TemplateName, content, type });
      return ok({ TemplateCode: t.id, TemplateName: t.name, OrderId: t.id.slice(4) });
    }
    case 'GetSmsTemplate': {
      const t = c.templates.get(params.TemplateCode ?? '');
      if (!t) return answer(res, 'isv.SMS_TEMPLATE_ILLEGAL', '模板不存在');
      const status = statusOf(t, b);
      return ok({
        TemplateCode: t.id,
        TemplateName: t.name,
        TemplateContent: t.content,
        TemplateType: String(t.type),
        TemplateStatus: String(STATUS[status]),
        AuditInfo: status === 'rejected' ? { RejectInfo: t.reason ?? '' } : {},
      });
    }
  }
}
