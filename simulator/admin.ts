// Admin API of the simulator (JSON): configure accounts and behaviour, read
// what was received and accepted, trigger inbound messages, reset.
// POST /admin/inbound {accountId, mobile, text, extend?, replyTo?, signName?}
// pushes a reply from a handset: `extend` goes out as Aliyun dest_code /
// Tencent extend; `replyTo` (one of our message ids the account took) answers
// that message, with its mobile and the extension code it was sent with.
import { Router, type Request, type Response } from 'express';
import { statusOf } from './catalog.ts';
import type { SimContext } from './context.ts';
import { statusModesRouter } from './statusModes.ts';
import {
  type AccountConfig,
  type Behaviour,
  chinaTime,
  DEFAULT_BEHAVIOUR,
  normalizeMobile,
  type SimAccount,
  type SimMessage,
  splitMobile,
} from './state.ts';

/** An account as given to PUT /admin/accounts/:id, the accounts file or STREAMING_SIMULATOR_ACCOUNTS. */
export type AccountSpec = Partial<AccountConfig> & {
  id: string;
  behaviour?: Partial<Behaviour>;
} & Partial<Behaviour>;

const RATE_KEYS = [
  'rejectRate',
  'transientRate',
  'timeoutAfterAcceptRate',
  'dropReceiptRate',
  'duplicateReceiptRate',
  'deliverFailRate',
] as const;
const COUNT_KEYS = [
  'latencyMs',
  'hangMs',
  'receiptDelayMs',
  'queryLagMs',
  'seed',
  'pushBatchSize',
  'pushBatchWindowMs',
  'pushRetries',
  'pushRetryBaseMs',
  'reviewDelayMs',
] as const;

export class SpecError extends Error {
  readonly issues: string[];
  constructor(issues: string[]) {
    super(issues.join('; '));
    this.issues = issues;
  }
}

function behaviourOf(spec: Record<string, unknown>, issues: string[]): Partial<Behaviour> {
  const nested = spec.behaviour;
  const src: Record<string, unknown> = {
    ...spec,
    ...(nested !== null && typeof nested === 'object' ? (nested as Record<string, unknown>) : {}),
  };
  const out: Partial<Behaviour> = {};
  for (const k of RATE_KEYS) {
    const v = src[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || v < 0 || v > 1) issues.push(`${k}: expected a number in [0, 1]`);
    else out[k] = v;
  }
  for (const k of COUNT_KEYS) {
    const v = src[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      issues.push(`${k}: expected a number >= 0`);
    else out[k] = v;
  }
  if (src.rejectAfter !== undefined) {
    const v = src.rejectAfter;
    if (v !== null && (typeof v !== 'number' || !Number.isInteger(v) || v < 0))
      issues.push('rejectAfter: expected a whole number or null');
    else out.rejectAfter = v;
  }
  if (src.reorderReceipts !== undefined) {
    if (typeof src.reorderReceipts !== 'boolean')
      issues.push('reorderReceipts: expected a boolean');
    else out.reorderReceipts = src.reorderReceipts;
  }
  if (src.reviewRejectPattern !== undefined) {
    const v = src.reviewRejectPattern;
    let valid = v === null;
    if (typeof v === 'string') {
      try {
        new RegExp(v);
        valid = true;
      } catch {
        valid = false;
      }
    }
    if (!valid) issues.push('reviewRejectPattern: expected a regular expression or null');
    else out.reviewRejectPattern = v as string | null;
  }
  for (const k of [
    'rejectCode',
    'transientCode',
    'deliverFailCode',
    'reviewRejectReason',
  ] as const) {
    const v = src[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') issues.push(`${k}: expected a non-empty string`);
    else out[k] = v;
  }
  return out;
}

/** Create or reconfigure an account from a spec; throws SpecError listing every problem. */
export function applyAccountSpec(ctx: SimContext, id: string, raw: unknown): SimAccount {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new SpecError(['body: expected a JSON object']);
  const spec = raw as Record<string, unknown>;
  const issues: string[] = [];
  const existing = ctx.state.accounts.get(id);
  const str = (k: string): string | undefined => {
    const v = spec[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      issues.push(`${k}: expected a string`);
      return undefined;
    }
    return v;
  };
  const vendor = str('vendor') ?? existing?.vendor;
  if (vendor !== 'aliyun' && vendor !== 'tencent')
    issues.push('vendor: expected "aliyun" or "tencent"');
  const accessKeyId = str('accessKeyId') ?? existing?.accessKeyId;
  if (!accessKeyId) issues.push('accessKeyId: required');
  const accessKeySecret = str('accessKeySecret') ?? existing?.accessKeySecret;
  if (!accessKeySecret) issues.push('accessKeySecret: required');
  for (const k of ['receiptUrl', 'inboundUrl'] as const) {
    const v = str(k);
    if (v !== undefined && v !== '' && !/^https?:\/\//.test(v))
      issues.push(`${k}: expected an http(s) URL`);
  }
  const behaviour = behaviourOf(spec, issues);
  if (issues.length > 0) throw new SpecError(issues);
  const optional = (
    k: 'appId' | 'receiptUrl' | 'inboundUrl' | 'signName',
  ): Partial<AccountConfig> => {
    const v = spec[k] === undefined ? existing?.[k] : str(k);
    return v ? { [k]: v } : {};
  };
  const clash = ctx.state.findByKey(vendor as 'aliyun', accessKeyId ?? '');
  if (clash && clash.id !== id)
    throw new SpecError([`accessKeyId: already used by account ${clash.id}`]);
  const config: AccountConfig = {
    id,
    vendor: vendor as AccountConfig['vendor'],
    accessKeyId: accessKeyId ?? '',
    accessKeySecret: accessKeySecret ?? '',
    ...optional('appId'),
    ...optional('receiptUrl'),
    ...optional('inboundUrl'),
    ...optional('signName'),
  };
  return ctx.state.upsertAccount(config, behaviour);
}

function publicAccount(a: SimAccount): Record<string, unknown> {
  return {
    id: a.id,
    vendor: a.vendor,
    accessKeyId: a.accessKeyId,
    accessKeySecret: '***',
    appId: a.appId,
    receiptUrl: a.receiptUrl,
    inboundUrl: a.inboundUrl,
    signName: a.signName,
    behaviour: a.behaviour,
  };
}

function publicMessage(m: SimMessage): Record<string, unknown> {
  return {
    accountId: m.accountId,
    vendor: m.vendor,
    messageId: m.messageId,
    supplierMessageId: m.supplierMessageId,
    mobile: m.mobile,
    signName: m.signName,
    templateCode: m.templateCode,
    params: m.params,
    content: m.content,
    segments: m.segments,
    extendCode: m.extendCode,
    status: m.status,
    errCode: m.errCode,
    sentAt: m.sentAt.toISOString(),
    reportedAt: m.reportedAt?.toISOString(),
  };
}

function bad(res: Response, status: number, error: string, issues?: string[]): void {
  res.status(status).json({ error, ...(issues ? { issues } : {}) });
}

/** The accounts: their settings, stats and what they received. */
function accountRoutes(r: Router, ctx: SimContext): void {
  const { state } = ctx;
  r.get('/accounts', (_req, res) => {
    res.json({ accounts: [...state.accounts.values()].map(publicAccount) });
  });

  r.put('/accounts/:id', (req: Request<{ id: string }>, res) => {
    try {
      const account = applyAccountSpec(ctx, req.params.id, req.body);
      res.json(publicAccount(account));
    } catch (err) {
      if (err instanceof SpecError) return bad(res, 400, 'invalid account', err.issues);
      throw err;
    }
  });

  r.get('/accounts/:id', (req: Request<{ id: string }>, res) => {
    const a = state.accounts.get(req.params.id);
    if (!a) return bad(res, 404, 'no such account');
    res.json(publicAccount(a));
  });

  r.delete('/accounts/:id', (req: Request<{ id: string }>, res) => {
    const deleted = state.accounts.delete(req.params.id);
    res.status(deleted ? 200 : 404).json({ deleted });
  });

  r.get('/accounts/:id/stats', (req: Request<{ id: string }>, res) => {
    const a = state.accounts.get(req.params.id);
    if (!a) return bad(res, 404, 'no such account');
    const byMessageId: Record<string, { received: number; accepted: number }> = {};
    const prefix = `${a.id}\0`;
    for (const [k, c] of state.accountCounts) {
      if (k.startsWith(prefix)) byMessageId[k.slice(prefix.length)] = { ...c };
    }
    res.json({ id: a.id, vendor: a.vendor, ...a.stats, byMessageId });
  });

  // what the account received, with the text as rendered from its own template
  r.get('/accounts/:id/messages', (req: Request<{ id: string }>, res) => {
    const a = state.accounts.get(req.params.id);
    if (!a) return bad(res, 404, 'no such account');
    const raw = typeof req.query.mobile === 'string' ? req.query.mobile : undefined;
    const mobile = raw === undefined ? undefined : normalizeMobile(raw);
    if (raw !== undefined && !mobile) return bad(res, 400, 'mobile: not a valid number');
    const messages = state.messages.filter(
      (m) => m.accountId === a.id && (mobile === undefined || m.mobile === mobile),
    );
    res.json({
      total: messages.length,
      messages: messages.slice(-1000).map((m) => ({ ...publicMessage(m), text: m.content })),
    });
  });
}

/** Signatures and templates at the vendor. */
function catalogRoutes(r: Router, ctx: SimContext): void {
  const { state } = ctx;
  // signatures and templates as the vendor console shows them; PUT seeds an
  // approved one (a template the tenant already has at the vendor)
  r.get('/accounts/:id/catalog', (req: Request<{ id: string }>, res) => {
    const a = state.accounts.get(req.params.id);
    if (!a) return bad(res, 404, 'no such account');
    const c = ctx.catalog.of(a.id);
    res.json({
      signatures: [...c.signatures.values()].map((s) => ({
        ...s,
        status: statusOf(s, a.behaviour),
      })),
      templates: [...c.templates.values()].map((t) => ({ ...t, status: statusOf(t, a.behaviour) })),
    });
  });
  r.put(
    '/accounts/:id/templates/:templateId',
    (req: Request<{ id: string; templateId: string }>, res) => {
      const a = state.accounts.get(req.params.id);
      if (!a) return bad(res, 404, 'no such account');
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (typeof body.content !== 'string' || body.content === '')
        return bad(res, 400, 'content: required');
      const verdict = body.status === 'rejected' ? 'rejected' : 'approved';
      ctx.catalog.seedTemplate(a.id, {
        id: req.params.templateId,
        name: typeof body.name === 'string' ? body.name : req.params.templateId,
        content: body.content,
        type: typeof body.type === 'number' ? body.type : 1,
        verdict,
        ...(verdict === 'rejected' ? { reason: a.behaviour.reviewRejectReason } : {}),
      });
      res.json({ id: req.params.templateId, status: verdict });
    },
  );
  r.put('/accounts/:id/signatures/:name', (req: Request<{ id: string; name: string }>, res) => {
    const a = state.accounts.get(req.params.id);
    if (!a) return bad(res, 404, 'no such account');
    const body = (req.body ?? {}) as Record<string, unknown>;
    ctx.catalog.seedSignature(
      a.id,
      req.params.name,
      body.status === 'rejected' ? 'rejected' : 'approved',
    );
    res.json({
      name: req.params.name,
      status: body.status === 'rejected' ? 'rejected' : 'approved',
    });
  });
}

/** Every account's messages and the counts per message id. */
function messageRoutes(r: Router, ctx: SimContext): void {
  const { state } = ctx;
  r.get('/messages', (req, res) => {
    const outId = typeof req.query.outId === 'string' ? req.query.outId : undefined;
    const accountId = typeof req.query.accountId === 'string' ? req.query.accountId : undefined;
    const messages = state.messages.filter(
      (m) =>
        (outId === undefined || m.messageId === outId) &&
        (accountId === undefined || m.accountId === accountId),
    );
    const counts =
      outId !== undefined ? (state.counts.get(outId) ?? { received: 0, accepted: 0 }) : undefined;
    res.json({
      ...(outId !== undefined ? { outId, ...counts } : {}),
      total: messages.length,
      messages: messages.slice(-1000).map(publicMessage),
    });
  });

  r.get('/received', (_req, res) => {
    const byMessageId: Record<string, number> = {};
    const acceptedByMessageId: Record<string, number> = {};
    for (const [id, c] of state.counts) {
      byMessageId[id] = c.received;
      acceptedByMessageId[id] = c.accepted;
    }
    res.json({ byMessageId, acceptedByMessageId });
  });
}

/** A pushed inbound SMS in the account's vendor's format. */
function inboundPayload(
  state: SimContext['state'],
  account: SimAccount,
  mobile: string,
  text: string,
  extend: string,
  sign: string,
) {
  const { nationCode, national } = splitMobile(mobile);
  const now = new Date();
  return account.vendor === 'aliyun'
    ? [
        {
          phone_number: nationCode === '86' ? national : mobile.slice(1),
          send_time: chinaTime(now),
          content: text,
          sign_name: sign,
          dest_code: extend,
          sequence_id: state.nextSerial(),
        },
      ]
    : {
        extend,
        mobile: national,
        nationcode: nationCode,
        sign,
        text,
        time: Math.floor(now.getTime() / 1000),
      };
}

/** An inbound SMS from a number, pushed to the account's inboundUrl. */
function inboundRoutes(r: Router, ctx: SimContext): void {
  const { state } = ctx;
  r.post('/inbound', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const account =
      typeof body.accountId === 'string' ? state.accounts.get(body.accountId) : undefined;
    if (!account) return bad(res, 404, 'no such account');
    if (!account.inboundUrl) return bad(res, 409, 'account has no inboundUrl');
    let original: SimMessage | undefined;
    if (body.replyTo !== undefined) {
      original = state.messages.findLast(
        (m) => m.accountId === account.id && m.messageId === body.replyTo,
      );
      if (!original) return bad(res, 404, 'replyTo: this account took no such message');
    }
    const given = typeof body.mobile === 'string' ? normalizeMobile(body.mobile) : undefined;
    const mobile = given ?? (body.mobile === undefined ? original?.mobile : undefined);
    if (!mobile) return bad(res, 400, 'mobile: expected a phone number');
    if (typeof body.text !== 'string' || body.text === '')
      return bad(res, 400, 'text: expected a non-empty string');
    if (body.extend !== undefined && typeof body.extend !== 'string')
      return bad(res, 400, 'extend: expected a string');
    const extend = typeof body.extend === 'string' ? body.extend : (original?.extendCode ?? '');
    const sign = typeof body.signName === 'string' ? body.signName : (account.signName ?? '');
    const payload = inboundPayload(state, account, mobile, body.text, extend, sign);
    const pushed = await ctx.pusher.push(account, account.inboundUrl, payload, 1, 'inbound');
    res.status(pushed ? 200 : 502).json({ pushed, payload });
  });
}

export function adminRouter(ctx: SimContext): Router {
  const r = Router();
  const { state } = ctx;

  r.use(statusModesRouter(ctx));

  r.get('/health', (_req, res) => {
    res.json({ ok: true, accounts: state.accounts.size, messages: state.messages.length });
  });
  accountRoutes(r, ctx);
  catalogRoutes(r, ctx);
  messageRoutes(r, ctx);
  inboundRoutes(r, ctx);

  r.post('/reset', (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    ctx.reset(body.accounts === true);
    res.json({ reset: true });
  });

  r.get('/defaults', (_req, res) => {
    res.json({ behaviour: DEFAULT_BEHAVIOUR });
  });

  return r;
}
