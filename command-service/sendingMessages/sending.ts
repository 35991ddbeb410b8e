// Accepting one message: sendMessage (POST /v1/messages) and, for each
// recipient of a batch, acceptRecipient.
import { randomUUID } from 'node:crypto';
import {
  checkParams,
  checkSendAt,
  checkSendable,
  fillPlaceholders,
  quietUntil,
  type ExistingTemplate,
  type Params,
  type Route,
} from '../../domain/index.ts';
import type { Principal } from '../../platform/auth/index.ts';
import type { Reservation } from '../../platform/rateLimits/index.ts';
import type { CommandDeps } from '../deps.ts';
import type { Meta } from '../commandHandling/index.ts';
import { loadTemplate } from '../managingTemplates/index.ts';
import { checkStatusCallback } from '../managingCallbacks/index.ts';
import { platformLimitsFor } from '../managingTenants/index.ts';
import {
  appendAccepted,
  approvedRoutes,
  checkOptOut,
  e164Of,
  existingAnswer,
  fittingRoutes,
  fromTemplate,
  idempotentMessageId,
  measure,
  requestHash,
  reserveOrRefuse,
  type AcceptedAnswer,
} from './accepting.ts';

export interface SendInput {
  templateCode: string;
  mobile: string;
  params?: Params;
  idempotencyKey?: string | undefined;
  /** RFC 3339, in the future and at most 30 days ahead. */
  sendAt?: string | undefined;
  /** A URL told of this message's status changes (processors/callbacks). */
  statusCallback?: string | undefined;
}

export type SendAnswer = AcceptedAnswer & {
  repeated: boolean;
  sendAt?: string;
  notBefore?: string;
};

/**
 * 1. the caller owns the template (or is admin) and the fields of the request
 * are well formed; then acceptRecipient, which owns the order of every check
 * of the recipient (params before the template's review). With an Idempotency-Key the message id is derived from
 * (tenant, key), so a repeat meets an existing stream and gets the first answer.
 */
export async function sendMessage(
  deps: CommandDeps,
  principal: Principal,
  input: SendInput,
  meta: Meta,
  now = Date.now(),
): Promise<SendAnswer> {
  // 1.
  const { template } = await loadTemplate(deps.eventStore, input.templateCode, principal);
  checkSendable(template, false);
  const sendAt = input.sendAt === undefined ? undefined : checkSendAt(input.sendAt, now);
  const statusCallback =
    input.statusCallback === undefined
      ? undefined
      : checkStatusCallback(deps, input.statusCallback);
  const messageId =
    input.idempotencyKey === undefined
      ? randomUUID()
      : idempotentMessageId(principal.userId, input.idempotencyKey);
  return acceptRecipient(
    deps,
    template,
    () => approvedRoutes(deps, template),
    {
      mobile: input.mobile,
      params: input.params ?? {},
      messageId,
      idempotencyKey: input.idempotencyKey,
      sendAt,
      statusCallback,
    },
    meta,
    now,
  );
}

export interface Recipient {
  mobile: string;
  params: Params;
  messageId: string;
  /** When the message id was derived from an Idempotency-Key. */
  idempotencyKey?: string | undefined;
  /** Checked already (checkSendAt). */
  sendAt?: string | undefined;
  batch?: { batchId: string; index: number };
  /** Checked already (checkStatusCallback). */
  statusCallback?: string | undefined;
}

/** A scheduled send reserves its limits at send time: nothing now. */
const NOTHING_RESERVED: Readonly<Reservation> = Object.freeze({ keys: [], kinds: [], token: '' });

/**
 * When a message may go: `asked`, the sendAt still ahead of now; `notBefore`, that, or
 * for a marketing template the end of its quiet hours when the send falls inside them.
 */
function sendTimeOf(
  template: ExistingTemplate,
  sendAt: string | undefined,
  now: number,
): { asked: string | undefined; notBefore: string | undefined } {
  const asked = sendAt !== undefined && Date.parse(sendAt) > now ? sendAt : undefined;
  const quietEnd =
    template.kind === 'marketing' && template.quietHours !== undefined
      ? quietUntil(template.quietHours, asked === undefined ? now : Date.parse(asked))
      : undefined;
  return { asked, notBefore: quietEnd === undefined ? asked : new Date(quietEnd).toISOString() };
}

/**
 * One message of a sendable template: 2. params match the placeholders (the
 * caller's own mistake first: PARAMS_MISMATCH even while a new revision waits
 * for its review), then an approved account takes the values (`approved` is
 * asked only then; a batch passes the routes it loaded once); 3. the mobile is valid (E.164);
 * 4. marketing: not opted out; 5. every limit reserved at once (a scheduled
 * send: only whether the tenant may send there; its limits are reserved at
 * send time); 6. `sms.accepted.v1` appended. A marketing send that falls
 * inside the template's quiet hours (at sendAt, or now) is held until they
 * end: notBefore is their end, and its limits are reserved at send time too.
 */
export async function acceptRecipient(
  deps: CommandDeps,
  template: ExistingTemplate,
  approved: readonly Route[] | (() => Promise<readonly Route[]>),
  recipient: Recipient,
  meta: Meta,
  now = Date.now(),
): Promise<SendAnswer> {
  const params = recipient.params;
  // 2.
  checkParams(template.placeholders, params);
  const routes = fittingRoutes(
    deps,
    template,
    typeof approved === 'function' ? await approved() : approved,
    params,
  );
  // 3.
  const mobile = e164Of(recipient.mobile);
  // 4.
  await checkOptOut(deps, template, mobile);
  const sendAt = recipient.sendAt;
  const hash = requestHash({
    templateCode: template.templateCode,
    mobile,
    params,
    sendAt,
    ...(recipient.batch ? { batch: recipient.batch } : {}),
    ...(recipient.statusCallback === undefined ? {} : { statusCallback: recipient.statusCallback }),
  });
  const { messageId } = recipient;
  if (recipient.idempotencyKey !== undefined) {
    const earlier = await existingAnswer(deps, messageId, hash);
    if (earlier) return { ...earlier, repeated: true };
  }
  // 5.
  const { asked, notBefore } = sendTimeOf(template, sendAt, now);
  const scheduled = notBefore !== undefined;
  const reservation = scheduled
    ? await platformLimitsFor(deps, template, mobile).then(() => NOTHING_RESERVED)
    : await reserveOrRefuse(deps, template, mobile, now);
  // 6.
  const { segments, encoding } = measure(template, params);
  const answer = await appendAccepted(
    deps,
    {
      messageId,
      ...fromTemplate(template, routes),
      mobile,
      content: fillPlaceholders(template.content, params),
      params: { ...params },
      segments,
      encoding,
      requestHash: hash,
      ...(recipient.idempotencyKey === undefined
        ? {}
        : { idempotencyKey: recipient.idempotencyKey }),
      ...(recipient.statusCallback === undefined
        ? {}
        : { statusCallback: recipient.statusCallback }),
      acceptedAt: new Date(now).toISOString(),
      ...(asked === undefined ? {} : { sendAt: asked }),
      ...(scheduled ? { notBefore, limitsAtSend: true } : {}),
      ...(recipient.batch
        ? { batchId: recipient.batch.batchId, batchIndex: recipient.batch.index }
        : {}),
    },
    reservation,
    meta,
  );
  return {
    ...answer,
    ...(asked === undefined ? {} : { sendAt: asked }),
    ...(notBefore === undefined ? {} : { notBefore }),
  };
}
