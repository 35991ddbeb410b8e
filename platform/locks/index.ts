// A Redis lock with a fencing token and a renewed lease.
//
// acquire: INCR `<key>:token` gives a strictly increasing fencing token, then
// SET `<key>` "<token>|<holder>" NX PX lease. While held, the lease is renewed
// every third of it by a script that extends it only if the value is still
// ours. When a renewal fails (the key expired or was taken over, or Redis is
// unreachable past the lease), the lock's AbortSignal fires: the work it
// guards must stop at its next checkpoint. Writes that must not come from a
// stale holder check the token (`isCurrent`, or compare tokens in a script).
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface LockOptions {
  /** Lease in milliseconds; the key expires this long after the last renewal. */
  leaseMs: number;
  /** Who holds it, shown in listings (default host:pid:random). */
  holder?: string;
  /** Renewal period (default a third of the lease). */
  renewEveryMs?: number;
  onLost?: (reason: string) => void;
}

export interface HeldLock {
  readonly key: string;
  readonly token: number;
  readonly holder: string;
  /** Aborted when the lease is lost (or after release). */
  readonly signal: AbortSignal;
  /** True while Redis still has this holder's token under the key. */
  isCurrent(): Promise<boolean>;
  /** Stops renewing and deletes the key if it is still ours. */
  release(): Promise<void>;
}

export interface LockInfo {
  holder: string;
  token: number;
  /** Remaining lease in ms. */
  ttlMs: number;
}

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** A default holder name: host, pid and a random suffix (two locks of one process differ). */
export function defaultHolder(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

function parse(value: string): { token: number; holder: string } {
  const bar = value.indexOf('|');
  return { token: Number(value.slice(0, bar)), holder: value.slice(bar + 1) };
}

/** Tries once; undefined when someone else holds the lock. */
export async function tryAcquireLock(
  redis: Redis,
  key: string,
  options: LockOptions,
): Promise<HeldLock | undefined> {
  const holder = options.holder ?? defaultHolder();
  // Cheap pre-check so that a held lock does not burn tokens.
  if ((await redis.exists(key)) === 1) return undefined;
  const token = await redis.incr(`${key}:token`);
  const value = `${token}|${holder}`;
  const ok = await redis.set(key, value, 'PX', options.leaseMs, 'NX');
  if (ok !== 'OK') return undefined;

  const controller = new AbortController();
  let released = false;
  const lose = (reason: string) => {
    if (controller.signal.aborted) return;
    clearInterval(timer);
    controller.abort(new Error(`lock ${key} lost: ${reason}`));
    if (!released) options.onLost?.(reason);
  };
  let lastRenewed = Date.now();
  const renew = async () => {
    try {
      const res = await redis.eval(RENEW, 1, key, value, String(options.leaseMs));
      if (Number(res) === 1) lastRenewed = Date.now();
      else lose('the lease expired or was taken over');
    } catch (err) {
      // Unreachable Redis: we may still hold it until the lease runs out.
      if (Date.now() - lastRenewed >= options.leaseMs) {
        lose(`renewal failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  const timer = setInterval(
    () => void renew(),
    options.renewEveryMs ?? Math.max(100, Math.floor(options.leaseMs / 3)),
  );
  timer.unref();

  return {
    key,
    token,
    holder,
    signal: controller.signal,
    async isCurrent() {
      return (await redis.get(key)) === value;
    },
    async release() {
      released = true;
      clearInterval(timer);
      if (!controller.signal.aborted) controller.abort(new Error(`lock ${key} released`));
      try {
        await redis.eval(RELEASE, 1, key, value);
      } catch {
        // the lease runs out by itself
      }
    },
  };
}

/** Who holds the lock now, if anyone. */
export async function lockInfo(redis: Redis, key: string): Promise<LockInfo | undefined> {
  const [value, ttl] = await Promise.all([redis.get(key), redis.pttl(key)]);
  if (value === null) return undefined;
  return { ...parse(value), ttlMs: Math.max(0, ttl) };
}

export {
  DATABASE_SCOPED_NAME_SQL,
  getNamedLock,
  releaseNamedLock,
  tryMysqlLock,
  withMysqlLock,
  type MysqlLockName,
  type MysqlLockOptions,
  type MysqlLockSession,
} from './mysql.ts';
