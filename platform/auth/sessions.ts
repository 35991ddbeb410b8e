// Whether a person's token still works, without a database round trip in the
// common case. The user stream is the truth (token version, disabled, ended
// sessions); Redis holds a copy that every request reads in one MGET:
//
//   <p>auth:u:<userId>   "<stream revision>|<token version>|<0|1 disabled>"
//   <p>auth:t:<tokenId>  "1" until the token's expiry: ended by logout
//
// The command that changes a user writes the copy after its append; the copy
// only ever moves to a higher stream revision, so a reader that loaded an
// older stream cannot overwrite a newer state. A missing copy (a new user, a
// flushed Redis) is rebuilt from the stream on first use, ended sessions
// included, so losing Redis never revives a token.
import type { Redis } from 'ioredis';
import { luaScript } from '../clients/luaScript.ts';
import { userDecider, userStream } from '../../domain/index.ts';
import { aggregateStream, type EventStore } from '../eventStore/index.ts';

export interface UserAccess {
  /** Revision of the user stream this state was read at; -1 when the stream is empty. */
  revision: number;
  tokenVersion: number;
  disabled: boolean;
}

const userKey = (prefix: string, userId: string) => `${prefix}auth:u:${userId}`;
const tokenKey = (prefix: string, tokenId: string) => `${prefix}auth:t:${tokenId}`;

const RAISE = `
local v = redis.call('GET', KEYS[1])
if v then
  local rev = tonumber(string.match(v, '^(-?%d+)'))
  if rev and rev >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3])
return 1
`;

const raise = luaScript<number>(RAISE);

function parse(value: string | null): UserAccess | undefined {
  if (value === null) return undefined;
  const [rev, ver, disabled] = value.split('|');
  if (rev === undefined || ver === undefined || disabled === undefined) return undefined;
  return { revision: Number(rev), tokenVersion: Number(ver), disabled: disabled === '1' };
}

export interface SessionStore {
  redis: Redis;
  /** Prefix of the keys, as the rest of the service's keys. */
  prefix: string;
}

/** Publishes the access state of a user (after an append to its stream). */
export async function publishUserAccess(
  store: SessionStore,
  userId: string,
  access: UserAccess,
): Promise<void> {
  await raise(
    store.redis,
    [userKey(store.prefix, userId)],
    [String(access.revision), String(access.tokenVersion), access.disabled ? '1' : '0'],
  );
}

/** Marks one token as ended until it would have expired (epoch ms). */
export async function publishEndedToken(
  store: SessionStore,
  tokenId: string,
  expiresAtMs: number,
  now = Date.now(),
): Promise<void> {
  const ttl = expiresAtMs - now;
  if (ttl <= 0) return;
  await store.redis.set(tokenKey(store.prefix, tokenId), '1', 'PX', ttl);
}

/** Reads the user stream and publishes its access state and unexpired ended sessions. */
export async function rebuildUserAccess(
  store: SessionStore,
  eventStore: EventStore,
  userId: string,
  now = Date.now(),
): Promise<{ access: UserAccess; endedTokens: ReadonlySet<string> }> {
  const { state: user, version: revision } = await aggregateStream(
    eventStore,
    userDecider,
    userStream(userId),
  );
  const access: UserAccess = user.exists
    ? { revision, tokenVersion: user.tokenVersion, disabled: user.disabled }
    : { revision, tokenVersion: 0, disabled: false };
  const ended = new Set<string>();
  if (user.exists) {
    for (const [tokenId, expiresAt] of Object.entries(user.endedSessions)) {
      const at = Date.parse(expiresAt);
      if (at > now) {
        ended.add(tokenId);
        await publishEndedToken(store, tokenId, at, now);
      }
    }
  }
  await publishUserAccess(store, userId, access);
  return { access, endedTokens: ended };
}

/**
 * The user's access state and whether tokenId was ended: one MGET, and the
 * stream only when Redis has no copy for the user. `alsoRead`: other keys
 * read in the same MGET (a caller's own copies, e.g. the tenant's state for
 * the accept path), their values in `also`, in order (null: absent).
 */
export async function userAccess(
  store: SessionStore,
  eventStore: EventStore,
  userId: string,
  tokenId: string | undefined,
  alsoRead: readonly string[] = [],
): Promise<{ access: UserAccess; tokenEnded: boolean; also: (string | null)[] }> {
  const keys = [userKey(store.prefix, userId)];
  if (tokenId !== undefined) keys.push(tokenKey(store.prefix, tokenId));
  const values = await store.redis.mget(...keys, ...alsoRead);
  const [user, token] = values;
  const also = values.slice(keys.length).map((v) => v ?? null);
  const access = parse(user ?? null);
  if (access) return { access, tokenEnded: token !== null && token !== undefined, also };
  const rebuilt = await rebuildUserAccess(store, eventStore, userId);
  return {
    access: rebuilt.access,
    tokenEnded: tokenId !== undefined && rebuilt.endedTokens.has(tokenId),
    also,
  };
}
