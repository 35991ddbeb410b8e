// GET /v1/stats: messages accepted per hour or day, counted by status,
// supplier account and template, with the receipt latency percentiles of the
// bucket's delivered messages (nearest rank, worked out by MariaDB's
// PERCENTILE_DISC): from the submission to the delivery report's arrival, as
// the events recorded them (the row's updated_at; a delivered row changes no
// more). Not the vendor's own report time: Aliyun's has whole seconds only.
import { Router, type Request } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { statsQuery } from '../../schemas/openapi/query.ts';
import { parseRange, visibleTenant } from '../params.ts';
import { waitForReadModels, type QueryDeps } from '../readModels.ts';
import { MESSAGE_HISTORY } from '../../contracts/index.ts';

const MAX_DAYS = { hour: 31, day: 400 } as const;
const HOUR = 3_600_000;

interface Bucket {
  start: string;
  total: number;
  byStatus: Record<string, number>;
  bySupplier: Record<string, number>;
  byTemplate: Record<string, number>;
  receiptLatencyMs: { count: number; p50: number; p90: number; p99: number } | null;
}

async function stats(deps: QueryDeps, req: Request) {
  const q = validatedQuery<{
    from?: string;
    to?: string;
    granularity: 'hour' | 'day';
    tenant?: string;
    after?: number;
  }>(req);
  const granularity = q.granularity;
  const range = parseRange(q, MAX_DAYS[granularity]);
  const to = range.to ?? new Date(Math.ceil(Date.now() / HOUR) * HOUR);
  const from =
    range.from ?? new Date(to.getTime() - (granularity === 'hour' ? 24 * HOUR : 30 * 24 * HOUR));
  // only one side given: the default span must still fit
  parseRange({ from: from.toISOString(), to: to.toISOString() }, MAX_DAYS[granularity]);
  const tenant = visibleTenant(req, q.tenant);
  await waitForReadModels(deps, [MESSAGE_HISTORY], q.after);
  const format = granularity === 'hour' ? '%Y-%m-%dT%H:00:00.000Z' : '%Y-%m-%dT00:00:00.000Z';
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    `SELECT DATE_FORMAT(accepted_at, ?) AS bucket, status, supplier_account, template_code, COUNT(*) AS n
     FROM message_history
     WHERE accepted_at >= ? AND accepted_at < ?${tenant === undefined ? '' : ' AND tenant_id = ?'}
     GROUP BY bucket, status, supplier_account, template_code
     ORDER BY bucket`,
    tenant === undefined ? [format, from, to] : [format, from, to, tenant],
  );
  const [latencies] = await deps.mysql.query<RowDataPacket[]>(
    `SELECT DISTINCT bucket, COUNT(*) OVER (PARTITION BY bucket) AS n,
       PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY ms) OVER (PARTITION BY bucket) AS p50,
       PERCENTILE_DISC(0.9) WITHIN GROUP (ORDER BY ms) OVER (PARTITION BY bucket) AS p90,
       PERCENTILE_DISC(0.99) WITHIN GROUP (ORDER BY ms) OVER (PARTITION BY bucket) AS p99
     FROM (SELECT DATE_FORMAT(accepted_at, ?) AS bucket,
             GREATEST(0, TIMESTAMPDIFF(MICROSECOND, submitted_at, updated_at) / 1000) AS ms
           FROM message_history
           WHERE status = 'delivered' AND submitted_at IS NOT NULL
             AND accepted_at >= ? AND accepted_at < ?${tenant === undefined ? '' : ' AND tenant_id = ?'}) d
     WINDOW w AS (PARTITION BY bucket)`,
    tenant === undefined ? [format, from, to] : [format, from, to, tenant],
  );
  const latencyOf = new Map(
    latencies.map((r) => [
      String(r.bucket),
      { count: Number(r.n), p50: Number(r.p50), p90: Number(r.p90), p99: Number(r.p99) },
    ]),
  );
  const buckets = new Map<string, Bucket>();
  const add = (m: Record<string, number>, k: string, n: number) => (m[k] = (m[k] ?? 0) + n);
  for (const row of rows) {
    const start = String(row.bucket);
    const b = buckets.get(start) ?? {
      start,
      total: 0,
      byStatus: {},
      bySupplier: {},
      byTemplate: {},
      receiptLatencyMs: latencyOf.get(start) ?? null,
    };
    const n = Number(row.n);
    b.total += n;
    add(b.byStatus, String(row.status), n);
    add(b.bySupplier, row.supplier_account === null ? 'none' : String(row.supplier_account), n);
    add(b.byTemplate, String(row.template_code), n);
    buckets.set(start, b);
  }
  return {
    granularity,
    from: from.toISOString(),
    to: to.toISOString(),
    buckets: [...buckets.values()],
  };
}

export function messageStatsRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/stats', validateQuery(statsQuery), async (req, res) => {
    res.json(await stats(deps, req));
  });
  return router;
}
