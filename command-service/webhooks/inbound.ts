// An inbound SMS pushed by a vendor: recorded once (its id derives from the
// push), linked to the message it answers, and a STOP-style keyword opts the
// number out (or in) for that message's tenant.
import { createHash } from 'node:crypto';
import {
  optInKeyword,
  optOutDecider,
  optOutKeyword,
  optOutStream,
} from '../../domain/inbound/index.ts';
import type { SupplierAccount } from '../../platform/config/index.ts';
import type { Redis } from 'ioredis';
import {
  WrongExpectedVersionError,
  type EventMetadata,
  type EventStore,
} from '../../platform/eventStore/index.ts';
import type { Logger } from '../../platform/logger/index.ts';
import {
  lastMessageByAccountKey,
  lastMessageByExtendKey,
  lastMessageKey,
  type LastMessage,
} from '../../platform/suppliers/lastMessage.ts';
import type { InboundSms } from '../../suppliers/pushes.ts';
import { inboundStream } from '../../contracts/index.ts';
import { handle } from '../commandHandling/index.ts';
import { extendCodeHolder } from '../managingTemplates/index.ts';

type Vendor = 'aliyun' | 'tencent';

/** What recording an inbound SMS reads and writes (the webhooks' deps have them). */
interface InboundDeps {
  eventStore: EventStore;
  redis: Redis;
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

/**
 * The message an inbound SMS answers (written by the dispatcher). With an
 * extension code: the tenant holding the code on this account (codes are
 * unique per account), linked to the last message it sent to the number with
 * that code. Without a code, or with one nobody holds: the last message sent
 * to the number through this account, never another account's.
 */
async function answered(
  deps: InboundDeps,
  prefix: string,
  account: SupplierAccount,
  m: InboundSms,
): Promise<Partial<LastMessage>> {
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
}

/** Appends inbound.received; on a repeated push, the link recorded the first time. */
async function appendInbound(
  deps: InboundDeps,
  id: string,
  data: Record<string, unknown>,
  meta: Partial<EventMetadata>,
  last: Partial<LastMessage>,
): Promise<Partial<LastMessage>> {
  try {
    await deps.eventStore.append(
      inboundStream(id),
      [{ type: 'inbound.received.v1', data, metadata: meta }],
      'no_stream',
    );
    return last;
  } catch (err) {
    // a repeated push: already recorded; the opt-out below is idempotent too,
    // and goes to the tenant linked then (another may have sent to the number since)
    if (!(err instanceof WrongExpectedVersionError)) throw err;
    const [first] = await deps.eventStore.readStream(inboundStream(id));
    const linked = (first?.data ?? {}) as { tenantId?: string; linkedMessageId?: string };
    return { tenantId: linked.tenantId, messageId: linked.linkedMessageId };
  }
}

/** Records one inbound SMS and applies its opt-out or opt-in keyword. */
export async function recordInbound(
  ctx: { deps: InboundDeps; prefix: string; log: Logger },
  vendor: Vendor,
  account: SupplierAccount,
  m: InboundSms,
  meta: Partial<EventMetadata>,
): Promise<void> {
  const { deps, log } = ctx;
  const id = inboundId(account.id, m);
  const answers = await answered(deps, ctx.prefix, account, m);
  const data: Record<string, unknown> = {
    inboundId: id,
    supplierAccount: account.id,
    vendor,
    mobile: m.mobile,
    content: m.text,
    receivedAt: m.receivedAt.toISOString(),
    ...(answers.tenantId ? { tenantId: answers.tenantId } : {}),
    ...(answers.messageId ? { linkedMessageId: answers.messageId } : {}),
    ...(m.extendCode !== undefined ? { extendCode: m.extendCode } : {}),
    ...(m.signName !== undefined ? { signName: m.signName } : {}),
  };
  const last = await appendInbound(deps, id, data, meta, answers);
  const optIn = optInKeyword(m.text);
  const keyword = optOutKeyword(m.text) ?? optIn;
  if (keyword !== undefined && last.tenantId) {
    const tenantId = last.tenantId;
    await handle(
      deps.eventStore,
      optOutDecider,
      optOutStream(tenantId, m.mobile),
      {
        type: optIn ? 'OptIn' : 'OptOut',
        data: { tenantId, mobile: m.mobile, keyword, inboundId: id },
      },
      meta,
    );
  } else if (keyword !== undefined) {
    log.warn('opt-out keyword from a number no tenant sent to; nothing to opt out of', {
      vendor,
      account: account.id,
    });
  }
}
