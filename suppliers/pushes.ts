// Pure parsers for the vendors' push payloads, into a neutral shape.
// Shared by the webhooks (command-service) and the processors, which must
// normalise supplier message ids the same way.
// Aliyun SmsReport (HTTP batch push): https://help.aliyun.com/document_detail/101867.html
// Aliyun SmsUp (HTTP batch push):     https://help.aliyun.com/document_detail/101847.htm
// Tencent delivery status callback:  https://www.tencentcloud.com/document/product/382/43547
// Tencent SMS reply callback:        https://www.tencentcloud.com/document/product/382/43548

export interface DeliveryReceipt {
  vendor: 'aliyun' | 'tencent';
  /** Aliyun biz_id / Tencent sid (= SendSms SerialNo), as pushed; normalize before lookups. */
  supplierMessageId: string;
  /** Our message id when the vendor echoes it (Aliyun out_id); Tencent receipts do not carry it. */
  messageId?: string;
  delivered: boolean;
  /** Aliyun err_code / Tencent errmsg (e.g. DELIVERED, DELIVRD, or a failure code). */
  errorCode?: string;
  /** Aliyun err_msg / Tencent description. */
  errorMessage?: string;
  reportedAt: Date;
  sentAt?: Date;
  /** E.164. */
  mobile: string;
  /** Aliyun sms_size: billed segments. */
  segments?: number;
}

export interface InboundSms {
  vendor: 'aliyun' | 'tencent';
  /** E.164. */
  mobile: string;
  text: string;
  receivedAt: Date;
  signName?: string;
  /** Aliyun dest_code / Tencent extend. */
  extendCode?: string;
  /** Aliyun sequence_id; absent for Tencent. */
  sequenceId?: string;
}

/** The payload is malformed; `issues` lists every problem found (answer HTTP 400). */
export class ReceiptParseError extends Error {
  readonly issues: string[];
  constructor(kind: string, issues: string[]) {
    super(`malformed ${kind}: ${issues.join('; ')}`);
    this.name = 'ReceiptParseError';
    this.issues = issues;
  }
}

/** What the Aliyun pushes expect back ("system only checks that code is a number"). */
export const ALIYUN_PUSH_ACK = { code: 0, msg: '接收成功' } as const;
/** What the Tencent callbacks expect back. */
export const TENCENT_PUSH_ACK = { result: 0, errmsg: 'OK' } as const;

/** Canonical form of a vendor message id for lookups: trimmed, lower-case, no leading zeros. */
export { normalizeSupplierMessageId } from '../contracts/index.ts';

/**
 * A number as a vendor pushes it back (mainland 11-digit, 86-prefixed,
 * 0086-prefixed, +-prefixed or country code + number) to E.164.
 */
export function vendorNumberToE164(raw: string, nationCode?: string): string {
  const s = raw.trim().replace(/[\s-]/g, '');
  if (s.startsWith('+')) return s;
  if (s.startsWith('00')) return `+${s.slice(2)}`;
  if (nationCode !== undefined && nationCode !== '') {
    return `+${nationCode.replace(/^\+/, '')}${s}`;
  }
  if (/^1\d{10}$/.test(s)) return `+86${s}`;
  return `+${s}`;
}

type Obj = Record<string, unknown>;

function decode(body: unknown, kind: string): unknown {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      return JSON.parse(body.toString());
    } catch {
      throw new ReceiptParseError(kind, ['body is not valid JSON']);
    }
  }
  return body;
}

function asArray(body: unknown, kind: string, allowObject: boolean): unknown[] {
  const v = decode(body, kind);
  if (Array.isArray(v)) return v;
  if (allowObject && v !== null && typeof v === 'object') return [v];
  throw new ReceiptParseError(kind, [
    allowObject ? 'expected a JSON object or array' : 'expected a JSON array',
  ]);
}

class Reader {
  readonly issues: string[];
  private readonly o: Obj;
  private readonly at: string;
  constructor(item: unknown, at: string, issues: string[]) {
    this.issues = issues;
    this.at = at;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      issues.push(`${at}: expected an object`);
      this.o = {};
    } else {
      this.o = item as Obj;
    }
  }
  /** A non-empty string (numbers accepted and stringified). */
  required(field: string): string {
    const v = this.o[field];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    this.issues.push(`${this.at}.${field}: expected a non-empty string`);
    return '';
  }
  optional(field: string): string | undefined {
    const v = this.o[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    this.issues.push(`${this.at}.${field}: expected a string`);
    return undefined;
  }
  boolean(field: string): boolean {
    const v = this.o[field];
    if (typeof v === 'boolean') return v;
    if (v === 'true') return true;
    if (v === 'false') return false;
    this.issues.push(`${this.at}.${field}: expected a boolean`);
    return false;
  }
  /** "yyyy-MM-dd HH:mm:ss" in China time (UTC+8), as both vendors push it. */
  chinaTime(field: string, required: boolean): Date | undefined {
    const raw = required ? this.required(field) : this.optional(field);
    if (raw === undefined || raw === '') return undefined;
    const m =
      /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(raw) ??
      /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(raw);
    if (!m) {
      this.issues.push(`${this.at}.${field}: expected "yyyy-MM-dd HH:mm:ss"`);
      return undefined;
    }
    const [, y, mo, d, h, mi, s] = m;
    const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h) - 8, Number(mi), Number(s));
    if (Number.isNaN(t)) {
      this.issues.push(`${this.at}.${field}: not a valid time`);
      return undefined;
    }
    return new Date(t);
  }
  unixSeconds(field: string): Date | undefined {
    const v = this.o[field];
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isFinite(n) || n <= 0) {
      this.issues.push(`${this.at}.${field}: expected a UNIX timestamp in seconds`);
      return undefined;
    }
    return new Date(n * 1000);
  }
}

function finish<T>(kind: string, issues: string[], items: T[]): T[] {
  if (issues.length > 0) throw new ReceiptParseError(kind, issues);
  return items;
}

/** Aliyun SmsReport: JSON array of {phone_number, send_time, report_time, success, err_code, err_msg, sms_size, biz_id, out_id}. */
export function parseAliyunReceipts(body: unknown): DeliveryReceipt[] {
  const kind = 'Aliyun SmsReport';
  const issues: string[] = [];
  const out = asArray(body, kind, false).map((item, i): DeliveryReceipt => {
    const r = new Reader(item, `[${i}]`, issues);
    const phone = r.required('phone_number');
    const sentAt = r.chinaTime('send_time', false);
    const reportedAt = r.chinaTime('report_time', true);
    const delivered = r.boolean('success');
    const errorCode = r.optional('err_code');
    const errorMessage = r.optional('err_msg');
    const size = r.optional('sms_size');
    const supplierMessageId = r.required('biz_id');
    const messageId = r.optional('out_id');
    let segments: number | undefined;
    if (size !== undefined) {
      segments = Number(size);
      if (!Number.isInteger(segments) || segments < 0) {
        issues.push(`[${i}].sms_size: expected a whole number`);
        segments = undefined;
      }
    }
    return {
      vendor: 'aliyun',
      supplierMessageId,
      ...(messageId !== undefined ? { messageId } : {}),
      delivered,
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...(errorMessage !== undefined ? { errorMessage } : {}),
      reportedAt: reportedAt ?? new Date(0),
      ...(sentAt ? { sentAt } : {}),
      mobile: phone ? vendorNumberToE164(phone) : '',
      ...(segments !== undefined ? { segments } : {}),
    };
  });
  return finish(kind, issues, out);
}

/** Aliyun SmsUp: JSON array of {phone_number, send_time, content, sign_name?, dest_code, sequence_id}. */
export function parseAliyunInbound(body: unknown): InboundSms[] {
  const kind = 'Aliyun SmsUp';
  const issues: string[] = [];
  const out = asArray(body, kind, false).map((item, i): InboundSms => {
    const r = new Reader(item, `[${i}]`, issues);
    const phone = r.required('phone_number');
    const receivedAt = r.chinaTime('send_time', true);
    const text = r.required('content');
    const signName = r.optional('sign_name');
    const extendCode = r.optional('dest_code');
    const sequenceId = r.required('sequence_id');
    return {
      vendor: 'aliyun',
      mobile: phone ? vendorNumberToE164(phone) : '',
      text,
      receivedAt: receivedAt ?? new Date(0),
      ...(signName !== undefined ? { signName } : {}),
      ...(extendCode !== undefined ? { extendCode } : {}),
      sequenceId,
    };
  });
  return finish(kind, issues, out);
}

/** Tencent delivery status callback: JSON array of {user_receive_time, nationcode, mobile, report_status, errmsg, description, sid}. */
export function parseTencentReceipts(body: unknown): DeliveryReceipt[] {
  const kind = 'Tencent status callback';
  const issues: string[] = [];
  const out = asArray(body, kind, false).map((item, i): DeliveryReceipt => {
    const r = new Reader(item, `[${i}]`, issues);
    const reportedAt = r.chinaTime('user_receive_time', true);
    const nationcode = r.required('nationcode');
    const mobile = r.required('mobile');
    const status = r.required('report_status');
    if (status !== '' && status !== 'SUCCESS' && status !== 'FAIL') {
      issues.push(`[${i}].report_status: expected SUCCESS or FAIL`);
    }
    const errorCode = r.optional('errmsg');
    const errorMessage = r.optional('description');
    const supplierMessageId = r.required('sid');
    return {
      vendor: 'tencent',
      supplierMessageId,
      delivered: status === 'SUCCESS',
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...(errorMessage !== undefined ? { errorMessage } : {}),
      reportedAt: reportedAt ?? new Date(0),
      mobile: mobile ? vendorNumberToE164(mobile, nationcode) : '',
    };
  });
  return finish(kind, issues, out);
}

/**
 * Tencent reply callback: the doc shows one JSON object {extend, mobile,
 * nationcode, sign, text, time (UNIX seconds)}; an array of them is accepted too.
 */
export function parseTencentInbound(body: unknown): InboundSms[] {
  const kind = 'Tencent reply callback';
  const issues: string[] = [];
  const out = asArray(body, kind, true).map((item, i): InboundSms => {
    const r = new Reader(item, `[${i}]`, issues);
    const extendCode = r.optional('extend');
    const mobile = r.required('mobile');
    const nationcode = r.required('nationcode');
    const signName = r.optional('sign');
    const text = r.required('text');
    const receivedAt = r.unixSeconds('time');
    return {
      vendor: 'tencent',
      mobile: mobile ? vendorNumberToE164(mobile, nationcode) : '',
      text,
      receivedAt: receivedAt ?? new Date(0),
      ...(signName !== undefined ? { signName } : {}),
      ...(extendCode !== undefined ? { extendCode } : {}),
    };
  });
  return finish(kind, issues, out);
}
