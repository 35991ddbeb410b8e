// POST /v1/messages: accept a notification or marketing SMS.
import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { checkParams, fillPlaceholders, type Params } from '../../domain/index.ts';
import { principalOf, type Principal } from '../../platform/auth/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import { sendMessageBody } from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { metaOf, type Meta } from '../commandHandling/index.ts';
import { loadTemplate } from '../managingTemplates/index.ts';
import { trackRejection } from '../tracking.ts';
import {
  appendAccepted,
  checkOptOut,
  e164Of,
  existingAnswer,
  fromTemplate,
  idempotencyKeyOf,
  idempotentMessageId,
  measure,
  requestHash,
  requireSendable,
  reserveOrRefuse,
  sendRoutes,
  type AcceptedAnswer,
} from './accepting.ts';

export interface SendInput {
  templateCode: string;
  mobile: string;
  params?: Params;
  idempotencyKey?: string | undefined;
}

/**
 * 1. the caller owns the template (or is admin) and it is enabled; 2. params
 * match the placeholders, and some account approved template and signature
 * and takes the values; 3. the mobile is valid (E.164); 4. marketing: not
 * opted out; 5. every limit reserved at once; 6. `sms.accepted.v1` appended.
 * With an Idempotency-Key the message id is derived from (tenant, key), so a
 * repeat meets an existing stream and gets the first answer.
 */
export async function sendMessage(
  deps: CommandDeps,
  principal: Principal,
  input: SendInput,
  meta: Meta,
  now = Date.now(),
): Promise<AcceptedAnswer & { repeated: boolean }> {
  const params = input.params ?? {};
  // 1.
  const { template } = await loadTemplate(deps.eventStore, input.templateCode, principal);
  requireSendable(template, false);
  // 2.
  checkParams(template.placeholders, params);
  const routes = await sendRoutes(deps, template, params);
  // 3.
  const mobile = e164Of(input.mobile);
  // 4.
  await checkOptOut(deps, template, mobile);
  const hash = requestHash({ templateCode: template.templateCode, mobile, params });
  const messageId =
    input.idempotencyKey === undefined
      ? randomUUID()
      : idempotentMessageId(principal.userId, input.idempotencyKey);
  if (input.idempotencyKey !== undefined) {
    const earlier = await existingAnswer(deps, messageId, hash);
    if (earlier) return { ...earlier, repeated: true };
  }
  // 5.
  const reservation = await reserveOrRefuse(deps, template, mobile, now);
  // 6.
  const { segments, encoding } = measure(template, params);
  return appendAccepted(
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
      ...(input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey }),
      acceptedAt: new Date(now).toISOString(),
    },
    reservation,
    meta,
  );
}

export function messagesRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post('/v1/messages', auth, validateBody(sendMessageBody), async (req, res) => {
    const principal = principalOf(req);
    const body = req.body as { templateCode: string; mobile: string; params?: Params };
    try {
      const idempotencyKey = idempotencyKeyOf(req.headers['idempotency-key']);
      const answer = await sendMessage(
        deps,
        principal,
        { ...body, idempotencyKey },
        metaOf(req, principal),
      );
      if (!answer.repeated) {
        deps.tracker.track({
          type: 'send.accepted',
          tenantId: principal.userId,
          messageId: answer.messageId,
          templateCode: body.templateCode,
        });
      }
      const { repeated: _repeated, ...out } = answer;
      res.status(202).location(`/v1/messages/${answer.messageId}`).json(out);
    } catch (err) {
      trackRejection(deps, principal, body.templateCode, err);
      throw err;
    }
  });
  return router;
}
