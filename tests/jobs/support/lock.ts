import type { Redis } from 'ioredis';
import { tryAcquireLock } from '../../../platform/locks/index.ts';

/** Holds a lock as another process would; returns its release. */
export async function acquireLockForTest(redis: Redis, key: string, holder: string) {
  const lock = await tryAcquireLock(redis, key, { leaseMs: 10_000, holder });
  if (!lock) throw new Error(`${key} is already held`);
  return () => lock.release();
}
