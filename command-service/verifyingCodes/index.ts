// Verification codes: POST /v1/verifications sends one, POST
// /v1/verifications/check checks one. The code is drawn from the CSPRNG and
// never stored in clear: the verification stream keeps a keyed hash, the
// message carries the text masked, and the dispatcher gets it sealed.
import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import {
  checkParams,
  checkSendable,
  checkOutcomeErrors,
  checkVerification,
  digestMobile,
  fillPlaceholders,
  verificationDecider,
  verificationStream,
  VERIFICATION_CODE_PLACEHOLDER,
  verificationDefaults,
  type ExistingTemplate,
  type Params,
  type SmsAcceptedData,
  type VerificationState,
} from '../../domain/index.ts';
import { principalOf, requireAdmin, type Principal } from '../../platform/auth/index.ts';
import type { Config } from '../../platform/config/index.ts';
import { keyedHash, randomDigits, seal } from '../../platform/crypto/index.ts';
import { AppError, type ErrorCode } from '../../platform/errors/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import { releaseReservation } from '../../platform/rateLimits/index.ts';
import {
  checkVerificationBody,
  liftGuardBody,
  requestVerificationBody,
} from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, metaOf, type Meta } from '../commandHandling/index.ts';
import { loadTemplate } from '../managingTemplates/index.ts';
import { trackRejection } from '../tracking.ts';
import { countSent, countVerified, guardOrRefuse, liftGuard, trippedGuards } from './guard.ts';
import {
  appendAccepted,
  e164Of,
  fromTemplate,
  measure,
  requestHash,
  reserveOrRefuse,
  sendRoutes,
} from '../sendingMessages/accepting.ts';

const MASK = '******';

export function codeHash(
  config: Pick<Config, 'codes'>,
  verificationId: string,
  code: string,
): string {
  return `hmac-sha256:${keyedHash(config.codes.hashKey, `${verificationId}:${code}`)}`;
}

export function verificationStreamOf(
  config: Pick<Config, 'codes'>,
  templateCode: string,
  e164: string,
): string {
  return verificationStream(templateCode, digestMobile(e164, config.codes.hashKey.toString('hex')));
}

export interface IssuedCode {
  messageId: string;
  verificationId: string;
  expiresAt: string;
  position: number;
}

/**
 * 1. template visible, enabled, of kind verification; 2. params (besides the
 * code) match; 3. mobile in E.164; 4. limits reserved; 5. draw the code;
 * 6. issue it on the verification stream (replacing an earlier code);
 * 7. append `sms.accepted.v1` with the text masked and sealed.
 * `onCode` exists for tests and tools that must see the code (never logged).
 */
/** Step 2: the caller's params and the code's placeholder (masked) match the template. */
function codeParams(
  template: ExistingTemplate,
  extra: Params,
): { settings: NonNullable<ExistingTemplate['verification']>; masked: Params } {
  if (Object.hasOwn(extra, VERIFICATION_CODE_PLACEHOLDER)) {
    throw new AppError(
      'PARAMS_MISMATCH',
      'The code is drawn by the service; do not pass params.code.',
      {
        missing: [],
        extra: [VERIFICATION_CODE_PLACEHOLDER],
      },
    );
  }
  const masked: Params = { ...extra, [VERIFICATION_CODE_PLACEHOLDER]: MASK };
  checkParams(template.placeholders, masked);
  return { settings: template.verification ?? verificationDefaults, masked };
}

export async function requestCode(
  deps: CommandDeps,
  principal: Principal,
  input: { templateCode: string; mobile: string; params?: Params },
  meta: Meta,
  now = Date.now(),
  onCode?: (code: string) => void,
): Promise<IssuedCode> {
  const { config } = deps;
  const extra = input.params ?? {};
  // 1.
  const { template } = await loadTemplate(deps.eventStore, input.templateCode, principal);
  checkSendable(template, true);
  // 2.
  const { settings, masked } = codeParams(template, extra);
  // the vendors' limits apply to the code as drawn: codeLength digits
  const routes = await sendRoutes(deps, template, {
    ...extra,
    [VERIFICATION_CODE_PLACEHOLDER]: '0'.repeat(settings.codeLength),
  });
  // 3.
  const mobile = e164Of(input.mobile);
  // 4. the pumping guard, then the limits
  await guardOrRefuse(deps, template.tenantId, mobile, meta, now);
  const reservation = await reserveOrRefuse(deps, template, mobile, now, principal.prefetched);
  // 5.
  const code = randomDigits(settings.codeLength);
  onCode?.(code);
  const verificationId = randomUUID();
  const messageId = randomUUID();
  const expiresAt = new Date(now + settings.ttlSeconds * 1000).toISOString();
  const full: Params = { ...extra, [VERIFICATION_CODE_PLACEHOLDER]: code };
  try {
    // 6.
    await handle(
      deps.eventStore,
      verificationDecider,
      verificationStreamOf(config, template.templateCode, mobile),
      {
        type: 'Issue',
        data: {
          verificationId,
          messageId,
          templateCode: template.templateCode,
          codeHash: codeHash(config, verificationId, code),
          expiresAt,
          maxAttempts: settings.maxAttempts,
        },
      },
      meta,
    );
  } catch (err) {
    await releaseReservation(deps.redis, reservation).catch(() => undefined);
    throw err;
  }
  // 7. (appendAccepted gives the reservation back when it fails)
  const { segments, encoding } = measure(template, full);
  const data: SmsAcceptedData = {
    messageId,
    ...fromTemplate(template, routes),
    mobile,
    content: fillPlaceholders(template.content, masked),
    sealedContent: seal(
      config.codes.encryptionKey,
      fillPlaceholders(template.content, full),
      messageId,
    ),
    sealedParams: seal(config.codes.encryptionKey, JSON.stringify(full), messageId),
    params: masked,
    segments,
    encoding,
    requestHash: requestHash({ templateCode: template.templateCode, mobile, verificationId }),
    verificationId,
    acceptedAt: new Date(now).toISOString(),
  };
  const answer = await appendAccepted(deps, data, reservation, meta);
  if (!answer.repeated) await countSent(deps, template.tenantId, mobile, now);
  return { messageId, verificationId, expiresAt, position: answer.position };
}

/**
 * Checks a code: valid once; a wrong code costs an attempt (422 with the
 * attempts left); expired, exhausted or used → 410; no code sent → 404.
 * Concurrent checks are serialised by the expected version: the loser re-runs.
 */
export async function checkCode(
  deps: CommandDeps,
  principal: Principal,
  input: { templateCode: string; mobile: string; code: string },
  meta: Meta,
  now = Date.now(),
): Promise<{ valid: true }> {
  const { config } = deps;
  const { template } = await loadTemplate(deps.eventStore, input.templateCode, principal);
  const mobile = e164Of(input.mobile);
  let outcome: ReturnType<typeof checkVerification> | undefined;
  await handle(
    deps.eventStore,
    verificationDecider,
    verificationStreamOf(config, template.templateCode, mobile),
    (state: VerificationState) => {
      const hash = state.exists ? codeHash(config, state.verificationId, input.code) : '';
      // the decider's Check decides the same; the outcome says what to answer
      outcome = checkVerification(state, hash, new Date(now));
      return { type: 'Check' as const, data: { codeHash: hash, now: new Date(now) } };
    },
    meta,
  );
  if (!outcome) throw new Error('checkCode: no outcome');
  if (outcome.outcome === 'valid') {
    await countVerified(deps, template.tenantId, mobile, now);
    return { valid: true };
  }
  const code = checkOutcomeErrors[outcome.outcome] as ErrorCode;
  const details = { attemptsLeft: outcome.attemptsLeft };
  const message =
    outcome.outcome === 'wrong'
      ? `The code is wrong; ${outcome.attemptsLeft} attempt(s) left.`
      : undefined;
  throw new AppError(code, message, details);
}

/**
 * A code request as both APIs answer it (HTTP POST /v1/verifications, gRPC
 * Verifications.Send): requestCode plus the tracking events.
 */
export async function issueCode(
  deps: CommandDeps,
  principal: Principal,
  input: { templateCode: string; mobile: string; params?: Params },
  meta: Meta,
): Promise<{ messageId: string; expiresAt: string; position: number }> {
  try {
    const issued = await requestCode(deps, principal, input, meta);
    deps.tracker.track({
      type: 'send.accepted',
      tenantId: principal.userId,
      messageId: issued.messageId,
      templateCode: input.templateCode,
    });
    return { messageId: issued.messageId, expiresAt: issued.expiresAt, position: issued.position };
  } catch (err) {
    trackRejection(deps, principal, input.templateCode, err);
    throw err;
  }
}

export function verificationsRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post(
    '/v1/verifications',
    auth,
    validateBody(requestVerificationBody),
    async (req, res) => {
      const principal = principalOf(req);
      const body = req.body as { templateCode: string; mobile: string; params?: Params };
      res.status(202).json(await issueCode(deps, principal, body, metaOf(req, principal)));
    },
  );
  router.post(
    '/v1/verifications/check',
    auth,
    validateBody(checkVerificationBody),
    async (req, res) => {
      const principal = principalOf(req);
      const body = req.body as { templateCode: string; mobile: string; code: string };
      res.json(await checkCode(deps, principal, body, metaOf(req, principal)));
    },
  );
  router.get('/v1/verification-guards', auth, requireAdmin, async (_req, res) => {
    res.json({ items: await trippedGuards(deps) });
  });
  router.post(
    '/v1/verification-guards/lift',
    auth,
    requireAdmin,
    validateBody(liftGuardBody),
    async (req, res) => {
      const principal = principalOf(req);
      const body = req.body as { tenantId: string; prefix: string };
      await liftGuard(deps, body.tenantId, body.prefix, metaOf(req, principal));
      res.status(204).end();
    },
  );
  return router;
}
