// GET /v1/opt-outs: the numbers opted out of the tenant's marketing now
// (STOP-style replies and POST /v1/opt-outs), newest first.
import { Router, type Request } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { listOptOutsQuery } from '../../schemas/openapi/query.ts';
import {
  decodeTimeCursor,
  e164,
  iso,
  newestFirstPage,
  sqlConditions,
  visibleTenant,
} from '../params.ts';
import { waitForReadModels, type QueryDeps } from '../readModels.ts';
import { OPT_OUTS } from '../../contracts/index.ts';

export function optOutView(row: RowDataPacket) {
  return {
    tenantId: row.tenant_id,
    mobile: row.mobile,
    keyword: row.keyword,
    inboundId: row.inbound_id,
    optedOutAt: iso(row.updated_at),
  };
}

async function listOptOuts(deps: QueryDeps, req: Request) {
  const q = validatedQuery<{
    mobile?: string;
    tenant?: string;
    limit: number;
    cursor?: string;
    after?: number;
  }>(req);
  const cursor = decodeTimeCursor(q.cursor);
  const tenant = visibleTenant(req, q.tenant);
  await waitForReadModels(deps, [OPT_OUTS], q.after);
  const conditions = sqlConditions();
  const { add } = conditions;
  add('opted_out = ?', 1);
  if (tenant !== undefined) add('tenant_id = ?', tenant);
  if (q.mobile !== undefined) add('mobile = ?', e164(q.mobile));
  const { rows, nextCursor } = await newestFirstPage(deps.mysql, {
    table: OPT_OUTS,
    timeColumn: 'updated_at',
    idColumn: 'opt_out_id',
    conditions,
    cursor,
    limit: q.limit,
  });
  return { items: rows.map(optOutView), nextCursor };
}

export function optOutsRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/opt-outs', validateQuery(listOptOutsQuery), async (req, res) => {
    res.json(await listOptOuts(deps, req));
  });
  return router;
}
