// Registering users, logging in and out, changing passwords, disabling users,
// and the first admin.
import { randomUUID } from 'node:crypto';
import { Router, type Request, type RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import {
  aggregate,
  DomainError,
  userDecider,
  userStream,
  usernameDecider,
  usernameStream,
  validateRegistration,
  tenantDecider,
  tenantStream,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  type Role,
  type UserEvent,
  type UserState,
  type UsernameEvent,
} from '../../domain/index.ts';
import {
  giveBack,
  hashPassword,
  issueToken,
  needsRehash,
  principalOf,
  publishEndedToken,
  publishUserAccess,
  requireAdmin,
  takeAttempt,
  verifyPassword,
  type Counter,
  type IssuedToken,
  type PasswordCost,
  type SessionStore,
} from '../../platform/auth/index.ts';
import type { Config } from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { isOutageError } from '../../platform/health/index.ts';
import {
  readStream,
  WrongExpectedVersionError,
  type EventStore,
} from '../../platform/eventStore/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import type { Logger } from '../../platform/logger/index.ts';
import { changePasswordBody, loginBody, registerUserBody } from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, metaOf, toNewEvents, type Meta } from '../commandHandling/index.ts';
import { startTenant } from '../managingTenants/index.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';

export interface Registration {
  username: string;
  password: string;
  email?: string | undefined;
  phone?: string | undefined;
}

const costOf = (config: Pick<Config, 'auth'> | undefined): PasswordCost | undefined =>
  config ? { logN: config.auth.passwordLogN } : undefined;

/**
 * 1. validate, 2. decide the reservation and the user (pure, so nothing is
 * written for bad input), 3. hash the password, 4. reserve the username with
 * "no stream" expected (the race-free uniqueness), 5. append the user.
 */
export async function registerUser(
  eventStore: EventStore,
  input: Registration,
  role: Role,
  meta: Meta = {},
  cost?: PasswordCost,
): Promise<{ userId: string; position: number }> {
  // 1.
  const valid = validateRegistration(input);
  const userId = randomUUID();
  // 2.
  const reserved = usernameDecider.decide(
    { type: 'ReserveUsername', data: { username: valid.username, userId } },
    usernameDecider.initialState(),
  );
  // 3.
  const passwordHash = await hashPassword(input.password, cost);
  const registered = userDecider.decide(
    { type: 'RegisterUser', data: { userId, ...valid, passwordHash, role } },
    userDecider.initialState(),
  );
  const actorMeta: Meta = { actor: { type: 'user', id: userId }, ...meta };
  // 4.
  try {
    await eventStore.append(
      usernameStream(valid.username),
      toNewEvents(reserved, actorMeta),
      'no_stream',
    );
  } catch (err) {
    if (err instanceof WrongExpectedVersionError) {
      throw new DomainError('USERNAME_TAKEN', `The username "${valid.username}" is taken.`, {
        field: 'username',
      });
    }
    throw err;
  }
  // 5.
  const result = await eventStore.append(
    userStream(userId),
    toNewEvents(registered, actorMeta),
    'no_stream',
  );
  return { userId, position: result.position };
}

/** `streaming users create-admin`: registers a user with role admin through the same handler. */
export async function createAdmin({
  config,
  eventStore,
  username,
  password,
}: {
  config?: Config;
  eventStore: EventStore;
  username: string;
  password: string;
}): Promise<{ userId: string }> {
  const { userId } = await registerUser(
    eventStore,
    { username, password },
    'admin',
    { actor: { type: 'system', id: 'cli' } },
    costOf(config),
  );
  // an admin's own templates are never on trial
  await eventStore.append(
    tenantStream(userId),
    toNewEvents(
      tenantDecider.decide(
        { type: 'StartTenant', data: { tenantId: userId, status: 'active' } },
        tenantDecider.initialState(),
      ),
      { actor: { type: 'system', id: 'cli' } },
    ),
    'no_stream',
  );
  return { userId };
}

interface AuthDeps {
  config: Config;
  eventStore: EventStore;
  redis: Redis;
  redisPrefix?: string | undefined;
  logger?: Logger;
}

/** The three login counters: this username from this address, this address, everyone this second. */
function loginCounters(deps: AuthDeps, name: string, ip: string, now: number): Counter[] {
  const p = redisPrefixOf(deps);
  const { auth } = deps.config;
  const windowMs = auth.loginThrottleSeconds * 1000;
  return [
    { key: `${p}login:u:${name}:${ip}`, limit: auth.loginMaxFailures, windowMs },
    { key: `${p}login:ip:${ip}`, limit: auth.loginMaxFailuresPerIp, windowMs },
    {
      key: `${p}login:g:${Math.floor(now / 1000)}`,
      limit: auth.loginMaxPerSecond,
      windowMs: 2000,
    },
  ];
}

const loginRefusals = [
  'Too many failed logins for this username from this address',
  'Too many failed logins from this address',
  'Too many logins at once on this service',
];

/** Counts one attempt before the password is tried (so parallel guesses cannot race past the limit). */
async function countAttempt(deps: AuthDeps, counters: Counter[]): Promise<void> {
  const taken = await takeAttempt(deps.redis, counters);
  if (taken.ok) return;
  const retryAfter = taken.retryAfterSeconds;
  throw new AppError(
    'LOGIN_THROTTLED',
    `${loginRefusals[taken.index] ?? 'Too many logins'}; try again in ${retryAfter} s.`,
    { retryAfterSeconds: retryAfter },
    { 'Retry-After': String(retryAfter) },
  );
}

/**
 * An attempt the service could not judge (the event store or Redis did not
 * answer) is no failed login: its count is given back, so an outage locks
 * nobody out, and the caller gets the outage (503 DEPENDENCY_UNAVAILABLE).
 */
async function notJudged<T>(
  deps: AuthDeps,
  counters: Counter[],
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isOutageError(err)) {
      const [pair, ip] = counters;
      await giveBack(deps.redis, [...(pair ? [pair] : []), ...(ip ? [ip] : [])]).catch(
        (e: unknown) => deps.logger?.warn('could not give back a login count', { err: e }),
      );
    }
    throw err;
  }
}

/** A successful login gives back its own count and clears this username's failures from this address. */
async function forgiveAttempt(deps: AuthDeps, counters: Counter[]): Promise<void> {
  const [pair, ip] = counters;
  await giveBack(deps.redis, [
    ...(pair ? [{ key: pair.key, reset: true }] : []),
    ...(ip ? [{ key: ip.key }] : []),
  ]).catch((err: unknown) => deps.logger?.warn('could not reset a login counter', { err }));
}

async function loadUser(
  eventStore: EventStore,
  userId: string,
): Promise<{ user: UserState; revision: number }> {
  const events = await readStream<UserEvent>(eventStore, userStream(userId));
  return {
    user: aggregate(userDecider, events),
    revision: events.at(-1)?.streamVersion ?? -1,
  };
}

const sessionsOf = (deps: AuthDeps): SessionStore => ({
  redis: deps.redis,
  prefix: redisPrefixOf(deps),
});

/** After an append to a user stream: the copy every request checks. */
async function publish(deps: AuthDeps, user: UserState, revision: number): Promise<void> {
  if (!user.exists) return;
  await publishUserAccess(sessionsOf(deps), user.userId, {
    revision,
    tokenVersion: user.tokenVersion,
    disabled: user.disabled,
  });
}

/**
 * Login never uses a read model: username stream → userId → user stream →
 * password hash. Every attempt is counted before the password is tried, per
 * username and client address, per address, and globally per second. Unknown
 * user and wrong password answer the same, after the same scrypt work. A hash
 * of an older cost is re-hashed on success.
 */
export async function login(
  deps: AuthDeps,
  username: string,
  password: string,
  clientIp = 'unknown',
  now = Date.now(),
): Promise<IssuedToken> {
  const { config, eventStore } = deps;
  const cost = costOf(config);
  const name = username.trim().toLowerCase();
  // 1. throttle: count first
  const counters = loginCounters(deps, name, clientIp, now);
  await countAttempt(deps, counters);
  // 2. username → user (an outage meanwhile is not counted)
  const { user, revision } = await notJudged(deps, counters, async () => {
    const reservation = aggregate(
      usernameDecider,
      await readStream<UsernameEvent>(eventStore, usernameStream(name)),
    );
    return reservation.reserved
      ? await loadUser(eventStore, reservation.userId)
      : { user: userDecider.initialState(), revision: -1 };
  });
  // 3. password (the same work when there is no user)
  const ok = await verifyPassword(password, user.exists ? user.passwordHash : undefined, cost);
  if (!ok || !user.exists) throw new AppError('INVALID_CREDENTIALS');
  await forgiveAttempt(deps, counters);
  if (user.disabled) throw new AppError('USER_DISABLED');
  // 4. an older cost: re-hash now that the password is known (a concurrent change wins)
  if (needsRehash(user.passwordHash, cost)) {
    const passwordHash = await hashPassword(password, cost);
    await handle(
      eventStore,
      userDecider,
      userStream(user.userId),
      { type: 'RehashPassword', data: { passwordHash, previousHash: user.passwordHash } },
      { actor: { type: 'user', id: user.userId } },
    ).catch((err: unknown) => deps.logger?.warn('could not re-hash a password', { err }));
  }
  // 5. token, at the user's current token version
  await publish(deps, user, revision);
  return issueToken(config, {
    userId: user.userId,
    role: user.role,
    tokenVersion: user.tokenVersion,
  });
}

/** Ends the calling token: `user.session-ended.v1`, and Redis refuses it from now on. */
export async function logout(deps: AuthDeps, req: Request): Promise<void> {
  const principal = principalOf(req);
  if (principal.kind !== 'user' || principal.tokenId === undefined) {
    throw new AppError(
      'FORBIDDEN',
      'Only a login token can be logged out; revoke an API key with DELETE /v1/api-keys/{id}.',
    );
  }
  const tokenId = principal.tokenId;
  const expiresAtMs =
    principal.tokenExpiresAtMs ?? Date.now() + deps.config.auth.jwtTtlSeconds * 1000;
  await handle(
    deps.eventStore,
    userDecider,
    userStream(principal.userId),
    {
      type: 'EndSession',
      data: { tokenId, expiresAt: new Date(expiresAtMs).toISOString() },
    },
    metaOf(req, principal),
  );
  await publishEndedToken(sessionsOf(deps), tokenId, expiresAtMs);
}

/**
 * POST /v1/users/me/password: the current password (counted like a login),
 * then the new one; every earlier token of the user ends, and the answer is a
 * fresh token.
 */
export async function changePassword(
  deps: AuthDeps,
  req: Request,
  input: { currentPassword: string; newPassword: string },
  clientIp = 'unknown',
): Promise<IssuedToken> {
  const principal = principalOf(req);
  if (principal.kind !== 'user') {
    throw new AppError('FORBIDDEN', 'Change a password with a login token, not an API key.');
  }
  const { config, eventStore } = deps;
  const cost = costOf(config);
  const { newPassword } = input;
  if ([...newPassword].length < MIN_PASSWORD_LENGTH || newPassword.length > MAX_PASSWORD_LENGTH) {
    throw new AppError(
      'VALIDATION_FAILED',
      `The new password must have ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters.`,
      { field: 'newPassword' },
    );
  }
  const { user } = await loadUser(eventStore, principal.userId);
  if (!user.exists) throw new AppError('USER_NOT_FOUND');
  const counters = loginCounters(deps, user.username, clientIp, Date.now());
  await countAttempt(deps, counters);
  if (!(await verifyPassword(input.currentPassword, user.passwordHash, cost))) {
    throw new AppError('CURRENT_PASSWORD_WRONG');
  }
  await forgiveAttempt(deps, counters);
  const passwordHash = await hashPassword(newPassword, cost);
  const done = await handle(
    eventStore,
    userDecider,
    userStream(principal.userId),
    { type: 'ChangePassword', data: { passwordHash } },
    metaOf(req, principal),
  );
  await publish(deps, done.state, Number(done.version));
  if (!done.state.exists) throw new AppError('USER_NOT_FOUND');
  return issueToken(config, {
    userId: done.state.userId,
    role: done.state.role,
    tokenVersion: done.state.tokenVersion,
  });
}

/** Admin: disable (every token and API key of the user stops) or enable again. */
export async function setUserDisabled(
  deps: AuthDeps,
  req: Request,
  userId: string,
  disabled: boolean,
): Promise<{ userId: string; disabled: boolean }> {
  const principal = principalOf(req);
  const done = await handle(
    deps.eventStore,
    userDecider,
    userStream(userId),
    disabled ? { type: 'DisableUser', data: {} } : { type: 'EnableUser', data: {} },
    metaOf(req, principal),
  );
  if (done.version >= 0) await publish(deps, done.state, done.version);
  return { userId, disabled };
}

/** Counts a registration from this address before any work is done. */
async function countRegistration(deps: CommandDeps, ip: string): Promise<void> {
  const { auth } = deps.config;
  const taken = await takeAttempt(deps.redis, [
    {
      key: `${redisPrefixOf(deps)}register:ip:${ip}`,
      limit: auth.registerMaxPerIp,
      windowMs: auth.registerWindowSeconds * 1000,
    },
  ]);
  if (taken.ok) return;
  throw new AppError(
    'REGISTRATION_THROTTLED',
    `Too many registrations from this address; try again in ${taken.retryAfterSeconds} s.`,
    { retryAfterSeconds: taken.retryAfterSeconds },
    { 'Retry-After': String(taken.retryAfterSeconds) },
  );
}

const clientIpOf = (req: Request): string => req.ip ?? req.socket.remoteAddress ?? 'unknown';

export function usersRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  router.post('/v1/users', validateBody(registerUserBody), async (req, res) => {
    const body = req.body as Registration;
    await countRegistration(deps, clientIpOf(req));
    const { userId } = await registerUser(
      deps.eventStore,
      body,
      'member',
      metaOf(req),
      costOf(deps.config),
    );
    // the tenant starts as the deployment says (trial in production)
    await startTenant(deps, userId, deps.config.tenants.start, {
      ...metaOf(req),
      actor: { type: 'user', id: userId },
    });
    res.status(201).location(`/v1/users/${userId}`).json({ userId });
  });
  router.post('/v1/sessions', validateBody(loginBody), async (req, res) => {
    const body = req.body as { username: string; password: string };
    const token = await login(deps, body.username, body.password, clientIpOf(req));
    res.setHeader('Cache-Control', 'no-store');
    res.json(token);
  });
  router.post('/v1/sessions/logout', auth, async (req, res) => {
    await logout(deps, req);
    res.status(204).end();
  });
  router.post('/v1/users/me/password', auth, validateBody(changePasswordBody), async (req, res) => {
    const body = req.body as { currentPassword: string; newPassword: string };
    const token = await changePassword(deps, req, body, clientIpOf(req));
    res.setHeader('Cache-Control', 'no-store');
    res.json(token);
  });
  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    router.post(`/v1/users/:id/${action}`, auth, requireAdmin, async (req, res) => {
      const id = String(req.params.id);
      if (!/^[0-9a-f-]{36}$/.test(id)) throw new AppError('USER_NOT_FOUND');
      res.json(await setUserDisabled(deps, req, id, disabled));
    });
  }
  return router;
}
