// Where the dispatchers keep each supplier account's circuit breaker in
// Redis (processors/redisState.ts writes it), so that the query service can
// show it to admins without importing the processors. Both sides build the
// keys here.
import type { Redis } from 'ioredis';

import { breakerKey, breakerProbeKey, breakerWindowKey } from '../../contracts/index.ts';

export { breakerKey, breakerProbeKey, breakerWindowKey };

export type BreakerView = {
  /** closed: calls go; open: calls are skipped until `openUntil`; probe: one call tests it. */
  state: 'closed' | 'open' | 'probe';
  consecutiveFailures: number;
  openUntil: string | null;
  /** Calls and failed calls in the breaker's current window. */
  windowCalls: number;
  windowErrors: number;
};

/** The breaker of each account as the dispatchers left it in Redis. */
export async function readBreakers(
  redis: Redis,
  prefix: string,
  accounts: readonly string[],
  windowMs: number,
  nowMs = Date.now(),
): Promise<Map<string, BreakerView>> {
  const window = Math.floor(nowMs / windowMs);
  const tx = redis.pipeline();
  for (const a of accounts) {
    tx.hmget(breakerKey(prefix, a), 'fails', 'openUntil');
    tx.hmget(breakerWindowKey(prefix, a, window), 'calls', 'errors');
  }
  const replies = (await tx.exec()) ?? [];
  const out = new Map<string, BreakerView>();
  accounts.forEach((a, i) => {
    const [err1, b] = replies[2 * i] ?? [];
    const [err2, w] = replies[2 * i + 1] ?? [];
    if (err1) throw err1;
    if (err2) throw err2;
    const [fails, openUntilRaw] = (b as (string | null)[] | undefined) ?? [];
    const [calls, errors] = (w as (string | null)[] | undefined) ?? [];
    const openUntil = Number(openUntilRaw ?? 0) || 0;
    out.set(a, {
      state: openUntil === 0 ? 'closed' : nowMs < openUntil ? 'open' : 'probe',
      consecutiveFailures: Number(fails ?? 0) || 0,
      openUntil: openUntil === 0 ? null : new Date(openUntil).toISOString(),
      windowCalls: Number(calls ?? 0) || 0,
      windowErrors: Number(errors ?? 0) || 0,
    });
  });
  return out;
}
