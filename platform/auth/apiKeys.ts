// API keys for systems: `sk_<keyId>_<secret>`. Only a keyed hash of the whole
// key is stored (in `apikey.created.v1`); the key itself is shown once.
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/index.ts';
import { keyedHash } from '../crypto/index.ts';

const PREFIX = 'sk_';

export interface NewApiKey {
  keyId: string;
  /** The full key, to show once. */
  key: string;
  /** What to store. */
  keyHash: string;
}

type HashConfig = Pick<Config, 'codes'>;

// Keys are hashed under a key of their own (STREAMING_API_KEY_HASH_KEY), not
// the one of verification codes; hashes from before that carry the old prefix
// and are still checked under the code hash key.
const PREFIX_HASH = 'hmac-sha256/apikey:';
const LEGACY_PREFIX = 'hmac-sha256:';

/** The stored form of a key: HMAC-SHA256 under the API-key hash key. */
export function hashApiKey(config: HashConfig, key: string): string {
  return `${PREFIX_HASH}${keyedHash(config.codes.apiKeyHashKey, `apikey:${key}`)}`;
}

function legacyHash(config: HashConfig, key: string): string {
  return `${LEGACY_PREFIX}${keyedHash(config.codes.hashKey, `apikey:${key}`)}`;
}

/** A fresh key: the id is a UUID (no underscores), the secret 32 random bytes. */
export function generateApiKey(config: HashConfig): NewApiKey {
  const keyId = randomUUID();
  const key = `${PREFIX}${keyId}_${randomBytes(32).toString('base64url')}`;
  return { keyId, key, keyHash: hashApiKey(config, key) };
}

/** The key id of something shaped like an API key, else undefined. */
export function parseApiKey(value: string): { keyId: string } | undefined {
  if (!value.startsWith(PREFIX)) return undefined;
  const rest = value.slice(PREFIX.length);
  const cut = rest.indexOf('_');
  if (cut <= 0 || cut === rest.length - 1) return undefined;
  const keyId = rest.slice(0, cut);
  if (!/^[0-9a-f-]{36}$/.test(keyId)) return undefined;
  return { keyId };
}

/** Constant-time comparison of a presented key with the stored hash. */
export function apiKeyMatches(config: HashConfig, key: string, storedHash: string): boolean {
  const computed = storedHash.startsWith(PREFIX_HASH)
    ? hashApiKey(config, key)
    : legacyHash(config, key);
  const a = Buffer.from(computed);
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
