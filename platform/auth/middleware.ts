// Who is calling: `Authorization: Bearer <jwt>` for people, `Bearer <api key>`
// for systems. Sets req.principal; renders failures as 401 with a stable code.
import type { Request, RequestHandler } from 'express';
import {
  aggregate,
  apiKeyDecider,
  apiKeyStream,
  userDecider,
  userStream,
  type ApiKeyEvent,
  type UserEvent,
} from '../../domain/index.ts';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors/index.ts';
import type { EventStore } from '../eventStore/index.ts';
import { apiKeyMatches, parseApiKey } from './apiKeys.ts';
import { verifyToken, type Role } from './tokens.ts';

export interface Principal {
  userId: string;
  role: Role;
  kind: 'user' | 'apiKey';
  /** Set when kind is 'apiKey'. */
  keyId?: string;
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

function bearer(req: Request): string {
  const header = req.headers.authorization;
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
 * remembered per user).
 */
export function createAuthenticator({ config, eventStore }: AuthenticatorDeps): RequestHandler {
  const roles = new Map<string, Role>();

  async function roleOf(userId: string): Promise<Role> {
    const known = roles.get(userId);
    if (known) return known;
    const events = await eventStore.readStream(userStream(userId));
    const user = aggregate(userDecider, events as unknown as UserEvent[]);
    if (!user.exists) throw new AppError('INVALID_TOKEN', 'The owner of this API key is unknown.');
    roles.set(userId, user.role);
    return user.role;
  }

  async function fromApiKey(key: string, keyId: string): Promise<Principal> {
    const events = await eventStore.readStream(apiKeyStream(keyId));
    const state = aggregate(apiKeyDecider, events as unknown as ApiKeyEvent[]);
    if (!state.exists || !apiKeyMatches(config, key, state.keyHash)) {
      throw new AppError('INVALID_TOKEN', 'The API key is not valid.');
    }
    if (state.revoked) throw new AppError('API_KEY_REVOKED');
    return { userId: state.userId, role: await roleOf(state.userId), kind: 'apiKey', keyId };
  }

  return (req, _res, next) => {
    let token: string;
    try {
      token = bearer(req);
    } catch (err) {
      return next(err);
    }
    const apiKey = parseApiKey(token);
    if (apiKey) {
      fromApiKey(token, apiKey.keyId).then(
        (principal) => {
          req.principal = principal;
          next();
        },
        (err: unknown) => next(err),
      );
      return;
    }
    try {
      const claims = verifyToken(config, token);
      req.principal = { userId: claims.userId, role: claims.role, kind: 'user' };
    } catch (err) {
      return next(err);
    }
    next();
  };
}

/** After the authenticator: only admins pass; others get 404 so that admin routes do not show. */
export const requireAdmin: RequestHandler = (req, _res, next) => {
  const principal = req.principal;
  if (!principal) return next(new AppError('UNAUTHENTICATED'));
  if (principal.role !== 'admin') return next(new AppError('FORBIDDEN', 'Admins only.'));
  next();
};
