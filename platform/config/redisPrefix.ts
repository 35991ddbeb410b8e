// The one Redis key prefix of a system: a component's explicit `redisPrefix` (the
// tests give each run its own), else the configured STREAMING_REDIS_PREFIX, else its
// default. Every side resolves it here, so the command side's keys and the
// dispatchers' (lookups, breakers, last messages, rate limits) always agree.
import { DEFAULT_REDIS_PREFIX } from '../../contracts/index.ts';

export interface PrefixSource {
  readonly redisPrefix?: string | undefined;
  /** A Config, or the part of one a component was given (it may lack `redis`). */
  readonly config?: unknown;
}

export const redisPrefixOf = (deps: PrefixSource): string =>
  deps.redisPrefix ?? configuredPrefix(deps.config) ?? DEFAULT_REDIS_PREFIX;

function configuredPrefix(config: unknown): string | undefined {
  if (typeof config !== 'object' || config === null || !('redis' in config)) return undefined;
  const { redis } = config;
  if (typeof redis !== 'object' || redis === null || !('prefix' in redis)) return undefined;
  return typeof redis.prefix === 'string' ? redis.prefix : undefined;
}
