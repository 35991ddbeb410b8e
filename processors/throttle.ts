// Per-account throughput shared by every dispatcher process, without polling.
//
// The cap lives in Redis as a GCRA "theoretical arrival time" per account
// (one string key). A message that needs the account joins this process's
// queue for it; one pump per account with waiters reserves the next slots in
// one round trip for as many queued messages as fit within the horizon
// ("yours are at now+0, +20 ms, +40 ms …") and each message sleeps until its
// slot. When the horizon is full the pump sleeps until a slot enters it. An
// account nobody waits for costs nothing; a burst of thousands of waiting
// messages costs one round trip per batch of slots, not one per message and
// poll. A reserved slot that goes unused (the process stopped, the breaker
// opened) is simply lost: the account runs a little under its cap, never over.
import type { Redis } from 'ioredis';
import { luaScript } from '../platform/clients/index.ts';

// KEYS[1] tat key; ARGV interval ms, tolerance ms (burst - 1 intervals), wanted
// slots, horizon ms. Returns {delay ms of each granted slot} or, when none fits
// in the horizon, {-1, ms until one does}.
const RESERVE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1]); local tol = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3]); local horizon = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local out = {}
for i = 1, wanted do
  local at = tat - tol
  if at < now then at = now end
  if at - now > horizon then break end
  out[#out + 1] = math.ceil(at - now)
  tat = tat + interval
end
if #out == 0 then return {-1, math.ceil(tat - tol - now - horizon)} end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 60000)
return out`;

const reserveSlots = luaScript<number[]>(RESERVE);

export interface ThrottleOptions {
  /** Prefix of the Redis keys (the processors' prefix). */
  prefix: string;
  /** How far ahead slots are reserved (default 1 s). */
  horizonMs?: number;
  /** Most slots one round trip reserves (default 256). */
  maxBatch?: number;
  /**
   * A slot this much past its time (the event loop was busy) is not used:
   * the waiter reserves again (default 250 ms). Bounds how much a busy
   * process can bunch its sends: in any window W at most burst + rate × (W + lateMs).
   */
  lateMs?: number;
}

interface AccountQueue {
  perSecond: number;
  waiters: ((granted: boolean) => void)[];
  pumping: boolean;
}

export class Throttle {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly horizonMs: number;
  private readonly maxBatch: number;
  private readonly queues = new Map<string, AccountQueue>();
  /** Pending sleeps and slot waits, with what each resolves on close. */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly lateMs: number;
  private closed = false;
  /** Slots given up because this process came to them too late. */
  late = 0;

  constructor(redis: Redis, options: ThrottleOptions) {
    this.redis = redis;
    this.prefix = options.prefix;
    this.horizonMs = options.horizonMs ?? 1_000;
    this.maxBatch = options.maxBatch ?? 256;
    this.lateMs = options.lateMs ?? 250;
  }

  key(account: string): string {
    return `${this.prefix}throttle:${account}`;
  }

  /**
   * Resolves true at this message's turn on the account (at most perSecond
   * per second over every process, after a first burst of perSecond), or
   * false when the throttle was closed meanwhile.
   */
  acquire(account: string, perSecond: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    let q = this.queues.get(account);
    if (!q) {
      q = { perSecond, waiters: [], pumping: false };
      this.queues.set(account, q);
    }
    q.perSecond = perSecond;
    const turn = new Promise<boolean>((resolve) => q.waiters.push(resolve));
    if (!q.pumping) void this.pump(account, q);
    return turn;
  }

  /** Messages of this process waiting for a slot (all accounts). */
  waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.waiters.length;
    return n;
  }

  /** Every waiter resolves false; no further Redis calls. */
  close(): void {
    this.closed = true;
    for (const [t, onClose] of this.timers) {
      clearTimeout(t);
      onClose();
    }
    this.timers.clear();
    for (const q of this.queues.values()) for (const w of q.waiters.splice(0)) w(false);
  }

  /** fire(true) after ms, or fire(false) at close(). */
  private later(ms: number, fire: (inTime: boolean) => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fire(true);
    }, ms);
    this.timers.set(t, () => fire(false));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, () => resolve()));
  }

  /**
   * Hands a slot to its waiter when it comes, unless this process was too
   * busy to use it in time: a slot used late would crowd the vendor's next
   * second, so a late waiter asks again, at the front of the queue. Never
   * early: the timer runs from the reply, the lateness from the request.
   */
  private grant(
    account: string,
    q: AccountQueue,
    w: (granted: boolean) => void,
    slotAt: number,
    delay: number,
  ): void {
    const fire = (inTime: boolean) => {
      if (!inTime || this.closed) return w(false);
      if (Date.now() - slotAt <= this.lateMs) return w(true);
      this.late++;
      q.waiters.unshift(w);
      if (!q.pumping) void this.pump(account, q);
    };
    if (delay <= 0) fire(true);
    else this.later(delay, fire);
  }

  private async pump(account: string, q: AccountQueue): Promise<void> {
    q.pumping = true;
    try {
      while (!this.closed && q.waiters.length > 0) {
        const rate = Math.max(0.001, q.perSecond);
        const interval = 1000 / rate;
        const burst = Math.max(1, Math.floor(rate));
        const wanted = Math.min(q.waiters.length, this.maxBatch);
        let reply: number[];
        const askedAt = Date.now();
        try {
          reply = await this.reserve(account, interval, (burst - 1) * interval, wanted);
        } catch {
          await this.sleep(200); // Redis unreachable: try again, the waiters keep waiting
          continue;
        }
        // The horizon is full: ask again once a quarter of it is free, so a
        // backlog takes slots a quarter-horizon at a time (a few round trips a
        // second) and not one slot per round trip as each enters the horizon.
        const refill = Math.max(1, Math.floor(this.horizonMs / 4));
        if (reply[0] === -1) {
          await this.sleep(Math.min(Math.max(reply[1] ?? 1, refill), this.horizonMs));
          continue;
        }
        for (const delay of reply) {
          const w = q.waiters.shift();
          if (!w) break; // cannot happen: never more slots than waiters
          this.grant(account, q, w, askedAt + delay, delay);
        }
        if (reply.length < wanted && q.waiters.length > 0) await this.sleep(refill);
      }
    } finally {
      q.pumping = false;
      if (q.waiters.length === 0) this.queues.delete(account);
      else if (!this.closed) void this.pump(account, q);
    }
  }

  private async reserve(
    account: string,
    interval: number,
    tolerance: number,
    wanted: number,
  ): Promise<number[]> {
    return reserveSlots(
      this.redis,
      [this.key(account)],
      [interval.toFixed(6), tolerance.toFixed(6), wanted, this.horizonMs],
    );
  }
}
