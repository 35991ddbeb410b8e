// A Lua script run by its SHA (EVALSHA), and by its text (EVAL) when the
// server does not know it (its first call, a restarted or flushed Redis):
// through the client's ordinary evalsha and eval, which every ioredis
// auto-pipeline has. Not ioredis's defineCommand: defined on first use (as
// each module here would), it is missing from an auto-pipeline queued
// earlier in the same turn, and that pipeline then loses the call and hands
// the replies of the commands after it to the wrong callers, or throws
// "results[i] is not iterable" from a callback (redis/ioredis#1931; the fix,
// #2180, is in no release as of ioredis 6.0.0).
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type LuaScript<R> = (
  redis: Redis,
  keys: readonly string[],
  args: readonly (string | number)[],
) => Promise<R>;

export function luaScript<R = unknown>(source: string): LuaScript<R> {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (redis, keys, args) => {
    try {
      return (await redis.evalsha(sha, keys.length, ...keys, ...args)) as R;
    } catch (err) {
      if (!String(err).includes('NOSCRIPT')) throw err;
      return (await redis.eval(source, keys.length, ...keys, ...args)) as R;
    }
  };
}
