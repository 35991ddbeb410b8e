// Signatures and templates per account, reviewed like the vendors review
// them: pending for `reviewDelayMs` after the application, then approved,
// unless the account's rejection rule matches (a regular expression over the
// name and the text), then rejected with its reason. SendSms checks a message
// against them and renders the text the handset gets.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Behaviour, SimAccount, Vendor } from './state.ts';

export type ReviewState = 'pending' | 'approved' | 'rejected';

export interface SimSignature {
  name: string;
  /** Tencent SignId / Aliyun order id */
  id: string;
  appliedAt: number;
  verdict: 'approved' | 'rejected';
  reason?: string;
}

export interface SimTemplate {
  /** Aliyun SMS_…, Tencent a number */
  id: string;
  name: string;
  /** in the vendor's syntax: Aliyun ${name}, Tencent {1} */
  content: string;
  /** Aliyun TemplateType: 0 verification code, 1 notification, 2 marketing */
  type: number;
  appliedAt: number;
  verdict: 'approved' | 'rejected';
  reason?: string;
}

export interface AccountCatalog {
  signatures: Map<string, SimSignature>;
  templates: Map<string, SimTemplate>;
}

export function statusOf(
  item: { appliedAt: number; verdict: 'approved' | 'rejected' },
  b: Behaviour,
  now = Date.now(),
): ReviewState {
  return now - item.appliedAt < b.reviewDelayMs ? 'pending' : item.verdict;
}

function verdictFor(
  b: Behaviour,
  ...texts: string[]
): { verdict: 'approved' | 'rejected'; reason?: string } {
  if (b.reviewRejectPattern) {
    const rule = new RegExp(b.reviewRejectPattern);
    if (texts.some((t) => rule.test(t))) {
      return { verdict: 'rejected', reason: b.reviewRejectReason };
    }
  }
  return { verdict: 'approved' };
}

// one sequence for every catalog of the process, so that two simulators in
// one test process never hand out the same id
let serial = 0;
function nextId(vendor: Vendor): string {
  serial += 1;
  return vendor === 'aliyun' ? `SMS_${String(460000000 + serial)}` : String(2_000_000 + serial);
}

/** What the catalog file holds (version 1). */
interface CatalogFile {
  version: 1;
  serial: number;
  accounts: Record<string, { signatures: SimSignature[]; templates: SimTemplate[] }>;
}

/**
 * A vendor does not forget a review: with a file, every change is written to
 * it (whole, through a rename, so that a crash leaves the old or the new
 * one) and a simulator started again on the same file knows every signature
 * and template it reviewed, and hands out no id twice.
 */
export class Catalog {
  private readonly byAccount = new Map<string, AccountCatalog>();
  private readonly file: string | undefined;

  constructor(file?: string) {
    this.file = file;
    if (file) this.load(file);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let data: CatalogFile;
    try {
      data = JSON.parse(text) as CatalogFile;
    } catch (err) {
      throw new Error(`simulator catalog ${file}: not JSON (${(err as Error).message})`, {
        cause: err,
      });
    }
    if (data.version !== 1 || typeof data.accounts !== 'object' || data.accounts === null) {
      throw new Error(`simulator catalog ${file}: not a version 1 catalog`);
    }
    serial = Math.max(serial, Number(data.serial) || 0);
    for (const [accountId, c] of Object.entries(data.accounts)) {
      this.byAccount.set(accountId, {
        signatures: new Map(c.signatures.map((s) => [s.name, s])),
        templates: new Map(c.templates.map((t) => [t.id, t])),
      });
    }
  }

  private save(): void {
    if (!this.file) return;
    const data: CatalogFile = { version: 1, serial, accounts: {} };
    for (const [accountId, c] of this.byAccount) {
      data.accounts[accountId] = {
        signatures: [...c.signatures.values()],
        templates: [...c.templates.values()],
      };
    }
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 1)}\n`);
    renameSync(tmp, this.file);
  }

  of(accountId: string): AccountCatalog {
    let c = this.byAccount.get(accountId);
    if (!c) {
      c = { signatures: new Map(), templates: new Map() };
      this.byAccount.set(accountId, c);
    }
    return c;
  }

  clear(): void {
    this.byAccount.clear();
    this.save();
  }

  applySignature(account: SimAccount, name: string): SimSignature {
    const c = this.of(account.id);
    const existing = c.signatures.get(name);
    if (existing) return existing;
    const s: SimSignature = {
      name,
      id: nextId('tencent'),
      appliedAt: Date.now(),
      ...verdictFor(account.behaviour, name),
    };
    c.signatures.set(name, s);
    this.save();
    return s;
  }

  applyTemplate(
    account: SimAccount,
    t: { name: string; content: string; type: number },
  ): SimTemplate {
    const s: SimTemplate = {
      id: nextId(account.vendor),
      ...t,
      appliedAt: Date.now(),
      ...verdictFor(account.behaviour, t.name, t.content),
    };
    this.of(account.id).templates.set(s.id, s);
    this.save();
    return s;
  }

  /** An approved item as the console would show it (admin seeding). */
  seedTemplate(
    accountId: string,
    t: Omit<SimTemplate, 'appliedAt' | 'verdict'> & { verdict?: 'approved' | 'rejected' },
  ): void {
    this.of(accountId).templates.set(t.id, {
      ...t,
      verdict: t.verdict ?? 'approved',
      appliedAt: 0,
    });
    this.save();
  }

  seedSignature(
    accountId: string,
    name: string,
    verdict: 'approved' | 'rejected' = 'approved',
  ): void {
    this.of(accountId).signatures.set(name, { name, id: nextId('tencent'), appliedAt: 0, verdict });
    this.save();
  }

  signatureById(accountId: string, id: string): SimSignature | undefined {
    for (const s of this.of(accountId).signatures.values()) if (s.id === id) return s;
    return undefined;
  }
}

export type SendCheck =
  { ok: true; text: string } | { ok: false; code: string; message: string; perNumber?: boolean };

// Aliyun: a verification code is 4–6 characters, any other value at most 35
// (isv.PARAM_LENGTH_LIMIT); Tencent: at most 12 characters per value
// (InvalidParameterValue.TemplateParameterLengthLimit), 6 digits for codes.
const ALIYUN_MAX = 35;
const TENCENT_MAX = 12;

/** Aliyun's checks of the params against an approved template: named, present, not too long. */
function checkAliyunParams(
  template: { content: string; type: number },
  signName: string,
  params: Record<string, string> | string[],
): SendCheck {
  const named = Array.isArray(params) ? {} : params;
  let missing: string | undefined;
  let tooLong: string | undefined;
  const text = template.content.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = named[name];
    if (v === undefined) {
      missing ??= name;
      return '';
    }
    const isCode = template.type === 0 && /code/i.test(name);
    if (isCode ? !/^[A-Za-z0-9]{4,6}$/.test(v) : [...v].length > ALIYUN_MAX) tooLong ??= name;
    return v;
  });
  if (missing !== undefined) {
    return {
      ok: false,
      code: 'isv.TEMPLATE_MISSING_PARAMETERS',
      message: `模板缺少变量 ${missing}`,
    };
  }
  if (tooLong !== undefined) {
    return { ok: false, code: 'isv.PARAM_LENGTH_LIMIT', message: `参数超出长度限制 ${tooLong}` };
  }
  return { ok: true, text: `【${signName}】${text}` };
}

/** Tencent's: as many positional params as the template has, none too long. */
function checkTencentParams(
  template: { content: string },
  signName: string,
  params: Record<string, string> | string[],
): SendCheck {
  const list = Array.isArray(params) ? params : Object.values(params);
  const slots = [...template.content.matchAll(/\{([0-9]+)\}/g)].map((m) => Number(m[1]));
  const count = slots.length === 0 ? 0 : Math.max(...slots);
  if (list.length !== count) {
    return {
      ok: false,
      perNumber: true,
      code: 'InvalidParameterValue.TemplateParameterFormatError',
      message: `the template has ${count} parameters, the request ${list.length}`,
    };
  }
  if (list.some((v) => [...v].length > TENCENT_MAX)) {
    return {
      ok: false,
      perNumber: true,
      code: 'InvalidParameterValue.TemplateParameterLengthLimit',
      message: `a parameter is longer than ${TENCENT_MAX} characters`,
    };
  }
  const text = template.content.replace(
    /\{([0-9]+)\}/g,
    (_m, n: string) => list[Number(n) - 1] ?? '',
  );
  return { ok: true, text: `【${signName}】${text}` };
}

/** What the vendor says to a SendSms for this signature, template and params. */
export function checkSend(
  catalog: Catalog,
  account: SimAccount,
  signName: string,
  templateId: string,
  params: Record<string, string> | string[],
): SendCheck {
  const c = catalog.of(account.id);
  const b = account.behaviour;
  const template = c.templates.get(templateId);
  const aliyun = account.vendor === 'aliyun';
  if (!template || statusOf(template, b) !== 'approved') {
    return aliyun
      ? { ok: false, code: 'isv.SMS_TEMPLATE_ILLEGAL', message: '模板不合法(不存在或被拉黑)' }
      : {
          ok: false,
          code: 'FailedOperation.TemplateIncorrectOrUnapproved',
          message:
            'template is not approved or request content does not match the approved template content',
        };
  }
  const signature = c.signatures.get(signName);
  if (!signature || statusOf(signature, b) !== 'approved') {
    return aliyun
      ? { ok: false, code: 'isv.SMS_SIGNATURE_ILLEGAL', message: '签名不合法(不存在或被拉黑)' }
      : {
          ok: false,
          code: 'FailedOperation.SignatureIncorrectOrUnapproved',
          message: 'signature is not approved or signature format is incorrect',
        };
  }
  return aliyun
    ? checkAliyunParams(template, signName, params)
    : checkTencentParams(template, signName, params);
}
