// Signatures: a tenant registers the 【name】 it sends with; the reviewer
// (processors/reviews.ts) submits it to each account and records the reviews.
//   1. validate the name, 2. reserve it for the tenant (signature-name-<hash>,
//   "no stream" expected; the same tenant again passes), 3. decide and append
//   on the tenant's signature stream.
import { Router, type RequestHandler } from 'express';
import {
  signatureDecider,
  signatureNameStream,
  signatureStream,
  validateSignatureName,
} from '../../domain/index.ts';
import { principalOf } from '../../platform/auth/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { WrongExpectedVersionError } from '../../platform/eventStore/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import { registerSignatureBody } from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, metaOf, toNewEvents, type Meta } from '../commandHandling/index.ts';
import { checkSuppliers } from '../managingTemplates/index.ts';

/** Steps 1–3; answers whether anything was new. */
export async function registerSignature(
  deps: CommandDeps,
  tenantId: string,
  input: { name: string; accounts?: string[] },
  meta: Meta,
): Promise<{ name: string; accounts: string[]; created: boolean }> {
  // 1.
  const name = validateSignatureName(input.name);
  const accounts = input.accounts ?? [...deps.config.defaultSuppliers];
  checkSuppliers(deps.config, accounts);
  // 2.
  const reservation = signatureNameStream(name);
  try {
    await deps.eventStore.append(
      reservation,
      toNewEvents([{ type: 'signature.name-reserved.v1', data: { name, tenantId } }], meta),
      'no_stream',
    );
  } catch (err) {
    if (!(err instanceof WrongExpectedVersionError)) throw err;
    const [first] = await deps.eventStore.readStream(reservation, { limit: 1 });
    if (first?.data.tenantId !== tenantId) {
      throw new AppError('SIGNATURE_TAKEN', `Signature ${name} belongs to another tenant.`, {
        name,
      });
    }
  }
  // 3.
  const result = await handle(
    deps.eventStore,
    signatureDecider,
    signatureStream(tenantId, name),
    { type: 'RegisterSignature', data: { tenantId, name, accounts } },
    meta,
  );
  const state = result.state;
  return {
    name,
    accounts: state.exists ? state.accounts : accounts,
    created: result.events.some((e) => e.type === 'signature.registered.v1'),
  };
}

export function signaturesRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post('/v1/signatures', auth, validateBody(registerSignatureBody), async (req, res) => {
    const principal = principalOf(req);
    const body = req.body as { name: string; accounts?: string[] };
    const out = await registerSignature(deps, principal.userId, body, metaOf(req, principal));
    res
      .status(out.created ? 201 : 200)
      .json({ name: out.name, accounts: out.accounts, status: 'pending' });
  });
  return router;
}
