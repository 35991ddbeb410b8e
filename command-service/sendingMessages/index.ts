// POST /v1/messages: accept a notification or marketing SMS, now or at sendAt.
// POST /v1/messages/batch: many recipients of one template (batch.ts).
// POST /v1/messages/{id}/cancel: a message not submitted yet (cancelling.ts).
//
// The command functions (sendMessage, sendBatch, cancelMessage) are the ones
// every API calls (HTTP here, gRPC too); the routes only adapt requests.
import { Router, type RequestHandler } from 'express';
import { principalOf, type Principal } from '../../platform/auth/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import { sendBatchBody, sendMessageBody } from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { metaOf, type Meta } from '../commandHandling/index.ts';
import { param } from '../principal.ts';
import { trackRejection } from '../tracking.ts';
import { idempotencyKeyOf } from './accepting.ts';
import { sendBatch, type BatchInput } from './batch.ts';
import { cancelMessage } from './cancelling.ts';
import { sendMessage, type SendAnswer, type SendInput } from './sending.ts';

export {
  sendMessage,
  acceptRecipient,
  type SendInput,
  type SendAnswer,
  type Recipient,
} from './sending.ts';
export { sendBatch, type BatchInput, type BatchAnswer, type BatchResult } from './batch.ts';
export { cancelMessage, type CancelledAnswer } from './cancelling.ts';

/**
 * A send as both APIs answer it (HTTP POST /v1/messages, gRPC Messages.Send):
 * sendMessage plus the tracking events of an accept or a refusal.
 */
export async function acceptSend(
  deps: CommandDeps,
  principal: Principal,
  body: Omit<SendInput, 'idempotencyKey'>,
  /** The Idempotency-Key header (HTTP) or `idempotency-key` metadata (gRPC), as received. */
  idempotencyKeyValue: string | string[] | undefined,
  meta: Meta,
): Promise<Omit<SendAnswer, 'repeated'>> {
  try {
    const idempotencyKey = idempotencyKeyOf(idempotencyKeyValue);
    const { repeated, ...answer } = await sendMessage(
      deps,
      principal,
      { ...body, idempotencyKey },
      meta,
    );
    if (!repeated) {
      deps.tracker.track({
        type: 'send.accepted',
        tenantId: principal.userId,
        messageId: answer.messageId,
        templateCode: body.templateCode,
      });
    }
    return answer;
  } catch (err) {
    trackRejection(deps, principal, body.templateCode, err);
    throw err;
  }
}

export function messagesRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post('/v1/messages', auth, validateBody(sendMessageBody), async (req, res) => {
    const principal = principalOf(req);
    const body = req.body as Omit<SendInput, 'idempotencyKey'>;
    const answer = await acceptSend(
      deps,
      principal,
      body,
      req.headers['idempotency-key'],
      metaOf(req, principal),
    );
    res.status(202).location(`/v1/messages/${answer.messageId}`).json(answer);
  });
  router.post('/v1/messages/batch', auth, validateBody(sendBatchBody), async (req, res) => {
    const principal = principalOf(req);
    const body = req.body as Omit<BatchInput, 'idempotencyKey'>;
    const idempotencyKey = idempotencyKeyOf(req.headers['idempotency-key']);
    const answer = await sendBatch(
      deps,
      principal,
      { ...body, idempotencyKey },
      metaOf(req, principal),
    );
    res.status(200).json(answer);
  });
  router.post('/v1/messages/:id/cancel', auth, async (req, res) => {
    const principal = principalOf(req);
    const answer = await cancelMessage(deps, principal, param(req, 'id'), metaOf(req, principal));
    res.status(200).json(answer);
  });
  return router;
}
