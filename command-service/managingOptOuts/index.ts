// POST /v1/opt-outs {mobile}: the tenant opts a number out of its marketing
// templates (as a STOP reply would); DELETE /v1/opt-outs/{mobile} opts it back
// in (as START would). Both are recorded on the number's opt-out stream, the
// rule is the opt-out decider's; GET /v1/opt-outs is the query API's.
import { Router, type RequestHandler } from 'express';
import { API_KEYWORD, normalizeMobile, optOutDecider, optOutStream } from '../../domain/index.ts';
import { principalOf, type Principal } from '../../platform/auth/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import { optOutBody } from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, metaOf, type Meta } from '../commandHandling/index.ts';
import { param } from '../principal.ts';

export interface OptOutAnswer {
  mobile: string;
  optedOut: boolean;
}

/** Opts the number out (optedOut true) or back in (false) of the caller's marketing. */
export async function setOptOut(
  deps: CommandDeps,
  principal: Principal,
  mobile: string,
  optedOut: boolean,
  meta: Meta,
): Promise<OptOutAnswer> {
  const e164 = normalizeMobile(mobile);
  const tenantId = principal.userId;
  await handle(
    deps.eventStore,
    optOutDecider,
    optOutStream(tenantId, e164),
    {
      type: optedOut ? 'OptOut' : 'OptIn',
      data: { tenantId, mobile: e164, keyword: API_KEYWORD },
    },
    meta,
  );
  return { mobile: e164, optedOut };
}

export function optOutsRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post('/v1/opt-outs', auth, validateBody(optOutBody), async (req, res) => {
    const principal = principalOf(req);
    const { mobile } = req.body as { mobile: string };
    res.status(201).json(await setOptOut(deps, principal, mobile, true, metaOf(req, principal)));
  });
  router.delete('/v1/opt-outs/:mobile', auth, async (req, res) => {
    const principal = principalOf(req);
    const answer = await setOptOut(
      deps,
      principal,
      param(req, 'mobile'),
      false,
      metaOf(req, principal),
    );
    res.status(200).json(answer);
  });
  return router;
}
