// Command handling on the command side: platform/commandHandling's one handler
// (aggregate, decide, append with the expected version, re-run on a conflict),
// with the metadata of the HTTP request that caused the events.
import type { Request } from 'express';
import { actorOf, type Principal } from '../../platform/auth/index.ts';
import type { Meta } from '../../platform/commandHandling/index.ts';

export {
  commandHandler,
  handleCommand as handle,
  toNewEvents,
  type Decision,
  type Handled,
  type Meta,
} from '../../platform/commandHandling/index.ts';

/** Metadata for events caused by this request: correlation, request id and actor. */
export function metaOf(req: Request, principal?: Principal): Meta {
  return {
    correlationId: req.correlationId,
    requestId: req.requestId,
    ...(principal ? { actor: actorOf(principal) } : {}),
  };
}
