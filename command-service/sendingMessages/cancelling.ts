// POST /v1/messages/{id}/cancel: a message not submitted yet ends as
// `sms.cancelled` (final); one submitted already (or being dispatched now)
// answers 409 MESSAGE_NOT_CANCELLABLE with its current status. The rule is
// the message decider's (Cancel).
import { messageDecider, messageStream } from '../../domain/index.ts';
import type { Principal } from '../../platform/auth/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, type Meta } from '../commandHandling/index.ts';

export interface CancelledAnswer {
  messageId: string;
  status: 'cancelled';
  cancelledAt: string;
}

const MESSAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * 1. the message exists and is the caller's (else 404, as for a stranger's);
 * 2. the decider cancels it if it is not due within the cancel margin; a
 * repeated cancel answers the first one.
 */
export async function cancelMessage(
  deps: CommandDeps,
  principal: Principal,
  messageId: string,
  meta: Meta,
  now = Date.now(),
): Promise<CancelledAnswer> {
  if (!MESSAGE_ID.test(messageId)) throw new AppError('MESSAGE_NOT_FOUND');
  const done = await handle(
    deps.eventStore,
    messageDecider,
    messageStream(messageId),
    {
      type: 'Cancel',
      data: {
        at: new Date(now).toISOString(),
        ...(principal.role === 'admin' ? {} : { tenantId: principal.userId }),
      },
    },
    meta,
  );
  const state = done.state;
  if (!state.exists || state.status !== 'cancelled' || state.cancelledAt === undefined) {
    throw new AppError('MESSAGE_NOT_FOUND');
  }
  return { messageId, status: 'cancelled', cancelledAt: state.cancelledAt };
}
