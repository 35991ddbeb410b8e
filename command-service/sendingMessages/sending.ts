// Accepting one message: sendMessage (POST /v1/messages) and, for each
// recipient of a batch, acceptRecipient.
import { randomUUID } from 'node:crypto';
import {
  checkParams,
  checkSendAt,
  fillPlaceholders,
  type ExistingTemplate,
  type Params,
  type Route,
} from '../../domain/index.ts';
import type { Principal } from '../../platform/auth/index.ts';
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
  requireSendable,
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
 * 1. the caller owns the template (or is admin) and it is enabled; then
 * acceptRecipient. With an Idempotency-Key the message id is derived from
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
  requireSendable(template, false);
  const sendAt = input.sendAt === undefined ? undefined : checkSendAt(input.sendAt, now);
  const statusCallback =
    input.statusCallback === undefined
      ? undefined
      : checkStatusCallback(deps, input.statusCallback);
  const messageId =
    input.idempotencyKey === undefined
      ? randomUUID()
      : idempotentMessageId(principal.userId, input.idempotencyKey);
  // The caller's own mistake first: params that do not fit the placeholders
  // answer PARAMS_MISMATCH even while a new revision waits for its review.
  checkParams(template.placeholders, input.params ?? {});
  return acceptRecipient(
    deps,
    template,
    await approvedRoutes(deps, template),
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

/**
 * One message of a sendable template: 2. params match the placeholders, and
 * an approved account takes the values; 3. the mobile is valid (E.164);
 * 4. marketing: not opted out; 5. every limit reserved at once (a scheduled
 * send: only whether the tenant may send there; its limits are reserved at
 * send time); 6. `sms.accepted.v1` appended.
 */
export async function acceptRecipient(
  deps: CommandDeps,
  template: ExistingTemplate,
  approved: readonly Route[],
  recipient: Recipient,
  meta: Meta,
  now = Date.now(),
): Promise<SendAnswer> {
  const params = recipient.params;
  // 2.
  checkParams(template.placeholders, params);
  const routes = fittingRoutes(deps, template, approved, params);
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
  const scheduled = sendAt !== undefined && Date.parse(sendAt) > now;
  let reservation;
  if (scheduled) {
    await platformLimitsFor(deps, template, mobile);
    reservation = { keys: [], kinds: [], token: '' };
  } else {
    reservation = await reserveOrRefuse(deps, template, mobile, now);
  }
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
      ...(scheduled ? { sendAt, notBefore: sendAt, limitsAtSend: true } : {}),
      ...(recipient.batch
        ? { batchId: recipient.batch.batchId, batchIndex: recipient.batch.index }
        : {}),
    },
    reservation,
    meta,
  );
  return scheduled ? { ...answer, sendAt, notBefore: sendAt } : answer;
}
