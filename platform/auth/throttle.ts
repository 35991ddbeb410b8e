// Attempt throttles that count first: one Lua step checks every counter and,
// only when all are under their limit, counts the attempt in all of them. So
// N parallel attempts against a limit L let exactly L through, and a refused
// attempt counts nowhere (it cannot extend anyone's lock).
import type { Redis } from 'ioredis';
import { luaScript } from '../clients/luaScript.ts';

export interface Counter {
  key: string;
  limit: number;
  windowMs: number;
}

/** Index of the counter that refused (0-based) and its remaining window, or undefined when counted. */
export type ThrottleResult = { ok: true } | { ok: false; index: number; retryAfterSeconds: number };

const TAKE = `
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[(i - 1) * 2 + 1]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      ttl = tonumber(ARGV[(i - 1) * 2 + 2])
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
    return {i, ttl}
  end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], ARGV[(i - 1) * 2 + 2])
  end
end
return {0, 0}
`;

const GIVE_BACK = `
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if ARGV[i] == 'reset' then redis.call('DEL', KEYS[i])
  elseif c > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
`;

const take = luaScript<[number, number]>(TAKE);
const giveBackScript = luaScript<number>(GIVE_BACK);

/** Counts one attempt in every counter, or in none when one is at its limit. */
export async function takeAttempt(
  redis: Redis,
  counters: readonly Counter[],
): Promise<ThrottleResult> {
  const args: (string | number)[] = [];
  for (const c of counters) args.push(c.limit, c.windowMs);
  const [index, ttl] = await take(
    redis,
    counters.map((c) => c.key),
    args,
  );
  if (index === 0) return { ok: true };
  return { ok: false, index: index - 1, retryAfterSeconds: Math.max(1, Math.ceil(ttl / 1000)) };
}

/** After a success: each key is decremented, or deleted when marked 'reset'. */
export async function giveBack(
  redis: Redis,
  entries: readonly { key: string; reset?: boolean }[],
): Promise<void> {
  if (entries.length === 0) return;
  await giveBackScript(
    redis,
    entries.map((e) => e.key),
    entries.map((e) => (e.reset ? 'reset' : 'decr')),
  );
}
