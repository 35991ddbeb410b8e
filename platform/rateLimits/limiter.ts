// Rate limits of a template's policy, enforced atomically in Redis.
//
// One Lua script checks every limit that applies and reserves all of them or
// none: a rejected attempt consumes nothing. Key layout (prefix default `rl:`):
//
//   <p>mi:<templateCode>:<e164>            last accept "<ms>|<token>", TTL 1 day
//                                           (minimum interval per mobile)
//   <p>mh:<templateCode>:<e164>:<YYYYMMDDHH>  accepts per mobile in that hour
//   <p>md:<templateCode>:<e164>:<YYYYMMDD>    accepts per mobile in that day
//   <p>td:<templateCode>:<YYYYMMDD>           accepts per template in that day
//   <p>nd:<tenantId>:<YYYYMMDD>               accepts per tenant in that day
//
// Platform limits (an admin's, on top of the policy: both apply, so a policy
// can never loosen them), in the same all-or-nothing step:
//
//   <p>pd:<tenantId>:<YYYYMMDD>               accepts per tenant in that day
//   <p>ps:<tenantId>:<epoch second>           accepts per tenant in that second
//   <p>pm:<tenantId>:<e164>:<YYYYMMDD>        accepts per mobile, all templates of the tenant
//   <p>pv:<e164>:<YYYYMMDD>                   verification codes per mobile, all tenants
//
// Hours and days are clock windows in UTC+8 (windows.ts). Mobile limits are
// per template (the policy is the template's). Counters expire a minute after
// their window ends. Keys span hash slots: run on one Redis (or a
// non-cluster primary), not a Redis Cluster.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { luaScript } from '../clients/luaScript.ts';
import type { RatePolicy } from '../../domain/index.ts';
import type { RecordedEvent } from '../eventStore/index.ts';
import { dayWindow, hourWindow } from './windows.ts';

export type RateRule =
  | 'RATE_LIMIT_MOBILE_INTERVAL'
  | 'RATE_LIMIT_MOBILE_HOURLY'
  | 'RATE_LIMIT_MOBILE_DAILY'
  | 'RATE_LIMIT_TEMPLATE_DAILY'
  | 'RATE_LIMIT_TENANT_DAILY'
  | 'PLATFORM_TENANT_DAILY'
  | 'PLATFORM_TRIAL_DAILY'
  | 'PLATFORM_TENANT_PER_SECOND'
  | 'PLATFORM_MOBILE_DAILY'
  | 'PLATFORM_VERIFICATION_MOBILE_DAILY';

/** Platform limits of one send; each absent (or 0) is no limit. */
export interface PlatformLimits {
  tenantMaxPerDay?: number | undefined;
  /** Reports PLATFORM_TRIAL_DAILY instead of PLATFORM_TENANT_DAILY. */
  trial?: boolean | undefined;
  tenantMaxPerSecond?: number | undefined;
  tenantMobileMaxPerDay?: number | undefined;
  /** Only for verification codes: across all tenants. */
  verificationMobileMaxPerDay?: number | undefined;
}

export interface LimitSubject {
  tenantId: string;
  templateCode: string;
  /** E.164 */
  mobile: string;
}

export interface Reservation {
  keys: string[];
  kinds: ('i' | 'c')[];
  token: string;
}

export type ReserveResult =
  { ok: true; reservation: Reservation } | { ok: false; rule: RateRule; retryAfterSeconds: number };

export interface LimitOptions {
  /** Key prefix, default `rl:`. Tests use their own. */
  prefix?: string;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

// Reserves the limits of several sends in one call, one send after the other,
// each all or nothing (a refused send consumes nothing, and the next send sees
// what the ones before it took). ARGV: now, the number of sends, then per send
// its token, its number of checks n, and per check kind, limit, ttl, endsAt;
// KEYS: every send's n keys in order. Returns per send the 1-based index of
// the check that refused it (0: reserved) and its wait in ms.
const RESERVE = `
local now = tonumber(ARGV[1])
local out = {}
local a, k = 3, 0
for item = 1, tonumber(ARGV[2]) do
  local token = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  local base = a + 2
  local worst, worstRetry = 0, -1
  local absent = {}
  -- one command reads the send's keys (an absent one is false)
  local values = redis.call('MGET', unpack(KEYS, k + 1, k + n))
  for j = 1, n do
    local b = base + (j - 1) * 4
    local kind = ARGV[b]
    local limit = tonumber(ARGV[b + 1])
    local retry = -1
    local v = values[j]
    if kind == 'i' then
      if v then
        local last = tonumber(string.match(v, '^(%d+)'))
        if last and now - last < limit then retry = last + limit - now end
      end
    else
      absent[j] = not v
      if tonumber(v or '0') >= limit then retry = tonumber(ARGV[b + 3]) - now end
    end
    if retry >= 0 and retry > worstRetry then
      worst = j
      worstRetry = retry
    end
  end
  if worst == 0 then
    worstRetry = 0
    for j = 1, n do
      local b = base + (j - 1) * 4
      if ARGV[b] == 'i' then
        redis.call('SET', KEYS[k + j], ARGV[1] .. '|' .. token, 'PX', ARGV[b + 2])
      elseif absent[j] then
        -- a new counter in one command (SET PX), an existing one keeps its expiry
        redis.call('SET', KEYS[k + j], 1, 'PX', ARGV[b + 2])
      else
        redis.call('INCR', KEYS[k + j])
      end
    end
  end
  out[#out + 1] = worst
  out[#out + 1] = worstRetry
  k = k + n
  a = base + n * 4
end
return out
`;

const RELEASE = `
local token = ARGV[1]
for i = 1, #KEYS do
  if ARGV[i + 1] == 'i' then
    local v = redis.call('GET', KEYS[i])
    if v and string.sub(v, -(#token + 1)) == '|' .. token then redis.call('DEL', KEYS[i]) end
  else
    local c = tonumber(redis.call('GET', KEYS[i]) or '0')
    if c > 0 then redis.call('DECR', KEYS[i]) end
  end
end
return 1
`;

// Raises a counter to at least a value / an interval stamp to at least a time:
// replaying twice, or while sends go on, never counts twice.
const RAISE = `
for i = 1, #KEYS do
  local b = (i - 1) * 3
  local kind = ARGV[b + 1]
  local value = tonumber(ARGV[b + 2])
  local ttl = ARGV[b + 3]
  local v = redis.call('GET', KEYS[i])
  local current = 0
  if v then current = tonumber(string.match(v, '^(%d+)')) or 0 end
  if value > current then
    if kind == 'i' then
      redis.call('SET', KEYS[i], ARGV[b + 2] .. '|replay', 'PX', ttl)
    else
      redis.call('SET', KEYS[i], ARGV[b + 2], 'PX', ttl)
    end
  end
end
return 1
`;

const reserve = luaScript<number[]>(RESERVE);
const release = luaScript<number>(RELEASE);
const raise = luaScript<number>(RAISE);

interface Check {
  key: string;
  kind: 'i' | 'c';
  rule: RateRule;
  /** max count, or the interval in ms */
  limit: number;
  ttlMs: number;
  endsAt: number;
}

const keys = {
  interval: (p: string, s: LimitSubject) => `${p}mi:${s.templateCode}:${s.mobile}`,
  hourly: (p: string, s: LimitSubject, w: string) => `${p}mh:${s.templateCode}:${s.mobile}:${w}`,
  daily: (p: string, s: LimitSubject, w: string) => `${p}md:${s.templateCode}:${s.mobile}:${w}`,
  template: (p: string, s: LimitSubject, w: string) => `${p}td:${s.templateCode}:${w}`,
  tenant: (p: string, s: LimitSubject, w: string) => `${p}nd:${s.tenantId}:${w}`,
  platformDay: (p: string, s: LimitSubject, w: string) => `${p}pd:${s.tenantId}:${w}`,
  platformSecond: (p: string, s: LimitSubject, second: number) => `${p}ps:${s.tenantId}:${second}`,
  platformMobile: (p: string, s: LimitSubject, w: string) =>
    `${p}pm:${s.tenantId}:${s.mobile}:${w}`,
  platformCodes: (p: string, s: LimitSubject, w: string) => `${p}pv:${s.mobile}:${w}`,
};

const positive = (n: number | undefined): n is number => n !== undefined && n > 0;

function platformChecks(
  limits: PlatformLimits,
  subject: LimitSubject,
  now: number,
  p: string,
): Check[] {
  const day = dayWindow(now);
  const out: Check[] = [];
  const daily = (key: string, rule: RateRule, limit: number): Check => ({
    key,
    kind: 'c',
    rule,
    limit,
    endsAt: day.endsAt,
    ttlMs: day.endsAt - now + MINUTE_MS,
  });
  if (positive(limits.tenantMaxPerDay)) {
    out.push(
      daily(
        keys.platformDay(p, subject, day.id),
        limits.trial ? 'PLATFORM_TRIAL_DAILY' : 'PLATFORM_TENANT_DAILY',
        limits.tenantMaxPerDay,
      ),
    );
  }
  if (positive(limits.tenantMaxPerSecond)) {
    const second = Math.floor(now / 1000);
    out.push({
      key: keys.platformSecond(p, subject, second),
      kind: 'c',
      rule: 'PLATFORM_TENANT_PER_SECOND',
      limit: limits.tenantMaxPerSecond,
      endsAt: (second + 1) * 1000,
      ttlMs: (second + 1) * 1000 - now + 2000,
    });
  }
  if (positive(limits.tenantMobileMaxPerDay)) {
    out.push(
      daily(
        keys.platformMobile(p, subject, day.id),
        'PLATFORM_MOBILE_DAILY',
        limits.tenantMobileMaxPerDay,
      ),
    );
  }
  if (positive(limits.verificationMobileMaxPerDay)) {
    out.push(
      daily(
        keys.platformCodes(p, subject, day.id),
        'PLATFORM_VERIFICATION_MOBILE_DAILY',
        limits.verificationMobileMaxPerDay,
      ),
    );
  }
  return out;
}

/** The limits of policy that apply to subject at now, in the order they are reported. */
function checksFor(policy: RatePolicy, subject: LimitSubject, now: number, p: string): Check[] {
  const m = policy.mobile;
  if (m === undefined && policy.template === undefined && policy.tenant === undefined) return [];
  const hour = hourWindow(now);
  const day = dayWindow(now);
  const counter = (key: string, rule: RateRule, limit: number, endsAt: number): Check => ({
    key,
    kind: 'c',
    rule,
    limit,
    endsAt,
    ttlMs: endsAt - now + MINUTE_MS,
  });
  const out: Check[] = [];
  if (m?.minIntervalSeconds !== undefined && m.minIntervalSeconds > 0) {
    out.push({
      key: keys.interval(p, subject),
      kind: 'i',
      rule: 'RATE_LIMIT_MOBILE_INTERVAL',
      limit: m.minIntervalSeconds * 1000,
      ttlMs: DAY_MS + MINUTE_MS,
      endsAt: 0,
    });
  }
  if (m?.maxPerHour !== undefined) {
    out.push(
      counter(
        keys.hourly(p, subject, hour.id),
        'RATE_LIMIT_MOBILE_HOURLY',
        m.maxPerHour,
        hour.endsAt,
      ),
    );
  }
  if (m?.maxPerDay !== undefined) {
    out.push(
      counter(keys.daily(p, subject, day.id), 'RATE_LIMIT_MOBILE_DAILY', m.maxPerDay, day.endsAt),
    );
  }
  if (policy.template?.maxPerDay !== undefined) {
    out.push(
      counter(
        keys.template(p, subject, day.id),
        'RATE_LIMIT_TEMPLATE_DAILY',
        policy.template.maxPerDay,
        day.endsAt,
      ),
    );
  }
  if (policy.tenant?.maxPerDay !== undefined) {
    out.push(
      counter(
        keys.tenant(p, subject, day.id),
        'RATE_LIMIT_TENANT_DAILY',
        policy.tenant.maxPerDay,
        day.endsAt,
      ),
    );
  }
  return out;
}

/**
 * Reserves every limit of policy for one send at now (epoch ms), all or
 * nothing. On refusal: the rule that waits longest and its Retry-After in
 * whole seconds (at least 1).
 */
export async function reserveLimits(
  redis: Redis,
  policy: RatePolicy,
  subject: LimitSubject,
  now: number = Date.now(),
  options: LimitOptions = {},
  platform: PlatformLimits = {},
): Promise<ReserveResult> {
  const [result] = await reserveLimitsMany(redis, [{ policy, subject, platform }], now, options);
  return result!;
}

/** One send of reserveLimitsMany. */
export interface LimitRequest {
  policy: RatePolicy;
  subject: LimitSubject;
  platform?: PlatformLimits | undefined;
}

/** Sends per script call: a call runs alone on the Redis server, so it is kept short. */
const RESERVE_CHUNK = 200;

/**
 * reserveLimits for many sends (a batch) in few round trips: one script call
 * per RESERVE_CHUNK sends, all sent at once. The sends are reserved one after
 * the other in the order given, each all or nothing, exactly as that many
 * reserveLimits calls in that order: a send refused consumes nothing, and two
 * sends to one mobile meet each other's interval. A send with nothing to
 * reserve costs nothing.
 */
export async function reserveLimitsMany(
  redis: Redis,
  requests: readonly LimitRequest[],
  now: number = Date.now(),
  options: LimitOptions = {},
): Promise<ReserveResult[]> {
  return Promise.all(reserveLimitsEach(redis, requests, now, options));
}

// A reservation's token: 8 random bytes in hex, cut from a pool refilled 4 KiB
// at a time. A randomBytes() call per send (a call into OpenSSL, about 3.5 µs
// against 0.3 µs) was 3.6% of the command service's CPU in a profile of
// batches of 1,000.
let tokenPool = Buffer.alloc(0);
let tokenAt = 0;
function reservationToken(): string {
  if (tokenAt + 8 > tokenPool.length) {
    tokenPool = randomBytes(4096);
    tokenAt = 0;
  }
  tokenAt += 8;
  return tokenPool.toString('hex', tokenAt - 8, tokenAt);
}

/**
 * reserveLimitsMany, one promise per send, settled as soon as the script
 * call of its chunk answers: a caller can go on with the first sends (append
 * them) while Redis still works on the later ones.
 */
export function reserveLimitsEach(
  redis: Redis,
  requests: readonly LimitRequest[],
  now: number = Date.now(),
  options: LimitOptions = {},
): Promise<ReserveResult>[] {
  const p = options.prefix ?? 'rl:';
  const results: Promise<ReserveResult>[] = new Array(requests.length);
  const pending: { index: number; checks: Check[]; reservation: Reservation }[] = [];
  requests.forEach((r, index) => {
    const checks = [
      ...checksFor(r.policy, r.subject, now, p),
      ...platformChecks(r.platform ?? {}, r.subject, now, p),
    ];
    // nothing to reserve: no token, no round trip
    if (checks.length === 0) {
      results[index] = Promise.resolve({
        ok: true,
        reservation: { keys: [], kinds: [], token: '' },
      });
      return;
    }
    const reservation: Reservation = {
      keys: checks.map((c) => c.key),
      kinds: checks.map((c) => c.kind),
      token: reservationToken(),
    };
    pending.push({ index, checks, reservation });
  });
  for (let i = 0; i < pending.length; i += RESERVE_CHUNK) {
    const chunk = pending.slice(i, i + RESERVE_CHUNK);
    const keys: string[] = [];
    const args: (string | number)[] = [now, chunk.length];
    for (const { checks, reservation } of chunk) {
      keys.push(...reservation.keys);
      args.push(reservation.token, checks.length);
      for (const c of checks) args.push(c.kind, c.limit, c.ttlMs, c.endsAt);
    }
    const answered = reserve(redis, keys, args);
    chunk.forEach(({ index, checks, reservation }, j) => {
      results[index] = answered.then((answer): ReserveResult => {
        const failed = Number(answer[2 * j]);
        const retryMs = Number(answer[2 * j + 1]);
        if (failed === 0) return { ok: true, reservation };
        const check = checks[failed - 1];
        if (!check) throw new Error(`rate-limit script returned an unknown index ${failed}`);
        return {
          ok: false,
          rule: check.rule,
          retryAfterSeconds: Math.max(1, Math.ceil(retryMs / 1000)),
        };
      });
    });
  }
  return results;
}

/** Gives back what reserveLimits took (the append failed, or the request was a repeat). */
export async function releaseReservation(redis: Redis, reservation: Reservation): Promise<void> {
  if (reservation.keys.length === 0) return;
  await release(redis, reservation.keys, [reservation.token, ...reservation.kinds]);
}

function acceptedAt(event: RecordedEvent): number {
  const at = event.data.acceptedAt;
  const ms = Date.parse(typeof at === 'string' ? at : event.metadata.timestamp);
  return Number.isNaN(ms) ? event.recordedAt.getTime() : ms;
}

/**
 * Re-applies the counters of `sms.accepted.v1` events for the windows current
 * at now, so that losing Redis resets nobody's quota. Counters are raised to
 * the replayed count (never added to), so replaying again, or while sends go
 * on, does not count twice. Give it every accepted event since the start of
 * the current UTC+8 day (one call, or many `add`s on createLimitReplay).
 */
export async function replayAccepted(
  redis: Redis,
  events: readonly RecordedEvent[],
  now: number = Date.now(),
  options: LimitOptions = {},
): Promise<{ keys: number }> {
  const replay = createLimitReplay(now, options);
  replay.add(events);
  return replay.apply(redis);
}

/** Batched form of replayAccepted: add() every batch, then apply() once. */
export function createLimitReplay(now: number = Date.now(), options: LimitOptions = {}) {
  const p = options.prefix ?? 'rl:';
  const hour = hourWindow(now);
  const day = dayWindow(now);
  const counters = new Map<string, { count: number; ttlMs: number }>();
  const stamps = new Map<string, number>();
  const bump = (key: string, endsAt: number) => {
    const entry = counters.get(key) ?? { count: 0, ttlMs: endsAt - now + MINUTE_MS };
    entry.count += 1;
    counters.set(key, entry);
  };
  return {
    add(events: readonly RecordedEvent[]): void {
      for (const event of events) {
        if (event.type !== 'sms.accepted.v1') continue;
        // a scheduled send reserves at send time (sms.limits-reserved), not at accept
        if (event.data.limitsAtSend === true) continue;
        const d = event.data;
        if (
          typeof d.tenantId !== 'string' ||
          typeof d.templateCode !== 'string' ||
          typeof d.mobile !== 'string'
        ) {
          continue;
        }
        const subject = { tenantId: d.tenantId, templateCode: d.templateCode, mobile: d.mobile };
        const at = acceptedAt(event);
        if (at > now) continue;
        if (now - at < DAY_MS) {
          const key = keys.interval(p, subject);
          stamps.set(key, Math.max(stamps.get(key) ?? 0, at));
        }
        if (hourWindow(at).id === hour.id) bump(keys.hourly(p, subject, hour.id), hour.endsAt);
        if (dayWindow(at).id === day.id) {
          bump(keys.daily(p, subject, day.id), day.endsAt);
          bump(keys.template(p, subject, day.id), day.endsAt);
          bump(keys.tenant(p, subject, day.id), day.endsAt);
          bump(keys.platformDay(p, subject, day.id), day.endsAt);
          bump(keys.platformMobile(p, subject, day.id), day.endsAt);
          if (d.kind === 'verification') bump(keys.platformCodes(p, subject, day.id), day.endsAt);
        }
      }
    },
    async apply(redis: Redis): Promise<{ keys: number }> {
      const entries: [string, 'i' | 'c', number, number][] = [];
      for (const [key, { count, ttlMs }] of counters) entries.push([key, 'c', count, ttlMs]);
      for (const [key, at] of stamps) entries.push([key, 'i', at, at + DAY_MS + MINUTE_MS - now]);
      for (let i = 0; i < entries.length; i += 200) {
        const chunk = entries.slice(i, i + 200);
        await raise(
          redis,
          chunk.map((e) => e[0]),
          chunk.flatMap((e) => [e[1], e[2], e[3]]),
        );
      }
      return { keys: entries.length };
    },
  };
}
