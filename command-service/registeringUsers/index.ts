// Registering users, logging in, and the first admin.
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type { Redis } from 'ioredis';
import {
  aggregate,
  DomainError,
  userDecider,
  userStream,
  usernameDecider,
  usernameStream,
  validateRegistration,
  type Role,
  type UserEvent,
  type UsernameEvent,
} from '../../domain/index.ts';
import {
  hashPassword,
  issueToken,
  verifyPassword,
  type IssuedToken,
} from '../../platform/auth/index.ts';
import type { Config } from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { WrongExpectedVersionError, type EventStore } from '../../platform/eventStore/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import { loginBody, registerUserBody } from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { metaOf, toNewEvents, type Meta } from '../commandHandling/index.ts';

export interface Registration {
  username: string;
  password: string;
  email?: string | undefined;
  phone?: string | undefined;
}

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
  const passwordHash = await hashPassword(input.password);
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
  eventStore,
  username,
  password,
}: {
  config?: Config;
  eventStore: EventStore;
  username: string;
  password: string;
}): Promise<{ userId: string }> {
  const { userId } = await registerUser(eventStore, { username, password }, 'admin', {
    actor: { type: 'system', id: 'cli' },
  });
  return { userId };
}

function throttleKey(prefix: string, username: string): string {
  return `${prefix}login:${username}`;
}

/**
 * Login never uses a read model: username stream → userId → user stream →
 * password hash. Unknown user and wrong password answer the same, after the
 * same scrypt work. Failures per username are counted in Redis.
 */
export async function login(
  deps: { config: Config; eventStore: EventStore; redis: Redis; redisPrefix?: string },
  username: string,
  password: string,
): Promise<IssuedToken> {
  const { config, eventStore, redis } = deps;
  const name = username.trim().toLowerCase();
  const key = throttleKey(deps.redisPrefix ?? '', name);
  // 1. throttle
  const failures = Number((await redis.get(key)) ?? 0);
  if (failures >= config.auth.loginMaxFailures) {
    const ttl = await redis.ttl(key);
    const retryAfter = ttl > 0 ? ttl : config.auth.loginThrottleSeconds;
    throw new AppError(
      'LOGIN_THROTTLED',
      `Too many failed logins for this username; try again in ${retryAfter} s.`,
      { retryAfterSeconds: retryAfter },
      { 'Retry-After': String(retryAfter) },
    );
  }
  // 2. username → user
  const reservation = aggregate(
    usernameDecider,
    (await eventStore.readStream(usernameStream(name))) as unknown as UsernameEvent[],
  );
  const user = reservation.reserved
    ? aggregate(
        userDecider,
        (await eventStore.readStream(userStream(reservation.userId))) as unknown as UserEvent[],
      )
    : userDecider.initialState();
  // 3. password (the same work when there is no user)
  const ok = await verifyPassword(password, user.exists ? user.passwordHash : undefined);
  if (!ok || !user.exists) {
    await redis.multi().incr(key).expire(key, config.auth.loginThrottleSeconds, 'NX').exec();
    throw new AppError('INVALID_CREDENTIALS');
  }
  await redis.del(key);
  // 4. token
  return issueToken(config, { userId: user.userId, role: user.role });
}

export function usersRouter(deps: CommandDeps): Router {
  const router = Router();
  router.post('/v1/users', validateBody(registerUserBody), async (req, res) => {
    const body = req.body as Registration;
    const { userId } = await registerUser(deps.eventStore, body, 'member', metaOf(req));
    res.status(201).location(`/v1/users/${userId}`).json({ userId });
  });
  router.post('/v1/sessions', validateBody(loginBody), async (req, res) => {
    const body = req.body as { username: string; password: string };
    const token = await login(deps, body.username, body.password);
    res.setHeader('Cache-Control', 'no-store');
    res.json(token);
  });
  return router;
}
