// Callback endpoints: where a tenant is told of its messages' status
// changes, inbound replies and opt-outs. The callback sender
// (processors/callbacks) delivers; this slice records what the tenant asks.
//   POST   /v1/callbacks                 1. check the URL (syntax, then DNS: public
//                                           addresses only in production), 2. seal
//                                           the secret, 3. decide and append
//   PATCH  /v1/callbacks/:id             the same checks for a new URL; resumes a paused one
//   DELETE /v1/callbacks/:id
//   POST   /v1/callbacks/:id/resume
//   POST   /v1/callbacks/:id/test        a signed callback.test event
//   POST   /v1/callbacks/:id/replay      dead-lettered deliveries sent again
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { Router, type RequestHandler } from 'express';
import {
  callbackDecider,
  callbackStream,
  validateCallbackUrl,
  type CallbackCommand,
  type ExistingCallback,
} from '../../domain/index.ts';
import { principalOf, type Principal } from '../../platform/auth/index.ts';
import {
  CallbackTargetError,
  checkCallbackTarget,
  isPublicAddress,
  newCallbackSecret,
  sealCallbackSecret,
} from '../../platform/callbacks/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import {
  registerCallbackBody,
  replayCallbackBody,
  updateCallbackBody,
} from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, metaOf, type Meta } from '../commandHandling/index.ts';

/** Step 1: a URL of the right shape whose host resolves where callbacks may go. */
export async function checkCallbackUrl(deps: CommandDeps, raw: string): Promise<string> {
  const url = validateCallbackUrl(raw);
  try {
    await checkCallbackTarget(url, { allowPrivate: deps.config.callbacks.allowPrivate });
  } catch (err) {
    if (!(err instanceof CallbackTargetError)) throw err;
    throw new AppError('CALLBACK_URL_FORBIDDEN', err.message, {
      field: 'url',
      reason: err.reason,
    });
  }
  return url;
}

/**
 * A send's statusCallback: the URL's shape, and in production no private
 * address literal. Its host is resolved and checked at each delivery, not
 * here: a DNS lookup would slow the send path.
 */
export function checkStatusCallback(deps: CommandDeps, raw: string): string {
  const url = validateCallbackUrl(raw);
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = host === 'localhost' || isIP(host) !== 0;
  if (!deps.config.callbacks.allowPrivate && literal && !isPublicAddress(host)) {
    throw new AppError('CALLBACK_URL_FORBIDDEN', `${host} is not a public address.`, {
      field: 'statusCallback',
      reason: 'PRIVATE_ADDRESS',
    });
  }
  return url;
}

const owner = (p: Principal) => ({ tenantId: p.userId, admin: p.role === 'admin' });

function view(s: ExistingCallback, secret?: string) {
  return {
    callbackId: s.callbackId,
    url: s.url,
    events: s.events,
    status: s.paused ? 'paused' : 'active',
    ...(s.paused
      ? {
          paused: { ...s.paused.reason, at: s.paused.failingSince },
          failingSince: s.paused.failingSince,
        }
      : {}),
    ...(secret ? { secret } : {}),
  };
}

async function run(deps: CommandDeps, callbackId: string, command: CallbackCommand, meta: Meta) {
  const result = await handle(
    deps.eventStore,
    callbackDecider,
    callbackStream(callbackId),
    command,
    meta,
  );
  if (!result.state.exists) throw new AppError('CALLBACK_NOT_FOUND');
  return { state: result.state, position: result.position };
}

export async function registerCallback(
  deps: CommandDeps,
  principal: Principal,
  input: { url: string; events: string[]; secret?: string },
  meta: Meta,
) {
  const url = await checkCallbackUrl(deps, input.url);
  const callbackId = randomUUID();
  const secret = input.secret ?? newCallbackSecret();
  const { state, position } = await run(
    deps,
    callbackId,
    {
      type: 'RegisterCallback',
      data: {
        callbackId,
        tenantId: principal.userId,
        url,
        events: input.events,
        sealedSecret: sealCallbackSecret(deps.config.codes.encryptionKey, callbackId, secret),
      },
    },
    meta,
  );
  return { ...view(state, secret), position };
}

/** PATCH: a new URL is checked like a registered one; a new secret is stored sealed. */
async function updateCallback(
  deps: CommandDeps,
  principal: Principal,
  id: string,
  body: { url?: string; events?: string[]; secret?: string },
  meta: Meta,
) {
  const url = body.url === undefined ? undefined : await checkCallbackUrl(deps, body.url);
  const { state, position } = await run(
    deps,
    id,
    {
      type: 'UpdateCallback',
      data: {
        ...owner(principal),
        url,
        events: body.events,
        sealedSecret:
          body.secret === undefined
            ? undefined
            : sealCallbackSecret(deps.config.codes.encryptionKey, id, body.secret),
      },
    },
    meta,
  );
  return { ...view(state, body.secret), position };
}

export function callbacksRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post('/v1/callbacks', auth, validateBody(registerCallbackBody), async (req, res) => {
    const principal = principalOf(req);
    const body = req.body as { url: string; events: string[]; secret?: string };
    const out = await registerCallback(deps, principal, body, metaOf(req, principal));
    res.status(201).location(`/v1/callbacks/${out.callbackId}`).json(out);
  });

  router.patch('/v1/callbacks/:id', auth, validateBody(updateCallbackBody), async (req, res) => {
    const principal = principalOf(req);
    const id = String(req.params.id);
    const body = req.body as { url?: string; events?: string[]; secret?: string };
    res.json(await updateCallback(deps, principal, id, body, metaOf(req, principal)));
  });

  router.delete('/v1/callbacks/:id', auth, async (req, res) => {
    const principal = principalOf(req);
    await run(
      deps,
      String(req.params.id),
      { type: 'DeleteCallback', data: owner(principal) },
      metaOf(req, principal),
    );
    res.status(204).end();
  });

  router.post('/v1/callbacks/:id/resume', auth, async (req, res) => {
    const principal = principalOf(req);
    const { state, position } = await run(
      deps,
      String(req.params.id),
      { type: 'ResumeCallback', data: owner(principal) },
      metaOf(req, principal),
    );
    res.json({ ...view(state), position });
  });

  router.post('/v1/callbacks/:id/test', auth, async (req, res) => {
    const principal = principalOf(req);
    const testId = randomUUID();
    const id = String(req.params.id);
    const { position } = await run(
      deps,
      id,
      { type: 'RequestTest', data: { ...owner(principal), testId } },
      metaOf(req, principal),
    );
    res.status(202).json({ callbackId: id, testEventId: testId, position });
  });

  router.post(
    '/v1/callbacks/:id/replay',
    auth,
    validateBody(replayCallbackBody),
    async (req, res) => {
      const principal = principalOf(req);
      const id = String(req.params.id);
      const body = req.body as { deliveryIds?: string[] };
      const { position } = await run(
        deps,
        id,
        { type: 'RequestReplay', data: { ...owner(principal), deliveryIds: body.deliveryIds } },
        metaOf(req, principal),
      );
      res.status(202).json({ callbackId: id, position });
    },
  );
  return router;
}
