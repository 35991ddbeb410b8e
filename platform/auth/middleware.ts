// Who is calling: `Authorization: Bearer <jwt>` for people, `Bearer <api key>`
// for systems. Sets req.principal; renders failures as 401 with a stable code.
import type { Request, RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { apiKeyDecider, apiKeyStream, userDecider, userStream } from '../../domain/index.ts';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors/index.ts';
import { aggregateStream, type EventStore } from '../eventStore/index.ts';
import { apiKeyMatches, parseApiKey } from './apiKeys.ts';
import { userAccess, type SessionStore } from './sessions.ts';
import { verifyToken, type Role } from './tokens.ts';
import { redisPrefixOf } from '../config/index.ts';

export interface Principal {
  userId: string;
  role: Role;
  kind: 'user' | 'apiKey';
  /** Set when kind is 'apiKey'. */
  keyId?: string;
  /** Set when kind is 'user': the token's id and expiry (epoch ms), to end it at logout. */
  tokenId?: string;
  tokenExpiresAtMs?: number;
  /**
   * The keys of AuthenticatorDeps.prefetch and their values (null: absent),
   * read in the session check's MGET when this request was authenticated:
   * for this request only, never to be kept.
   */
  prefetched?: ReadonlyMap<string, string | null>;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the authenticator. */
    principal?: Principal;
  }
}

export interface AuthenticatorDeps {
  config: Pick<Config, 'auth' | 'codes'>;
  eventStore: EventStore;
  /** Where the users' token versions and ended tokens are (see sessions.ts). */
  redis: Redis;
  /** The service's Redis key prefix. Default ''. */
  redisPrefix?: string | undefined;
  /**
   * Keys of the caller (by user id) that the service reads on most requests,
   * read in the same MGET as the session check and handed over on
   * Principal.prefetched: one Redis round trip where there would be two.
   */
  prefetch?: ((userId: string) => string[]) | undefined;
}

/** The authenticated caller; throws UNAUTHENTICATED when the authenticator did not run or let it through. */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw new AppError('UNAUTHENTICATED');
  return req.principal;
}

/** A member sees only their own tenant (tenantId = their userId); an admin sees all. */
export function canSee(principal: Principal, tenantId: string): boolean {
  return principal.role === 'admin' || principal.userId === tenantId;
}

/** The actor to stamp on event metadata for this principal. */
export function actorOf(principal: Principal): { type: 'user' | 'apiKey'; id: string } {
  return principal.kind === 'apiKey' && principal.keyId !== undefined
    ? { type: 'apiKey', id: principal.keyId }
    : { type: 'user', id: principal.userId };
}

/** The token or API key of an `Authorization: Bearer …` value (HTTP header or gRPC metadata). */
export function bearerOf(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new AppError('UNAUTHENTICATED', 'Send Authorization: Bearer <token or API key>.');
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match?.[1]) {
    throw new AppError('INVALID_TOKEN', 'The Authorization header must be "Bearer <token>".');
  }
  return match[1];
}

/**
 * Express middleware that authenticates every request it sees. API keys are
 * checked against their stream on every call, so a revocation applies at once;
 * the owner's role comes from the user stream (roles never change, so it is
 * remembered per user). A person's token must carry the user's current token
 * version and not have been ended; a disabled user's tokens and API keys stop
 * (one Redis MGET per request, see sessions.ts, which also reads the keys of
 * `prefetch`).
 */
export function createAuthenticator(deps: AuthenticatorDeps): RequestHandler {
  const resolve = createPrincipalResolver(deps);
  return (req, _res, next) => {
    resolve(req.headers.authorization).then(
      (principal) => {
        req.principal = principal;
        next();
      },
      (err: unknown) => next(err),
    );
  };
}

/**
 * The caller of an `Authorization` value, for any transport (the HTTP
 * middleware above, the gRPC metadata): rejects with the same AppErrors.
 */
export function createPrincipalResolver({
  config,
  eventStore,
  redis,
  redisPrefix,
  prefetch,
}: AuthenticatorDeps): (authorization: string | undefined) => Promise<Principal> {
  const roles = new Map<string, Role>();
  const sessions: SessionStore = { redis, prefix: redisPrefixOf({ redisPrefix, config }) };

  async function accessOf(userId: string, tokenId: string | undefined) {
    const keys = prefetch?.(userId) ?? [];
    try {
      const found = await userAccess(sessions, eventStore, userId, tokenId, keys);
      const prefetched =
        keys.length === 0 ? undefined : new Map(keys.map((k, i) => [k, found.also[i] ?? null]));
      return { ...found, prefetched: prefetched ? { prefetched } : {} };
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('DEPENDENCY_UNAVAILABLE', 'Sessions cannot be checked now; retry later.');
    }
  }

  async function roleOf(userId: string): Promise<Role> {
    const known = roles.get(userId);
    if (known) return known;
    const { state: user } = await aggregateStream(eventStore, userDecider, userStream(userId));
    if (!user.exists) throw new AppError('INVALID_TOKEN', 'The owner of this API key is unknown.');
    roles.set(userId, user.role);
    return user.role;
  }

  async function fromApiKey(key: string, keyId: string): Promise<Principal> {
    const { state } = await aggregateStream(eventStore, apiKeyDecider, apiKeyStream(keyId));
    if (!state.exists || !apiKeyMatches(config, key, state.keyHash)) {
      throw new AppError('INVALID_TOKEN', 'The API key is not valid.');
    }
    if (state.revoked) throw new AppError('API_KEY_REVOKED');
    const { access, prefetched } = await accessOf(state.userId, undefined);
    if (access.disabled) throw new AppError('USER_DISABLED');
    return {
      userId: state.userId,
      role: await roleOf(state.userId),
      kind: 'apiKey',
      keyId,
      ...prefetched,
    };
  }

  async function fromToken(token: string): Promise<Principal> {
    const claims = verifyToken(config, token);
    const { access, tokenEnded, prefetched } = await accessOf(claims.userId, claims.tokenId);
    if (access.disabled) throw new AppError('USER_DISABLED');
    if (tokenEnded || (claims.tokenVersion ?? 0) !== access.tokenVersion) {
      throw new AppError('TOKEN_REVOKED');
    }
    return {
      userId: claims.userId,
      role: claims.role,
      kind: 'user',
      ...(claims.tokenId === undefined ? {} : { tokenId: claims.tokenId }),
      ...(claims.expiresAtSeconds === undefined
        ? {}
        : { tokenExpiresAtMs: claims.expiresAtSeconds * 1000 }),
      ...prefetched,
    };
  }

  return async (authorization) => {
    const token = bearerOf(authorization);
    const apiKey = parseApiKey(token);
    return apiKey ? fromApiKey(token, apiKey.keyId) : fromToken(token);
  };
}

/** After the authenticator: only admins pass; a signed-in non-admin gets 403 `FORBIDDEN`, no principal 401. */
export const requireAdmin: RequestHandler = (req, _res, next) => {
  const principal = req.principal;
  if (!principal) return next(new AppError('UNAUTHENTICATED'));
  if (principal.role !== 'admin') return next(new AppError('FORBIDDEN', 'Admins only.'));
  next();
};
