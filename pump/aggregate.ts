// Per-minute aggregates of tracking events, computed from the raw events of a
// minute (never incremented), so that recomputing a minute is exact and
// idempotent. Percentiles are nearest-rank over the raw latencies.

export interface RawTracking {
  type: string;
  minute: Date;
  supplierAccount?: string;
  vendor?: string;
  outcome?: string;
  code?: string;
  rule?: string;
  kind?: string;
  latencyMs?: number;
}

export interface LatencyStats {
  count: number;
  min: number;
  max: number;
  sum: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface SupplierMinute {
  account: string;
  vendor: string | null;
  outcome: string;
  count: number;
  latency: LatencyStats | null;
  codes: { code: string; count: number }[];
}

export interface MinuteAggregate {
  _id: string;
  minute: Date;
  total: number;
  counts: {
    sendAccepted: number;
    sendRejected: number;
    supplierCall: number;
    webhookReceived: number;
    receiptMismatched: number;
  };
  rejections: { rule: string; count: number }[];
  webhooks: { kind: string; count: number }[];
  suppliers: SupplierMinute[];
  /** Receipts and pulled statuses that were not about the message they named, per account and reason. */
  receiptMismatches: { account: string; vendor: string | null; reason: string; count: number }[];
}

export const NO_ACCOUNT = '(none)';

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function latencyStats(values: readonly number[]): LatencyStats | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    sum: sorted.reduce((a, b) => a + b, 0),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

function countsOf(map: Map<string, number>, key: string) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function sortedCounts<K extends string>(map: Map<string, number>, name: K) {
  return [...map.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, count]) => ({ [name]: k, count }) as Record<K, string> & { count: number });
}

export function minuteKey(minute: Date): string {
  return minute.toISOString();
}

export function floorMinute(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 60_000) * 60_000);
}

/** What a minute's aggregate is made from, raw event by raw event (addToMinute). */
export interface MinuteTally {
  total: number;
  counts: MinuteAggregate['counts'];
  mismatches: Map<
    string,
    { account: string; vendor: string | null; reason: string; count: number }
  >;
  rejections: Map<string, number>;
  webhooks: Map<string, number>;
  suppliers: Map<
    string,
    {
      account: string;
      vendor: string | null;
      outcome: string;
      count: number;
      latencies: number[];
      codes: Map<string, number>;
    }
  >;
}

export function newMinuteTally(): MinuteTally {
  return {
    total: 0,
    counts: {
      sendAccepted: 0,
      sendRejected: 0,
      supplierCall: 0,
      webhookReceived: 0,
      receiptMismatched: 0,
    },
    mismatches: new Map(),
    rejections: new Map(),
    webhooks: new Map(),
    suppliers: new Map(),
  };
}

/** Counts one raw event into a minute's tally. */
export function addToMinute(t: MinuteTally, e: RawTracking): void {
  const counts = t.counts;
  t.total++;
  switch (e.type) {
    case 'send.accepted':
      counts.sendAccepted++;
      break;
    case 'send.rejected':
      counts.sendRejected++;
      countsOf(t.rejections, e.rule ?? NO_ACCOUNT);
      break;
    case 'webhook.received':
      counts.webhookReceived++;
      countsOf(t.webhooks, e.kind ?? NO_ACCOUNT);
      break;
    case 'receipt.mismatched': {
      counts.receiptMismatched++;
      const account = e.supplierAccount ?? NO_ACCOUNT;
      const reason = e.code ?? 'UNMATCHED';
      const key = `${account}\u0000${reason}`;
      const m = t.mismatches.get(key) ?? { account, vendor: e.vendor ?? null, reason, count: 0 };
      m.count++;
      t.mismatches.set(key, m);
      break;
    }
    case 'supplier.call': {
      counts.supplierCall++;
      const account = e.supplierAccount ?? NO_ACCOUNT;
      const outcome = e.outcome ?? 'unknown';
      const key = `${account}\u0000${outcome}`;
      let s = t.suppliers.get(key);
      if (!s) {
        s = {
          account,
          vendor: e.vendor ?? null,
          outcome,
          count: 0,
          latencies: [],
          codes: new Map(),
        };
        t.suppliers.set(key, s);
      }
      s.count++;
      if (s.vendor === null && e.vendor) s.vendor = e.vendor;
      if (typeof e.latencyMs === 'number') s.latencies.push(e.latencyMs);
      if (e.code !== undefined) countsOf(s.codes, e.code);
      break;
    }
  }
}

/** The aggregate document of a minute from its tally (which it leaves as it is). */
export function minuteOf(minute: Date, t: MinuteTally): MinuteAggregate {
  return {
    _id: minuteKey(minute),
    minute,
    total: t.total,
    counts: { ...t.counts },
    rejections: sortedCounts(t.rejections, 'rule'),
    webhooks: sortedCounts(t.webhooks, 'kind'),
    suppliers: [...t.suppliers.values()]
      .sort((a, b) =>
        a.account === b.account ? (a.outcome < b.outcome ? -1 : 1) : a.account < b.account ? -1 : 1,
      )
      .map((s) => ({
        account: s.account,
        vendor: s.vendor,
        outcome: s.outcome,
        count: s.count,
        latency: latencyStats(s.latencies),
        codes: sortedCounts(s.codes, 'code'),
      })),
    receiptMismatches: [...t.mismatches.values()]
      .map((m) => ({ ...m }))
      .sort((a, b) =>
        a.account === b.account ? (a.reason < b.reason ? -1 : 1) : a.account < b.account ? -1 : 1,
      ),
  };
}

/** The aggregate document of one minute from all its raw events. */
export function aggregateMinute(minute: Date, events: readonly RawTracking[]): MinuteAggregate {
  const t = newMinuteTally();
  for (const e of events) addToMinute(t, e);
  return minuteOf(minute, t);
}
