// Password hashing with scrypt and a random salt, stored self-describing:
// `scrypt$N$r$p$<salt b64url>$<hash b64url>`. The cost is OWASP's current
// guidance for scrypt (N = 2^17, r = 8, p = 1: 128 MiB and about a quarter
// of a second per hash); a stored hash of another cost verifies with its own
// parameters and is re-hashed at the next successful login (needsRehash).
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** log2 of scrypt's N that production uses; only test and development may configure less. */
export const PASSWORD_LOG_N = 17;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
// Refuse to derive with absurd parameters read from a stored hash.
const MAX_LOG_N = 20;

/** How hard to hash: log2 of N (r = 8, p = 1). Default PASSWORD_LOG_N. */
export interface PasswordCost {
  logN: number;
}

const defaultCost: PasswordCost = { logN: PASSWORD_LOG_N };

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  const { N = 0, r = R, p = P } = options;
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFKC'),
      salt,
      KEY_LENGTH,
      // Node refuses anything over 32 MiB by default; scrypt needs 128·N·r·p bytes.
      { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export async function hashPassword(
  password: string,
  cost: PasswordCost = defaultCost,
): Promise<string> {
  const N = 2 ** cost.logN;
  const salt = randomBytes(16);
  const key = await derive(password, salt, { N, r: R, p: P });
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

// A fixed hash per cost to check against when the user does not exist, so that
// the answer takes as long as for a wrong password.
function dummy(cost: PasswordCost): string {
  return `scrypt$${2 ** cost.logN}$${R}$${P}$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(KEY_LENGTH).toString('base64url')}`;
}

/** True when the stored hash was made with other parameters than cost (so re-hash it). */
export function needsRehash(stored: string, cost: PasswordCost = defaultCost): boolean {
  const [scheme, n, r, p] = stored.split('$');
  return scheme !== 'scrypt' || Number(n) !== 2 ** cost.logN || Number(r) !== R || Number(p) !== P;
}

/**
 * True when password matches stored. With stored undefined it does the work
 * of the current cost and answers false.
 */
export async function verifyPassword(
  password: string,
  stored: string | undefined,
  cost: PasswordCost = defaultCost,
): Promise<boolean> {
  const parts = (stored ?? dummy(cost)).split('$');
  const [scheme, n, r, p, salt, hash] = parts;
  if (scheme !== 'scrypt' || !n || !r || !p || salt === undefined || hash === undefined)
    return false;
  const N = Number(n);
  if (!Number.isInteger(N) || N < 2 || N > 2 ** MAX_LOG_N || (N & (N - 1)) !== 0) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(password, Buffer.from(salt, 'base64url'), {
    N,
    r: Number(r),
    p: Number(p),
  });
  const same = key.length === expected.length && timingSafeEqual(key, expected);
  return stored !== undefined && same;
}
