// Access tokens for people: HS256 JWTs, algorithm pinned, issuer and audience checked.
// Each carries an id (`jti`, to end it alone at logout) and the user's token
// version (`ver`, to end all of them at a password change or a disable).
import { createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
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
  /** The user's token version at issue; tokens of older versions are refused. Default 0. */
  tokenVersion?: number;
  /** `jti`; set on every issued token (absent only on tokens from before it existed). */
  tokenId?: string;
  /** `exp` in epoch seconds, as verified. */
  expiresAtSeconds?: number;
}

type AuthConfig = Pick<Config, 'auth'>;

const ALGORITHM = 'HS256' as const;

/** Signs a token for userId with the role it had at login; it expires after config.auth.jwtTtlSeconds. */
export function issueToken(config: AuthConfig, claims: TokenClaims, now = Date.now()): IssuedToken {
  const iat = Math.floor(now / 1000);
  const exp = iat + config.auth.jwtTtlSeconds;
  const ver = claims.tokenVersion ?? 0;
  const token = jwt.sign({ role: claims.role, ver, iat, exp }, config.auth.jwtSecret, {
    algorithm: ALGORITHM,
    issuer: config.auth.jwtIssuer,
    audience: config.auth.jwtAudience,
    subject: claims.userId,
    jwtid: claims.tokenId ?? randomUUID(),
  });
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}

// jsonwebtoken turns a string secret into a KeyObject on every verify (trying
// it as a public key first, which throws): 12 % of a send's CPU. One per secret.
const secretKeys = new Map<string, KeyObject>();

function secretKey(secret: string): KeyObject {
  let key = secretKeys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    secretKeys.set(secret, key);
  }
  return key;
}

interface Verified {
  claims: TokenClaims;
  /** exp in epoch seconds; undefined when the token has none */
  exp: number | undefined;
  /** nbf in epoch seconds */
  nbf: number | undefined;
}

// Tokens that verified, per (secret, issuer, audience): a repeat skips the
// HMAC and JSON parsing, but expiry and not-before are checked on every use,
// exactly as jsonwebtoken does. Bounded; cleared when full.
const VERIFIED_MAX = 10_000;
const verifiedBy = new Map<string, Map<string, Verified>>();

function verifiedCache(config: AuthConfig): Map<string, Verified> {
  const id = `${config.auth.jwtIssuer}\n${config.auth.jwtAudience}\n${config.auth.jwtSecret}`;
  let cache = verifiedBy.get(id);
  if (!cache) {
    cache = new Map();
    verifiedBy.set(id, cache);
  }
  return cache;
}

/** Verifies signature (HS256 only: `alg: none` and other algorithms fail), expiry, iss and aud. */
export function verifyToken(config: AuthConfig, token: string, now = Date.now()): TokenClaims {
  const cache = verifiedCache(config);
  const known = cache.get(token);
  if (known) {
    const seconds = Math.floor(now / 1000);
    if (known.exp !== undefined && seconds >= known.exp) {
      cache.delete(token);
      throw new AppError('INVALID_TOKEN', 'The bearer token has expired; log in again.');
    }
    if (known.nbf !== undefined && known.nbf > seconds) {
      throw new AppError('INVALID_TOKEN', 'The bearer token is invalid.');
    }
    return known.claims;
  }
  const claims = verifyUncached(config, token, now);
  return claims;
}

function verifyUncached(config: AuthConfig, token: string, now: number): TokenClaims {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, secretKey(config.auth.jwtSecret), {
      clockTimestamp: Math.floor(now / 1000),
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
  const ver = payload.ver;
  if (ver !== undefined && (typeof ver !== 'number' || !Number.isSafeInteger(ver) || ver < 0)) {
    throw new AppError('INVALID_TOKEN', 'The bearer token has a malformed version.');
  }
  const claims: TokenClaims = {
    userId: payload.sub,
    role,
    tokenVersion: typeof ver === 'number' ? ver : 0,
    ...(typeof payload.jti === 'string' && payload.jti !== '' ? { tokenId: payload.jti } : {}),
    ...(typeof payload.exp === 'number' ? { expiresAtSeconds: payload.exp } : {}),
  };
  const cache = verifiedCache(config);
  if (cache.size >= VERIFIED_MAX) cache.clear();
  cache.set(token, {
    claims,
    exp: typeof payload.exp === 'number' ? payload.exp : undefined,
    nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined,
  });
  return claims;
}
