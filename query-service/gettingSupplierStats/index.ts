// GET /v1/stats/suppliers?from=&to= — per supplier account over a window:
// calls by outcome, success rate (accepted calls / calls), latency percentiles
// and supplier rejections by code; receipts (or pulled statuses) that named
// a message they were not about (another account, another vendor id,
// nothing), by reason; plus send rejections by rule.
//
// Each account also shows its circuit breaker as the dispatchers left it in
// Redis, a health word derived from it, its throughput cap, and a series of
// calls per bucket (at most ~120 buckets over the window) for the charts.
//
// Admins only: supplier performance is platform-wide and reveals the traffic
// of every tenant. The window is aligned to whole minutes (from floored, to
// ceiled), at most 31 days, default the last hour. Counts come from the minute
// aggregates the pump writes. Percentiles are exact (nearest rank over the raw
// latencies) when the window lies within the raw events' retention
// (STREAMING_TRACKING_TTL_DAYS); for older windows they are the call-weighted
// mean of the minutes' percentiles, marked `"percentiles": "approximate"`.
import { Router, type RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Config } from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { validateQuery } from '../../platform/http/index.ts';
import { requireAdmin } from '../../platform/auth/index.ts';
import { supplierStatsQuery } from '../../schemas/openapi/query.ts';
import { readBreakers, type BreakerView } from '../../platform/suppliers/breaker.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';

// Collections written by pump/ (which this folder may not import).
const TRACKING_MINUTES = 'tracking_minutes';
const TRACKING_EVENTS = 'tracking_events';
const MAX_WINDOW_MS = 31 * 86_400_000;
const MAX_EXACT_SAMPLES = 500_000;
/** The dispatchers' breaker window (the processors' default). */
const BREAKER_WINDOW_MS = 30_000;
const SERIES_BUCKETS = 120;

export interface SupplierStatsDeps {
  config: Pick<Config, 'tracking'> & Partial<Pick<Config, 'suppliers'>>;
  mongo: Db;
  /** Where the dispatchers keep the breakers (none: breakers not shown). */
  redis?: Redis;
  /** The dispatchers' Redis key prefix (default `streaming:`, the processors' default). */
  dispatchPrefix?: string;
  /**
   * The authenticator (platform/auth createAuthenticator), where the app does
   * not already authenticate /v1 (the query app does: not again here).
   */
  authenticate?: RequestHandler;
  now?: () => Date;
}

interface MinuteDoc {
  _id: string;
  minute: Date;
  suppliers: {
    account: string;
    vendor: string | null;
    outcome: string;
    count: number;
    latency: { count: number; p50: number; p95: number; p99: number } | null;
    codes: { code: string; count: number }[];
  }[];
  rejections: { rule: string; count: number }[];
  receiptMismatches?: { account: string; vendor: string | null; reason: string; count: number }[];
}

export interface SupplierStats {
  account: string;
  vendor: string | null;
  calls: number;
  outcomes: Record<string, number>;
  successRate: number | null;
  latencyMs: { count: number; p50: number; p95: number; p99: number } | null;
  rejections: { code: string; count: number }[];
  /** Receipts and pulled statuses that changed nothing: not about the message they named. */
  mismatchedReceipts: { total: number; reasons: { reason: string; count: number }[] };
  /** The configured throughput cap (calls per second), when the account is configured. */
  maxPerSecond: number | null;
  breaker: BreakerView | null;
  health: Health;
}

/**
 * down: breaker open; probing: one call tests it; degraded: failing calls
 * lately (consecutive failures, or 10 % of the breaker window's calls);
 * healthy otherwise; unknown without a breaker reading.
 */
export type Health = 'healthy' | 'degraded' | 'probing' | 'down' | 'unknown';

export function healthOf(b: BreakerView | null): Health {
  if (!b) return 'unknown';
  if (b.state === 'open') return 'down';
  if (b.state === 'probe') return 'probing';
  if (b.consecutiveFailures > 0) return 'degraded';
  if (b.windowCalls > 0 && b.windowErrors / b.windowCalls >= 0.1) return 'degraded';
  return 'healthy';
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function byKey<T>(map: Map<string, T>, key: string, make: () => T): T {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

const sortCounts = <K extends string>(m: Map<string, number>, name: K) =>
  [...m.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, count]) => ({ [name]: k, count }) as Record<K, string> & { count: number });

type Acc = {
  vendor: string | null;
  outcomes: Map<string, number>;
  codes: Map<string, number>;
  weighted: { n: number; p50: number; p95: number; p99: number };
  mismatches: Map<string, number>;
};

const newAcc = (vendor: string | null): Acc => ({
  vendor,
  outcomes: new Map<string, number>(),
  codes: new Map<string, number>(),
  weighted: { n: 0, p50: 0, p95: 0, p99: 0 },
  mismatches: new Map<string, number>(),
});

/** The minutes' counts per account, the throughput series and the send rejections. */
function foldMinutes(minutes: MinuteDoc[], from: Date, to: Date) {
  const accounts = new Map<string, Acc>();
  // calls per bucket and account, for the throughput chart
  const bucketMs =
    Math.max(1, Math.ceil((to.getTime() - from.getTime()) / 60_000 / SERIES_BUCKETS)) * 60_000;
  const bucketCount = Math.ceil((to.getTime() - from.getTime()) / bucketMs);
  const seriesCalls = new Map<string, number[]>();
  const seriesFailed = new Map<string, number[]>();
  const sendRejections = new Map<string, number>();
  const accountOf = (account: string, vendor: string | null): Acc =>
    byKey(accounts, account, () => newAcc(vendor));
  for (const doc of minutes) {
    for (const m of doc.receiptMismatches ?? []) {
      const acc = accountOf(m.account, m.vendor);
      acc.vendor ??= m.vendor;
      acc.mismatches.set(m.reason, (acc.mismatches.get(m.reason) ?? 0) + m.count);
    }
    for (const r of doc.rejections ?? []) {
      sendRejections.set(r.rule, (sendRejections.get(r.rule) ?? 0) + r.count);
    }
    const slot = Math.floor((new Date(doc.minute).getTime() - from.getTime()) / bucketMs);
    for (const s of doc.suppliers ?? []) {
      if (slot >= 0 && slot < bucketCount) {
        const calls = byKey(seriesCalls, s.account, () => new Array<number>(bucketCount).fill(0));
        calls[slot]! += s.count;
        if (s.outcome !== 'accepted') {
          const failed = byKey(seriesFailed, s.account, () =>
            new Array<number>(bucketCount).fill(0),
          );
          failed[slot]! += s.count;
        }
      }
      const acc = accountOf(s.account, s.vendor);
      acc.vendor ??= s.vendor;
      acc.outcomes.set(s.outcome, (acc.outcomes.get(s.outcome) ?? 0) + s.count);
      for (const c of s.codes ?? []) acc.codes.set(c.code, (acc.codes.get(c.code) ?? 0) + c.count);
      if (s.latency) {
        const w = acc.weighted;
        w.n += s.latency.count;
        w.p50 += s.latency.p50 * s.latency.count;
        w.p95 += s.latency.p95 * s.latency.count;
        w.p99 += s.latency.p99 * s.latency.count;
      }
    }
  }
  return { accounts, bucketMs, bucketCount, seriesCalls, seriesFailed, sendRejections };
}

/** Every call's latency per account from the raw events (while they are kept). */
async function rawLatencies(
  deps: Pick<SupplierStatsDeps, 'mongo'>,
  from: Date,
  to: Date,
): Promise<Map<string, number[]>> {
  const latencies = new Map<string, number[]>();
  const cursor = deps.mongo
    .collection<{ supplierAccount?: string; latencyMs?: number }>(TRACKING_EVENTS)
    .find(
      { type: 'supplier.call', minute: { $gte: from, $lt: to } },
      { projection: { _id: 0, supplierAccount: 1, latencyMs: 1 } },
    );
  for await (const e of cursor) {
    if (typeof e.latencyMs !== 'number') continue;
    byKey(latencies, e.supplierAccount ?? '(none)', () => []).push(e.latencyMs);
  }
  return latencies;
}

/** One account's row: calls, outcomes, latency percentiles, rejections, breaker. */
function accountStats(
  account: string,
  acc: Acc,
  latencies: Map<string, number[]> | undefined,
  maxPerSecond: number | null,
  breaker: BreakerView | null,
): SupplierStats {
  const calls = [...acc.outcomes.values()].reduce((a, b) => a + b, 0);
  const accepted = acc.outcomes.get('accepted') ?? 0;
  let latencyMs: SupplierStats['latencyMs'] = null;
  if (latencies) {
    const sorted = (latencies.get(account) ?? []).sort((a, b) => a - b);
    if (sorted.length) {
      latencyMs = {
        count: sorted.length,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
      };
    }
  } else if (acc.weighted.n > 0) {
    const w = acc.weighted;
    latencyMs = { count: w.n, p50: w.p50 / w.n, p95: w.p95 / w.n, p99: w.p99 / w.n };
  }
  return {
    account,
    vendor: acc.vendor,
    calls,
    outcomes: Object.fromEntries([...acc.outcomes.entries()].sort()),
    successRate: calls === 0 ? null : accepted / calls,
    latencyMs,
    rejections: sortCounts(acc.codes, 'code'),
    mismatchedReceipts: {
      total: [...acc.mismatches.values()].reduce((a, b) => a + b, 0),
      reasons: sortCounts(acc.mismatches, 'reason'),
    },
    maxPerSecond,
    breaker,
    health: healthOf(breaker),
  };
}

export async function supplierStats(
  deps: Pick<SupplierStatsDeps, 'config' | 'mongo' | 'redis' | 'dispatchPrefix'>,
  from: Date,
  to: Date,
  now: Date,
) {
  const minutes = await deps.mongo
    .collection<MinuteDoc>(TRACKING_MINUTES)
    .find(
      { minute: { $gte: from, $lt: to } },
      { projection: { minute: 1, suppliers: 1, rejections: 1, receiptMismatches: 1 } },
    )
    .toArray();

  const { accounts, bucketMs, bucketCount, seriesCalls, seriesFailed, sendRejections } =
    foldMinutes(minutes, from, to);
  // every configured account is listed, with no calls when it had none
  for (const a of deps.config.suppliers ?? []) {
    byKey(accounts, a.id, () => newAcc(a.vendor));
  }

  // Exact percentiles from the raw events while they are kept.
  const rawKeptFrom = now.getTime() - deps.config.tracking.ttlDays * 86_400_000;
  const samples = [...accounts.values()].reduce((n, a) => n + a.weighted.n, 0);
  const exact = from.getTime() >= rawKeptFrom && samples <= MAX_EXACT_SAMPLES;
  const latencies =
    exact && samples > 0 ? await rawLatencies(deps, from, to) : new Map<string, number[]>();
  const configured = new Map((deps.config.suppliers ?? []).map((a) => [a.id, a]));
  const breakers = deps.redis
    ? await readBreakers(
        deps.redis,
        deps.dispatchPrefix ?? redisPrefixOf({ config: deps.config }),
        [...accounts.keys()],
        BREAKER_WINDOW_MS,
        now.getTime(),
      )
    : new Map<string, BreakerView>();

  const suppliers: SupplierStats[] = [...accounts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([account, acc]) =>
      accountStats(
        account,
        acc,
        exact ? latencies : undefined,
        configured.get(account)?.maxPerSecond ?? null,
        breakers.get(account) ?? null,
      ),
    );
  const zeros = () => new Array<number>(bucketCount).fill(0);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    minutes: minutes.length,
    percentiles: exact ? 'exact' : 'approximate',
    suppliers,
    sendRejections: sortCounts(sendRejections, 'rule'),
    series: {
      bucketSeconds: bucketMs / 1000,
      starts: Array.from({ length: bucketCount }, (_, i) =>
        new Date(from.getTime() + i * bucketMs).toISOString(),
      ),
      accounts: suppliers.map((s) => ({
        account: s.account,
        calls: seriesCalls.get(s.account) ?? zeros(),
        failed: seriesFailed.get(s.account) ?? zeros(),
      })),
    },
  };
}

/** The router serving GET /v1/stats/suppliers (mount at the app root). */
export function supplierStatsRouter(deps: SupplierStatsDeps): Router {
  const router = Router();
  const authenticate: RequestHandler = deps.authenticate ?? ((_req, _res, next) => next());
  router.get(
    '/v1/stats/suppliers',
    authenticate,
    requireAdmin,
    validateQuery(supplierStatsQuery),
    async (req, res) => {
      const now = deps.now?.() ?? new Date();
      const q = req.query as { from?: string; to?: string };
      const toRaw = q.to !== undefined ? new Date(q.to) : now;
      const fromRaw =
        q.from !== undefined ? new Date(q.from) : new Date(toRaw.getTime() - 3_600_000);
      const from = new Date(Math.floor(fromRaw.getTime() / 60_000) * 60_000);
      const to = new Date(Math.ceil(toRaw.getTime() / 60_000) * 60_000);
      if (!(from.getTime() < toRaw.getTime())) {
        throw new AppError('INVALID_RANGE', '`from` must be before `to`.', {
          from: fromRaw.toISOString(),
          to: toRaw.toISOString(),
        });
      }
      if (to.getTime() - from.getTime() > MAX_WINDOW_MS) {
        throw new AppError('INVALID_RANGE', 'The window may span at most 31 days.', {
          maxDays: 31,
        });
      }
      res.setHeader('Cache-Control', 'no-store');
      res.json(await supplierStats(deps, from, to, now));
    },
  );
  return router;
}
