// Dispatch state shared by every dispatcher process, in Redis: per-account
// circuit breakers (the throughput caps are in throttle.ts), per-attempt send claims, the
// supplier-message-id and last-message lookups, and the due-time index of
// timers. All of it can be rebuilt (lookups and timers from the event store).
import type { Redis } from 'ioredis';
import { luaScript, type LuaScript } from '../platform/clients/index.ts';
import {
  lastMessageByAccountKey,
  lastMessageByExtendKey,
  lastMessageKey,
  type LastMessage,
} from '../platform/suppliers/lastMessage.ts';
import {
  claimKey,
  sharedSupplierLookupKey,
  supplierLookupKey,
  timersKey,
} from '../contracts/index.ts';
import type { ProcessorOptions } from './deps.ts';
import { breakerKey, breakerProbeKey, breakerWindowKey } from '../platform/suppliers/breaker.ts';

const NOW_MS = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS[1] breaker hash, KEYS[2] probe key, KEYS[3] window hash;
// ARGV ok, failures, errorRate, minCalls, windowMs, cooldownMs, calls. Returns 1 when it (re)opened.
const BREAKER_RECORD = `${NOW_MS}
local ok = ARGV[1] == '1'
redis.call('HINCRBY', KEYS[3], 'calls', tonumber(ARGV[7]))
if not ok then redis.call('HINCRBY', KEYS[3], 'errors', 1) end
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]) * 2)
if ok then
  redis.call('HSET', KEYS[1], 'fails', 0, 'openUntil', 0)
  redis.call('DEL', KEYS[2])
  return 0
end
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
local w = redis.call('HMGET', KEYS[3], 'calls', 'errors')
local calls = tonumber(w[1]) or 0; local errors = tonumber(w[2]) or 0
local openUntil = tonumber(redis.call('HGET', KEYS[1], 'openUntil') or '0') or 0
if openUntil > 0 or fails >= tonumber(ARGV[2]) or (calls >= tonumber(ARGV[4]) and errors / calls >= tonumber(ARGV[3])) then
  redis.call('HSET', KEYS[1], 'openUntil', now + tonumber(ARGV[6]))
  redis.call('DEL', KEYS[2])
  return 1
end
return 0`;

// One round trip right before a call (its throughput turn already taken,
// see throttle.ts): breaker, claim.
// KEYS[1] breaker hash, KEYS[2] probe key, KEYS[3] claim key;
// ARGV checkBreaker (1/0), cooldownMs, claim json, claim ttl ms.
// Returns {0} breaker open, {2, json} claimed by someone else,
// {3, 'closed'|'probe'|'skipped'} claimed by us. The clock is read only for a
// breaker that has opened: a closed one costs two commands (HGET, SET).
const ADMIT = `local breaker = 'skipped'
if ARGV[1] == '1' then
  local openUntil = tonumber(redis.call('HGET', KEYS[1], 'openUntil') or '0') or 0
  if openUntil == 0 then breaker = 'closed'
  else
    ${NOW_MS}
    if now < openUntil then return {0, ''}
    elseif redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then breaker = 'probe'
    else return {0, ''} end
  end
end
if redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4], 'NX') then return {3, breaker} end
return {2, redis.call('GET', KEYS[3]) or ''}`;

// KEYS[1] zset; ARGV member, score pairs. Removes members still at the score read.
const ACK_DUE = `local n = 0
for i = 1, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) then redis.call('ZREM', KEYS[1], ARGV[i]); n = n + 1 end
end
return n`;

/** What admit() decided: go (the attempt is ours), or why not. */
export type Admission =
  /** probe: the half-open breaker's one test call (its outcome is written at once). */
  { kind: 'go'; probe?: true } | { kind: 'open' } | { kind: 'claimed'; claim: Claim };

const scripts = new Map<string, LuaScript<unknown>>();

/** EVALSHA with the script's hash (EVAL once when Redis does not know it yet). */
function run(redis: Redis, script: string, keys: string[], args: (string | number)[]) {
  let run = scripts.get(script);
  if (run === undefined) {
    run = luaScript(script);
    scripts.set(script, run);
  }
  return run(redis, keys, args);
}

export interface Claim {
  owner: string;
  account: string;
  at: number;
}

export type { LastMessage };

const WEEK_MS = 7 * 86_400_000;

/**
 * How long a breaker found closed is taken as closed by this process: its
 * claims meanwhile are one SET, not the admit script (HGET and SET inside
 * EVALSHA). A breaker another process opens is seen that much later; one
 * this process opens, or a failure it records, drops the note at once.
 */
const CLOSED_NOTE_MS = 500;
const LAST_MESSAGE_MS = 30 * 86_400_000;

export class DispatchState {
  readonly redis: Redis;
  readonly prefix: string;
  private readonly options: ProcessorOptions;
  /** Healthy calls per account not written yet (see recordCall). */
  private readonly healthy = new Map<string, number>();
  private healthyTimer: NodeJS.Timeout | undefined;
  /** Accounts whose breaker was found closed, until when (ms epoch). */
  private readonly closedUntil = new Map<string, number>();

  constructor(redis: Redis, options: ProcessorOptions) {
    this.redis = redis;
    this.prefix = options.redisPrefix;
    this.options = options;
  }

  /**
   * Records a call's health; resolves true when the breaker opened. Healthy
   * calls are counted in this process and written together every 200 ms (one
   * round trip for many sends); a failure goes at once, after them, and so
   * does the outcome of a probe: a healthy probe closes the breaker now, not
   * up to 200 ms later while every other send fails over.
   */
  async recordCall(account: string, ok: boolean, probe = false): Promise<boolean> {
    if (ok && !probe) {
      this.healthy.set(account, (this.healthy.get(account) ?? 0) + 1);
      if (!this.healthyTimer) {
        this.healthyTimer = setTimeout(() => void this.flushHealthy(), 200);
        this.healthyTimer.unref();
      }
      return false;
    }
    this.closedUntil.delete(account);
    await this.flushHealthy(account);
    return this.recordCalls(account, ok, 1);
  }

  private async flushHealthy(only?: string): Promise<void> {
    if (only === undefined) this.healthyTimer = undefined;
    const accounts = only === undefined ? [...this.healthy.keys()] : [only];
    await Promise.all(
      accounts.map(async (account) => {
        const n = this.healthy.get(account) ?? 0;
        if (n === 0) return;
        this.healthy.delete(account);
        await this.recordCalls(account, true, n).catch(() => undefined);
      }),
    );
  }

  private async recordCalls(account: string, ok: boolean, calls: number): Promise<boolean> {
    const o = this.options;
    const window = Math.floor(Date.now() / o.breakerWindowMs);
    const r = await run(
      this.redis,
      BREAKER_RECORD,
      [
        breakerKey(this.prefix, account),
        breakerProbeKey(this.prefix, account),
        breakerWindowKey(this.prefix, account, window),
      ],
      [
        ok ? '1' : '0',
        o.breakerFailures,
        o.breakerErrorRate,
        o.breakerMinCalls,
        o.breakerWindowMs,
        o.breakerCooldownMs,
        calls,
      ],
    );
    return Number(r) === 1;
  }

  /**
   * Breaker check (unless checkBreaker is false) and the claim of the
   * attempt, in one round trip; a breaker found closed a moment ago
   * (CLOSED_NOTE_MS) is not read again.
   */
  async admit(
    account: string,
    messageId: string,
    attempt: number,
    claim: Claim,
    checkBreaker = true,
  ): Promise<Admission> {
    if (!checkBreaker || (this.closedUntil.get(account) ?? 0) > Date.now()) {
      const held = await this.claim(messageId, attempt, claim);
      return held ? { kind: 'claimed', claim: held } : { kind: 'go' };
    }
    const r = (await run(
      this.redis,
      ADMIT,
      [
        breakerKey(this.prefix, account),
        breakerProbeKey(this.prefix, account),
        claimKey(this.prefix, messageId, attempt),
      ],
      [checkBreaker ? '1' : '0', this.options.breakerCooldownMs, JSON.stringify(claim), 86_400_000],
    )) as [number, string];
    const [code, value] = r;
    if (code === 0) {
      this.closedUntil.delete(account);
      return { kind: 'open' };
    }
    if (value === 'closed') this.closedUntil.set(account, Date.now() + CLOSED_NOTE_MS);
    if (code === 3) return value === 'probe' ? { kind: 'go', probe: true } : { kind: 'go' };
    return {
      kind: 'claimed',
      claim: value ? (JSON.parse(value) as Claim) : { ...claim, owner: '?', at: Date.now() },
    };
  }

  /** Claims one send attempt of a message; the existing claim when someone else has it. */
  async claim(messageId: string, attempt: number, claim: Claim): Promise<Claim | undefined> {
    const key = claimKey(this.prefix, messageId, attempt);
    const ok = await this.redis.set(key, JSON.stringify(claim), 'PX', 86_400_000, 'NX');
    if (ok === 'OK') return undefined;
    const raw = await this.redis.get(key);
    return raw ? (JSON.parse(raw) as Claim) : { ...claim, owner: '?', at: Date.now() };
  }

  /**
   * Notes a submission for the receipts' and replies' look-ups. ageMs: how
   * long ago it happened (a rebuild), so each key keeps only what is left of
   * its lifetime and an expired one is not written at all.
   */
  async rememberSubmission(
    account: string,
    supplierMessageId: string,
    messageId: string,
    mobile: string,
    tenantId: string,
    extendCode?: string,
    ageMs = 0,
    /** The vendor id names a whole batch call: the lookup is by id and number. */
    sharedId = false,
  ): Promise<void> {
    const last = JSON.stringify({ messageId, tenantId, account } satisfies LastMessage);
    const supplierTtl = WEEK_MS - ageMs;
    const lastTtl = LAST_MESSAGE_MS - ageMs;
    if (lastTtl <= 0) return;
    // independent keys, no transaction needed; the client's auto-pipeline
    // sends them in the write of this event-loop turn, with every other
    // command of it (an explicit pipeline() is a write of its own per call).
    // As with the pipeline's exec() before, a failed write is not thrown: the
    // send happened; a receipt that finds no look-up is parked and retried,
    // and `streaming replay lookups` rebuilds them from the events.
    const writes: Promise<unknown>[] = [];
    if (supplierTtl > 0) {
      const key = sharedId
        ? this.sharedSupplierKey(account, supplierMessageId, mobile)
        : this.supplierKey(account, supplierMessageId);
      writes.push(this.redis.set(key, messageId, 'PX', supplierTtl));
    }
    if (mobile !== '' && tenantId !== '') {
      writes.push(
        this.redis.set(lastMessageKey(this.prefix, mobile), last, 'PX', lastTtl),
        this.redis.set(lastMessageByAccountKey(this.prefix, mobile, account), last, 'PX', lastTtl),
      );
      if (extendCode) {
        writes.push(
          this.redis.set(
            lastMessageByExtendKey(this.prefix, mobile, extendCode, account),
            last,
            'PX',
            lastTtl,
          ),
        );
      }
    }
    await Promise.allSettled(writes);
  }

  supplierKey(account: string, supplierMessageId: string): string {
    return supplierLookupKey(this.prefix, account, supplierMessageId);
  }

  /** The lookup of a vendor id that names a whole batch call (Aliyun SendBatchSms): per number. */
  sharedSupplierKey(account: string, supplierMessageId: string, mobile: string): string {
    return sharedSupplierLookupKey(this.prefix, account, supplierMessageId, mobile);
  }

  /** The message of a vendor id; with the number, a batch call's id is looked up first. */
  async messageForSupplierId(
    account: string,
    supplierMessageId: string,
    mobile?: string,
  ): Promise<string | null> {
    if (mobile === undefined || mobile === '') {
      return this.redis.get(this.supplierKey(account, supplierMessageId));
    }
    const [shared, own] = await this.redis.mget(
      this.sharedSupplierKey(account, supplierMessageId, mobile),
      this.supplierKey(account, supplierMessageId),
    );
    return shared ?? own ?? null;
  }

  /** Index a due time (ms) for a message; the timer processor republishes it then. */
  async schedule(messageId: string, dueMs: number): Promise<void> {
    await this.redis.zadd(timersKey(this.prefix), dueMs, messageId);
  }

  async scheduleMany(items: readonly { messageId: string; dueMs: number }[]): Promise<void> {
    if (items.length === 0) return;
    const args: (string | number)[] = [];
    for (const i of items) args.push(i.dueMs, i.messageId);
    await this.redis.zadd(timersKey(this.prefix), ...args);
  }

  async unscheduleMany(messageIds: readonly string[]): Promise<void> {
    if (messageIds.length === 0) return;
    await this.redis.zrem(timersKey(this.prefix), ...messageIds);
  }

  /** Due timers, left in place until ackDue (a crash in between re-fires them). */
  async peekDue(nowMs: number, limit: number): Promise<{ messageId: string; score: string }[]> {
    const r = await this.redis.zrangebyscore(
      timersKey(this.prefix),
      '-inf',
      nowMs,
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const out: { messageId: string; score: string }[] = [];
    for (let i = 0; i + 1 < r.length; i += 2) out.push({ messageId: r[i]!, score: r[i + 1]! });
    return out;
  }

  async ackDue(items: readonly { messageId: string; score: string }[]): Promise<void> {
    if (items.length === 0) return;
    const args = items.flatMap((i) => [i.messageId, i.score]);
    await run(this.redis, ACK_DUE, [timersKey(this.prefix)], args);
  }
}
