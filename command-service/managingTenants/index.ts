// Tenants: trial, active or suspended; the numbers a trial tenant verified;
// the platform limits an admin sets. The tenant stream is the truth; the
// accept path reads a Redis copy of its state (`<p>tenant:<id>`, written
// after every append, only ever to a higher stream revision, rebuilt from the
// stream when missing), so a send costs no database round trip for it.
import { randomUUID } from 'node:crypto';
import { Router, type Request, type RequestHandler } from 'express';
import {
  aggregate,
  callingCodeOf,
  countSegments,
  fillPlaceholders,
  messageDecider,
  messageStream,
  normalizeMobile,
  renderMessage,
  tenantDecider,
  tenantStream,
  userStream,
  withStart,
  type ExistingTemplate,
  type SmsAcceptedData,
  type TenantCommand,
  type TenantEvent,
  type TenantLimits,
  type TenantState,
  type TenantStatus,
} from '../../domain/index.ts';
import { principalOf, requireAdmin, takeAttempt } from '../../platform/auth/index.ts';
import { luaScript } from '../../platform/clients/index.ts';
import { keyedHash, randomDigits, seal } from '../../platform/crypto/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { readStream } from '../../platform/eventStore/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import {
  dayWindow,
  effectiveTenantLimits,
  platformLimitsOf,
  type PlatformLimits,
} from '../../platform/rateLimits/index.ts';
import {
  checkNumberBody,
  setTenantLimitsBody,
  suspendTenantBody,
  verifyNumberBody,
} from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, metaOf, toNewEvents, type Meta } from '../commandHandling/index.ts';
import { param } from '../principal.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';

const stateKey = (deps: CommandDeps, tenantId: string) =>
  `${redisPrefixOf(deps)}tenant:${tenantId}`;

/**
 * The Redis key of the tenant's state copy: what the authenticator reads in
 * the session check's MGET (AuthenticatorDeps.prefetch), so that a send
 * reads it without a round trip of its own.
 */
export const tenantStateKey = stateKey;

/** Values read with the request's authentication (Principal.prefetched). */
export type Prefetched = ReadonlyMap<string, string | null> | undefined;

const RAISE = `
local v = redis.call('GET', KEYS[1])
if v then
  local rev = tonumber(string.match(v, '^(-?%d+)|'))
  if rev and rev >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2])
return 1
`;
const raise = luaScript<number>(RAISE);

async function publish(deps: CommandDeps, state: TenantState, revision: number): Promise<void> {
  await raise(
    deps.redis,
    [stateKey(deps, state.tenantId)],
    [String(revision), JSON.stringify(state)],
  );
}

/**
 * The tenant's state as the accept path sees it: the Redis copy (as read with
 * the request's authentication when `prefetched` holds it), else the stream.
 */
export async function tenantState(
  deps: CommandDeps,
  tenantId: string,
  prefetched?: Prefetched,
): Promise<TenantState> {
  const key = stateKey(deps, tenantId);
  const read = prefetched?.get(key);
  const copy = read !== undefined ? read : await deps.redis.get(key);
  if (copy !== null) {
    const cut = copy.indexOf('|');
    return JSON.parse(copy.slice(cut + 1)) as TenantState;
  }
  const events = await readStream<TenantEvent>(deps.eventStore, tenantStream(tenantId));
  const state = withStart(aggregate(tenantDecider, events), tenantId, deps.config.tenants.start);
  await publish(deps, state, events.at(-1)?.streamVersion ?? -1);
  return state;
}

/** Runs a tenant command (re-run on a version conflict) and publishes the new state. */
export async function handleTenant(
  deps: CommandDeps,
  command: TenantCommand,
  meta: Meta,
): Promise<TenantState> {
  const { tenantId } = command.data;
  const done = await handle(deps.eventStore, tenantDecider, tenantStream(tenantId), command, meta);
  const state = withStart(done.state, tenantId, deps.config.tenants.start);
  if (done.version >= 0) await publish(deps, state, done.version);
  return state;
}

/** At registration: the tenant starts as the deployment says (admins start active). */
export async function startTenant(
  deps: CommandDeps,
  tenantId: string,
  status: TenantStatus,
  meta: Meta,
): Promise<void> {
  await handleTenant(deps, { type: 'StartTenant', data: { tenantId, status } }, meta);
}

/** What an answer about a tenant shows. */
export function tenantView(deps: CommandDeps, state: TenantState) {
  return {
    tenantId: state.tenantId,
    status: state.status,
    limits: effectiveLimits(deps, state),
    verifiedNumbers: state.verifiedNumbers.length,
  };
}

/** The limits in force: the tenant's own, else the deployment's defaults (0: none). */
export function effectiveLimits(deps: CommandDeps, state: TenantState) {
  return effectiveTenantLimits(deps.config.tenants, state);
}

/**
 * Step of every accept: the tenant (in `state`, from tenantState) may send to
 * this number at all (suspended, trial, countries: 403 naming the rule), and
 * the platform limits to reserve with the template's.
 */
export function platformLimitsFor(
  deps: CommandDeps,
  state: TenantState,
  template: Pick<ExistingTemplate, 'kind'>,
  e164: string,
): PlatformLimits {
  const result = platformLimitsOf(deps.config.tenants, state, template.kind, e164);
  if (!result.ok) {
    const refusal = result.refusal;
    throw new AppError(refusal.code, refusal.message, {
      rule: refusal.code,
      ...(refusal.code === 'DESTINATION_NOT_ALLOWED'
        ? { callingCode: refusal.callingCode ?? null, allowed: result.countries }
        : {}),
    });
  }
  return result.limits;
}

const NUMBER_TEMPLATE = 'streaming-number-verification';
const NUMBER_CODE_TTL_MS = 10 * 60_000;
const NUMBER_CODES_PER_DAY = 10;
const MASK = '******';

function numberCodeHash(deps: CommandDeps, tenantId: string, e164: string, code: string): string {
  return `hmac-sha256:${keyedHash(deps.config.codes.hashKey, `number:${tenantId}:${e164}:${code}`)}`;
}

function e164Of(mobile: string): string {
  return normalizeMobile(mobile);
}

/** A suspended tenant sends nothing, and a code goes only to the tenant's countries. */
function allowedDestination(deps: CommandDeps, state: TenantState, e164: string): void {
  const { countries } = effectiveLimits(deps, state);
  const calling = callingCodeOf(e164);
  if (state.status === 'suspended') throw new AppError('TENANT_SUSPENDED');
  if (calling === undefined || !countries.includes(calling)) {
    throw new AppError('DESTINATION_NOT_ALLOWED', undefined, {
      rule: 'DESTINATION_NOT_ALLOWED',
      callingCode: calling ?? null,
      allowed: countries,
    });
  }
}

/** One of the tenant's NUMBER_CODES_PER_DAY codes of the day. */
async function takeDailyCode(deps: CommandDeps, tenantId: string, now: number): Promise<void> {
  const day = dayWindow(now);
  const taken = await takeAttempt(deps.redis, [
    {
      key: `${redisPrefixOf(deps)}numbercodes:${tenantId}:${day.id}`,
      limit: NUMBER_CODES_PER_DAY,
      windowMs: day.endsAt - now + 60_000,
    },
  ]);
  if (!taken.ok) {
    throw new AppError(
      'PLATFORM_NUMBER_CODES_DAILY',
      undefined,
      { rule: 'PLATFORM_NUMBER_CODES_DAILY', retryAfterSeconds: taken.retryAfterSeconds },
      { 'Retry-After': String(taken.retryAfterSeconds) },
    );
  }
}

/** The platform's message carrying the code (sealed; the content masks it). */
function numberCodeMessage(
  deps: CommandDeps,
  tenantId: string,
  messageId: string,
  e164: string,
  code: string,
  now: number,
): SmsAcceptedData {
  const signature = deps.config.tenants.platformSignature;
  const content = 'Your code to verify this number with streaming is ${code}; valid 10 minutes.';
  const full = { code };
  const masked = { code: MASK };
  const { segments, encoding } = countSegments(renderMessage(signature, content, full));
  return {
    messageId,
    tenantId,
    templateId: NUMBER_TEMPLATE,
    templateCode: NUMBER_TEMPLATE,
    kind: 'verification',
    signature,
    suppliers: [...deps.config.defaultSuppliers],
    mobile: e164,
    content: fillPlaceholders(content, masked),
    sealedContent: seal(
      deps.config.codes.encryptionKey,
      fillPlaceholders(content, full),
      messageId,
    ),
    sealedParams: seal(deps.config.codes.encryptionKey, JSON.stringify(full), messageId),
    params: masked,
    segments,
    encoding,
    requestHash: `number:${messageId}`,
    verificationId: messageId,
    acceptedAt: new Date(now).toISOString(),
  };
}

/**
 * POST /v1/verified-numbers: a code to the number, from the platform (its
 * signature, the default suppliers), at most 10 a day per tenant, to the
 * tenant's countries only. `onCode` is for tests and tools (never logged).
 */
export async function sendNumberCode(
  deps: CommandDeps,
  tenantId: string,
  mobile: string,
  meta: Meta,
  now = Date.now(),
  onCode?: (code: string) => void,
): Promise<{ messageId: string; expiresAt: string }> {
  const e164 = e164Of(mobile);
  const state = await tenantState(deps, tenantId);
  allowedDestination(deps, state, e164);
  await takeDailyCode(deps, tenantId, now);
  const code = randomDigits(6);
  onCode?.(code);
  const messageId = randomUUID();
  const expiresAt = new Date(now + NUMBER_CODE_TTL_MS).toISOString();
  await handleTenant(
    deps,
    {
      type: 'SendNumberCode',
      data: {
        tenantId,
        startAs: deps.config.tenants.start,
        mobile: e164,
        codeHash: numberCodeHash(deps, tenantId, e164, code),
        expiresAt,
        messageId,
      },
    },
    meta,
  );
  const data = numberCodeMessage(deps, tenantId, messageId, e164, code, now);
  const events = messageDecider.decide({ type: 'Accept', data }, messageDecider.initialState());
  await deps.eventStore.append(messageStream(messageId), toNewEvents(events, meta), 'no_stream');
  return { messageId, expiresAt };
}

/** POST /v1/verified-numbers/check: the code proves the tenant owns the number. */
export async function checkNumberCode(
  deps: CommandDeps,
  tenantId: string,
  mobile: string,
  code: string,
  meta: Meta,
  now = Date.now(),
): Promise<{ mobile: string; verified: true }> {
  const e164 = e164Of(mobile);
  const state = await handleTenant(
    deps,
    {
      type: 'CheckNumberCode',
      data: {
        tenantId,
        startAs: deps.config.tenants.start,
        mobile: e164,
        codeHash: numberCodeHash(deps, tenantId, e164, code),
        now: new Date(now).toISOString(),
      },
    },
    meta,
  );
  if (!state.verifiedNumbers.includes(e164)) {
    const left = state.pending[e164]?.attemptsLeft ?? 0;
    throw new AppError('VERIFICATION_CODE_WRONG', `The code is wrong; ${left} attempt(s) left.`, {
      attemptsLeft: left,
    });
  }
  return { mobile: e164, verified: true };
}

async function requireTenant(deps: CommandDeps, tenantId: string): Promise<void> {
  const events = await deps.eventStore.readStream(userStream(tenantId), { limit: 1 });
  if (events.length === 0) throw new AppError('TENANT_NOT_FOUND', `No tenant ${tenantId}.`);
}

/** Admin actions, from the API or the CLI. */
export async function adminTenant(
  deps: CommandDeps,
  tenantId: string,
  action:
    | { type: 'activate' }
    | { type: 'suspend'; reason?: string | undefined }
    | { type: 'limits'; limits: TenantLimits },
  meta: Meta,
) {
  await requireTenant(deps, tenantId);
  const startAs = deps.config.tenants.start;
  const command: TenantCommand =
    action.type === 'activate'
      ? { type: 'ActivateTenant', data: { tenantId, startAs } }
      : action.type === 'suspend'
        ? {
            type: 'SuspendTenant',
            data: { tenantId, startAs, ...(action.reason ? { reason: action.reason } : {}) },
          }
        : { type: 'SetTenantLimits', data: { tenantId, startAs, limits: action.limits } };
  return tenantView(deps, await handleTenant(deps, command, meta));
}

function memberTenant(req: Request): string {
  const principal = principalOf(req);
  return principal.userId;
}

export function tenantsRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post('/v1/verified-numbers', auth, validateBody(verifyNumberBody), async (req, res) => {
    const body = req.body as { mobile: string };
    const principal = principalOf(req);
    const sent = await sendNumberCode(deps, memberTenant(req), body.mobile, metaOf(req, principal));
    res.status(202).json(sent);
  });
  router.post(
    '/v1/verified-numbers/check',
    auth,
    validateBody(checkNumberBody),
    async (req, res) => {
      const body = req.body as { mobile: string; code: string };
      const principal = principalOf(req);
      res.json(
        await checkNumberCode(
          deps,
          memberTenant(req),
          body.mobile,
          body.code,
          metaOf(req, principal),
        ),
      );
    },
  );
  router.post('/v1/tenants/:id/activate', auth, requireAdmin, async (req, res) => {
    const principal = principalOf(req);
    res.json(
      await adminTenant(deps, param(req, 'id'), { type: 'activate' }, metaOf(req, principal)),
    );
  });
  router.post(
    '/v1/tenants/:id/suspend',
    auth,
    requireAdmin,
    validateBody(suspendTenantBody),
    async (req, res) => {
      const principal = principalOf(req);
      const { reason } = req.body as { reason?: string };
      res.json(
        await adminTenant(
          deps,
          param(req, 'id'),
          { type: 'suspend', reason },
          metaOf(req, principal),
        ),
      );
    },
  );
  router.put(
    '/v1/tenants/:id/limits',
    auth,
    requireAdmin,
    validateBody(setTenantLimitsBody),
    async (req, res) => {
      const principal = principalOf(req);
      res.json(
        await adminTenant(
          deps,
          param(req, 'id'),
          { type: 'limits', limits: req.body as TenantLimits },
          metaOf(req, principal),
        ),
      );
    },
  );
  return router;
}
