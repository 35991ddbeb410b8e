// Lua scripts on the client the services use (createRedis: auto-pipelining),
// against the stack's real Redis: a script's first call, made in the same
// event-loop turn as other commands queued before and after it, answers its
// own caller, and the commands around it answer theirs. With ioredis's
// defineCommand, defined on first use as each module did, the call was lost
// from the auto-pipeline already queued, the replies after it went to the
// wrong callers and ioredis threw "results[i] is not iterable".
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config/index.ts';
import { giveBack, publishUserAccess, takeAttempt } from '../auth/index.ts';
import { createRedis, luaScript } from './index.ts';

const config = loadConfig({ ...process.env, STREAMING_ENV: 'test' });

describe('Lua scripts in an auto-pipeline', () => {
  const prefix = `lua${randomBytes(4).toString('hex')}:`;
  const clients: ReturnType<typeof createRedis>[] = [];
  /** A client of its own for each test: no script has run on it yet. */
  const fresh = () => {
    const redis = createRedis(config);
    clients.push(redis);
    return redis;
  };
  before(async () => {
    const redis = fresh();
    await redis.mset(`${prefix}a`, 'A', `${prefix}b`, 'B');
  });
  after(async () => {
    const redis = clients[0]!;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    for (const c of clients) c.disconnect();
  });

  it('a script Redis does not know yet (NOSCRIPT, then EVAL) answers its caller, between queued commands', async () => {
    const redis = fresh();
    await redis.ping();
    // a script text of its own: Redis has never seen it, so its EVALSHA fails with NOSCRIPT
    const echo = luaScript<string>(`-- ${prefix}\nreturn KEYS[1] .. '=' .. ARGV[1]`);
    const replies = await Promise.all([
      redis.get(`${prefix}a`),
      echo(redis, [`${prefix}k`], ['1']),
      redis.get(`${prefix}b`),
      echo(redis, [`${prefix}k`], ['2']),
    ]);
    assert.deepEqual(replies, ['A', `${prefix}k=1`, 'B', `${prefix}k=2`]);
  });

  it("the auth scripts' first calls on a client answer their callers, between queued commands", async () => {
    const redis = fresh();
    await redis.ping();
    const counter = { key: `${prefix}login`, limit: 1, windowMs: 60_000 };
    const session = { redis, prefix };
    const replies = await Promise.all([
      redis.get(`${prefix}a`),
      takeAttempt(redis, [counter]),
      redis.get(`${prefix}b`),
      publishUserAccess(session, 'u1', { revision: 3, tokenVersion: 1, disabled: false }),
      redis.get(`${prefix}a`),
    ]);
    assert.deepEqual(replies, ['A', { ok: true }, 'B', undefined, 'A']);
    // the attempt was counted once: the next is refused, and given back it is allowed again
    assert.equal((await takeAttempt(redis, [counter])).ok, false);
    const again = fresh();
    await again.ping();
    const [, given] = await Promise.all([
      again.get(`${prefix}a`),
      giveBack(again, [{ key: counter.key, reset: true }]),
    ]);
    assert.equal(given, undefined);
    assert.deepEqual(await takeAttempt(redis, [counter]), { ok: true });
    assert.match(String(await redis.get(`${prefix}auth:u:u1`)), /^3\|1\|0$/);
  });
});
