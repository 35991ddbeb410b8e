// Access tokens for people: HS256 JWTs, algorithm pinned, issuer and audience checked.
import jwt from 'jsonwebtoken';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors/index.ts';

export type Role = 'admin' | 'member';

export interface IssuedToken {
  token: string;
  /** ISO 8601 */
  expiresAt: string;
}

export interface TokenClaims {
  userId: string;
  role: Role;
}

type AuthConfig = Pick<Config, 'auth'>;

const ALGORITHM = 'HS256' as const;

/** Signs a token for userId with the role it had at login; it expires after config.auth.jwtTtlSeconds. */
export function issueToken(config: AuthConfig, claims: TokenClaims, now = Date.now()): IssuedToken {
  const iat = Math.floor(now / 1000);
  const exp = iat + config.auth.jwtTtlSeconds;
  const token = jwt.sign({ role: claims.role, iat, exp }, config.auth.jwtSecret, {
    algorithm: ALGORITHM,
    issuer: config.auth.jwtIssuer,
    audience: config.auth.jwtAudience,
    subject: claims.userId,
  });
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}

/** Verifies signature (HS256 only: `alg: none` and other algorithms fail), expiry, iss and aud. */
export function verifyToken(config: AuthConfig, token: string): TokenClaims {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, config.auth.jwtSecret, {
      algorithms: [ALGORITHM],
      issuer: config.auth.jwtIssuer,
      audience: config.auth.jwtAudience,
    });
  } catch (err) {
    const reason =
      err instanceof jwt.TokenExpiredError
        ? 'The bearer token has expired; log in again.'
        : 'The bearer token is invalid.';
    throw new AppError('INVALID_TOKEN', reason);
  }
  if (typeof payload === 'string') throw new AppError('INVALID_TOKEN');
  const role = payload.role;
  if (
    typeof payload.sub !== 'string' ||
    payload.sub === '' ||
    (role !== 'admin' && role !== 'member')
  ) {
    throw new AppError('INVALID_TOKEN', 'The bearer token lacks its subject or role.');
  }
  return { userId: payload.sub, role };
}
