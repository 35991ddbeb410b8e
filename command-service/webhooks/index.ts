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
  allowList,
  allows,
  type Config,
  type SupplierAccount,
} from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import {
  type EventMetadata,
  type EventStore,
  type NewEvent,
} from '../../platform/eventStore/index.ts';
import { outage } from '../../platform/health/index.ts';
import type { Logger } from '../../platform/logger/index.ts';
import type { Tracker } from '../../platform/tracking/index.ts';
import {
  ALIYUN_PUSH_ACK,
  parseAliyunInbound,
  parseAliyunReceipts,
  parseTencentInbound,
  parseTencentReceipts,
  ReceiptParseError,
  TENCENT_PUSH_ACK,
  type DeliveryReceipt,
} from '../../suppliers/pushes.ts';
import { receiptsStream } from '../../contracts/index.ts';
import { recordInbound } from './inbound.ts';
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

const PARSERS = {
  aliyun: { receipts: parseAliyunReceipts, inbound: parseAliyunInbound, ack: ALIYUN_PUSH_ACK },
  tencent: {
    receipts: parseTencentReceipts,
    inbound: parseTencentInbound,
    ack: TENCENT_PUSH_ACK,
  },
} as const;

/** What the handlers share: their deps, the Redis prefix, the log, each account's networks. */
interface WebhookContext {
  deps: WebhookDeps;
  prefix: string;
  log: Logger;
  /** per account with webhookSourceCidrs: the networks its pushes may come from */
  sources: Map<string, ReturnType<typeof allowList>>;
}

function accountOf(ctx: WebhookContext, req: Request, vendor: Vendor): SupplierAccount {
  const { deps, log } = ctx;
  const account = authenticate(deps.config.suppliers, vendor, tokenOf(req));
  if (!account) {
    log.warn('webhook rejected: wrong or missing secret', { vendor, path: req.path });
    throw new AppError('WEBHOOK_UNAUTHENTICATED');
  }
  // req.ip: the peer, or what the trusted proxies saw (STREAMING_TRUST_PROXY_HOPS)
  const allowed = ctx.sources.get(account.id);
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
}

function parsed<T>(
  log: Logger,
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

export function webhookRouter(deps: WebhookDeps): Router {
  const router = Router();
  const log = deps.logger.child({ component: 'webhooks' });
  const ctx: WebhookContext = {
    deps,
    prefix: redisPrefixOf(deps),
    log,
    sources: new Map(
      deps.config.suppliers.flatMap((a) =>
        a.webhookSourceCidrs ? [[a.id, allowList(a.webhookSourceCidrs)] as const] : [],
      ),
    ),
  };

  // the vendor retries a refused push: one line when storing starts failing, one when it works again
  const storing = outage(log, 'webhooks', 'the event store (pushes refused with 503)');
  const unavailable = (err: unknown): never => {
    if (err instanceof AppError) throw err;
    storing.failed(err);
    throw new AppError('DEPENDENCY_UNAVAILABLE', 'The push could not be stored; retry later.');
  };

  const receipts = (vendor: Vendor) => async (req: Request, res: Response) => {
    const account = accountOf(ctx, req, vendor);
    const items = parsed(log, PARSERS[vendor].receipts, req, vendor, 'receipts');
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
    res.status(200).json(PARSERS[vendor].ack);
  };

  const inbound = (vendor: Vendor) => async (req: Request, res: Response) => {
    const account = accountOf(ctx, req, vendor);
    const items = parsed(log, PARSERS[vendor].inbound, req, vendor, 'inbound');
    deps.tracker.track({
      type: 'webhook.received',
      kind: 'inbound',
      vendor,
      supplierAccount: account.id,
    });
    const meta = metadata(req, account);
    try {
      for (const m of items) await recordInbound(ctx, vendor, account, m, meta);
    } catch (err) {
      unavailable(err);
    }
    storing.ok();
    res.status(200).json(PARSERS[vendor].ack);
  };

  for (const vendor of ['aliyun', 'tencent'] as const) {
    router.post(`/${vendor}/receipts`, receipts(vendor));
    router.post(`/${vendor}/inbound`, inbound(vendor));
  }
  return router;
}
