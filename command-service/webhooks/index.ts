// Supplier webhooks, mounted by the command service at /v1/webhooks:
//   POST /aliyun/receipts   POST /aliyun/inbound
//   POST /tencent/receipts  POST /tencent/inbound
// Each push is authenticated per supplier account by its webhookSecret (the
// `token` query parameter or the X-Webhook-Token header, compared in constant
// time), parsed strictly, appended, and answered in the vendor's success
// format. Receipts are appended as receipt.received.v1 and applied to their
// messages by processors/ (so the vendor gets its answer fast); inbound SMS
// become inbound.received.v1, linked to the message they answer, and
// STOP-style keywords opt the number out for that message's tenant.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import {
  optInKeyword,
  optOutDecider,
  optOutKeyword,
  optOutStream,
} from '../../domain/inbound/index.ts';
import {
  allowList,
  allows,
  type Config,
  type SupplierAccount,
} from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import {
  WrongExpectedVersionError,
  type EventMetadata,
  type EventStore,
  type NewEvent,
} from '../../platform/eventStore/index.ts';
import { outage } from '../../platform/health/index.ts';
import type { Logger } from '../../platform/logger/index.ts';
import type { Tracker } from '../../platform/tracking/index.ts';
import { handle } from '../commandHandling/index.ts';
import { extendCodeHolder } from '../managingTemplates/index.ts';
import {
  lastMessageByAccountKey,
  lastMessageByExtendKey,
  lastMessageKey,
  type LastMessage,
} from '../../platform/suppliers/lastMessage.ts';
import {
  ALIYUN_PUSH_ACK,
  parseAliyunInbound,
  parseAliyunReceipts,
  parseTencentInbound,
  parseTencentReceipts,
  ReceiptParseError,
  TENCENT_PUSH_ACK,
  type DeliveryReceipt,
  type InboundSms,
} from '../../suppliers/pushes.ts';
import { inboundStream, receiptsStream } from '../../contracts/index.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';

export interface WebhookDeps {
  config: Pick<Config, 'suppliers'>;
  logger: Logger;
  eventStore: EventStore;
  redis: Redis;
  tracker: Tracker;
  /** Prefix of the processors' Redis keys (default: Config redis.prefix); must match theirs. */
  redisPrefix?: string;
}

type Vendor = 'aliyun' | 'tencent';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function tokenOf(req: Request): string | undefined {
  const q = req.query.token;
  if (typeof q === 'string' && q !== '') return q;
  const h = req.headers['x-webhook-token'];
  return typeof h === 'string' && h !== '' ? h : undefined;
}

/** The account whose secret the push carries; every candidate is compared, in constant time. */
export function authenticate(
  accounts: readonly SupplierAccount[],
  vendor: Vendor,
  token: string | undefined,
): SupplierAccount | undefined {
  const given = digest(token ?? '');
  let found: SupplierAccount | undefined;
  for (const a of accounts) {
    if (a.vendor !== vendor) continue;
    if (timingSafeEqual(given, digest(a.webhookSecret)) && token !== undefined) found ??= a;
  }
  return found;
}

function inboundId(account: string, m: InboundSms): string {
  return createHash('sha256')
    .update(
      [
        account,
        m.mobile,
        m.receivedAt.toISOString(),
        m.text,
        m.sequenceId ?? '',
        m.extendCode ?? '',
      ].join('\u0000'),
    )
    .digest('hex')
    .slice(0, 32);
}

function receiptEvent(account: SupplierAccount, r: DeliveryReceipt): NewEvent['data'] {
  return {
    account: account.id,
    vendor: r.vendor,
    supplierMessageId: r.supplierMessageId,
    ...(r.messageId !== undefined ? { messageId: r.messageId } : {}),
    delivered: r.delivered,
    ...(r.errorCode !== undefined ? { errorCode: r.errorCode } : {}),
    ...(r.errorMessage !== undefined ? { errorMessage: r.errorMessage } : {}),
    reportedAt: r.reportedAt.toISOString(),
    ...(r.mobile ? { mobile: r.mobile } : {}),
  };
}

export function webhookRouter(deps: WebhookDeps): Router {
  const router = Router();
  const prefix = redisPrefixOf(deps);
  const log = deps.logger.child({ component: 'webhooks' });

  const parsers = {
    aliyun: { receipts: parseAliyunReceipts, inbound: parseAliyunInbound, ack: ALIYUN_PUSH_ACK },
    tencent: {
      receipts: parseTencentReceipts,
      inbound: parseTencentInbound,
      ack: TENCENT_PUSH_ACK,
    },
  } as const;

  // per account with webhookSourceCidrs: the networks its pushes may come from
  const sources = new Map(
    deps.config.suppliers.flatMap((a) =>
      a.webhookSourceCidrs ? [[a.id, allowList(a.webhookSourceCidrs)] as const] : [],
    ),
  );

  const accountOf = (req: Request, vendor: Vendor): SupplierAccount => {
    const account = authenticate(deps.config.suppliers, vendor, tokenOf(req));
    if (!account) {
      log.warn('webhook rejected: wrong or missing secret', { vendor, path: req.path });
      throw new AppError('WEBHOOK_UNAUTHENTICATED');
    }
    // req.ip: the peer, or what the trusted proxies saw (STREAMING_TRUST_PROXY_HOPS)
    const allowed = sources.get(account.id);
    if (allowed && !allows(allowed, req.ip)) {
      log.warn('webhook rejected: source outside the account networks', {
        vendor,
        account: account.id,
        source: req.ip,
      });
      throw new AppError(
        'WEBHOOK_SOURCE_FORBIDDEN',
        `Pushes for account ${account.id} are accepted only from its webhookSourceCidrs.`,
        { account: account.id },
      );
    }
    return account;
  };

  function parsed<T>(
    parse: (body: unknown) => T[],
    req: Request,
    vendor: Vendor,
    kind: string,
  ): T[] {
    try {
      const items = parse(req.rawBody ?? req.body);
      if (items.length === 0) throw new ReceiptParseError(kind, ['no items']);
      return items;
    } catch (err) {
      if (err instanceof ReceiptParseError) {
        log.warn('webhook rejected: malformed payload', { vendor, kind, issues: err.issues });
        throw new AppError('WEBHOOK_PAYLOAD_INVALID', err.message.slice(0, 500), {
          issues: err.issues.slice(0, 20),
        });
      }
      throw err;
    }
  }

  const metadata = (req: Request, account: SupplierAccount): Partial<EventMetadata> => ({
    correlationId: req.correlationId,
    requestId: req.requestId,
    actor: { type: 'supplier', id: account.id },
  });

  /**
   * The message an inbound SMS answers (written by the dispatcher). With an
   * extension code: the tenant holding the code on this account (codes are
   * unique per account), linked to the last message it sent to the number with
   * that code. Without a code, or with one nobody holds: the last message sent
   * to the number through this account, never another account's.
   */
  const answered = async (
    account: SupplierAccount,
    m: InboundSms,
  ): Promise<Partial<LastMessage>> => {
    const code = m.extendCode;
    const keys = [
      lastMessageByAccountKey(prefix, m.mobile, account.id),
      lastMessageKey(prefix, m.mobile),
      ...(code !== undefined ? [lastMessageByExtendKey(prefix, m.mobile, code, account.id)] : []),
    ];
    const [holder, raw] = await Promise.all([
      code !== undefined ? extendCodeHolder(deps.eventStore, account.id, code) : undefined,
      deps.redis.mget(...keys),
    ]);
    const [byAccount, any, byCode] = raw.map((v) =>
      v === null ? undefined : (JSON.parse(v) as LastMessage),
    );
    if (holder !== undefined) return byCode?.tenantId === holder ? byCode : { tenantId: holder };
    if (byCode) return byCode; // a code used before codes were reserved
    if (byAccount) return byAccount;
    // noted before the per-account keys existed: only if this account sent it
    return any?.account === account.id ? any : {};
  };

  // the vendor retries a refused push: one line when storing starts failing, one when it works again
  const storing = outage(log, 'webhooks', 'the event store (pushes refused with 503)');
  const unavailable = (err: unknown): never => {
    if (err instanceof AppError) throw err;
    storing.failed(err);
    throw new AppError('DEPENDENCY_UNAVAILABLE', 'The push could not be stored; retry later.');
  };

  const receipts = (vendor: Vendor) => async (req: Request, res: Response) => {
    const account = accountOf(req, vendor);
    const items = parsed(parsers[vendor].receipts, req, vendor, 'receipts');
    deps.tracker.track({
      type: 'webhook.received',
      kind: 'receipts',
      vendor,
      supplierAccount: account.id,
    });
    const meta = metadata(req, account);
    await deps.eventStore
      .append(
        receiptsStream(account.id),
        items.map((r) => ({
          type: 'receipt.received.v1',
          data: receiptEvent(account, r),
          metadata: meta,
        })),
        'any',
      )
      .catch(unavailable);
    storing.ok();
    res.status(200).json(parsers[vendor].ack);
  };

  const optOut = async (
    tenantId: string,
    mobile: string,
    keyword: string,
    id: string,
    meta: Partial<EventMetadata>,
    type: 'OptOut' | 'OptIn' = 'OptOut',
  ) => {
    await handle(
      deps.eventStore,
      optOutDecider,
      optOutStream(tenantId, mobile),
      { type, data: { tenantId, mobile, keyword, inboundId: id } },
      meta,
    );
  };

  const inbound = (vendor: Vendor) => async (req: Request, res: Response) => {
    const account = accountOf(req, vendor);
    const items = parsed(parsers[vendor].inbound, req, vendor, 'inbound');
    deps.tracker.track({
      type: 'webhook.received',
      kind: 'inbound',
      vendor,
      supplierAccount: account.id,
    });
    const meta = metadata(req, account);
    try {
      for (const m of items) {
        const id = inboundId(account.id, m);
        let last = await answered(account, m);
        const data: Record<string, unknown> = {
          inboundId: id,
          supplierAccount: account.id,
          vendor,
          mobile: m.mobile,
          content: m.text,
          receivedAt: m.receivedAt.toISOString(),
          ...(last.tenantId ? { tenantId: last.tenantId } : {}),
          ...(last.messageId ? { linkedMessageId: last.messageId } : {}),
          ...(m.extendCode !== undefined ? { extendCode: m.extendCode } : {}),
          ...(m.signName !== undefined ? { signName: m.signName } : {}),
        };
        try {
          await deps.eventStore.append(
            inboundStream(id),
            [{ type: 'inbound.received.v1', data, metadata: meta }],
            'no_stream',
          );
        } catch (err) {
          // a repeated push: already recorded; the opt-out below is idempotent too,
          // and goes to the tenant linked then (another may have sent to the number since)
          if (!(err instanceof WrongExpectedVersionError)) throw err;
          const [first] = await deps.eventStore.readStream(inboundStream(id));
          const linked = (first?.data ?? {}) as { tenantId?: string; linkedMessageId?: string };
          last = { tenantId: linked.tenantId, messageId: linked.linkedMessageId };
        }
        const optIn = optInKeyword(m.text);
        const keyword = optOutKeyword(m.text) ?? optIn;
        if (keyword !== undefined && last.tenantId) {
          await optOut(last.tenantId, m.mobile, keyword, id, meta, optIn ? 'OptIn' : 'OptOut');
        } else if (keyword !== undefined) {
          log.warn('opt-out keyword from a number no tenant sent to; nothing to opt out of', {
            vendor,
            account: account.id,
          });
        }
      }
    } catch (err) {
      unavailable(err);
    }
    storing.ok();
    res.status(200).json(parsers[vendor].ack);
  };

  for (const vendor of ['aliyun', 'tencent'] as const) {
    router.post(`/${vendor}/receipts`, receipts(vendor));
    router.post(`/${vendor}/inbound`, inbound(vendor));
  }
  return router;
}
