// GET /v1/inbound: inbound (MO) messages, newest first.
import { Router, type Request } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { listInboundQuery } from '../../schemas/openapi/query.ts';
import {
  decodeTimeCursor,
  e164,
  iso,
  parseRange,
  newestFirstPage,
  sqlConditions,
  visibleTenant,
} from '../params.ts';
import { waitForReadModels, type QueryDeps } from '../readModels.ts';
import { INBOUND_MESSAGES } from '../../contracts/index.ts';

export function inboundView(row: RowDataPacket) {
  return {
    inboundId: row.inbound_id,
    tenantId: row.tenant_id,
    supplierAccount: row.supplier_account,
    vendor: row.vendor,
    mobile: row.mobile,
    content: row.content,
    receivedAt: iso(row.received_at),
    linkedMessageId: row.linked_message_id,
    optOutKeyword: row.opt_out_keyword,
  };
}

async function listInbound(deps: QueryDeps, req: Request) {
  const q = validatedQuery<{
    mobile?: string;
    from?: string;
    to?: string;
    tenant?: string;
    limit: number;
    cursor?: string;
    after?: number;
  }>(req);
  const cursor = decodeTimeCursor(q.cursor);
  const { from, to } = parseRange(q);
  const tenant = visibleTenant(req, q.tenant);
  await waitForReadModels(deps, [INBOUND_MESSAGES], q.after);
  const conditions = sqlConditions();
  const { add } = conditions;
  if (tenant !== undefined) add('tenant_id = ?', tenant);
  if (q.mobile !== undefined) add('mobile = ?', e164(q.mobile));
  if (from) add('received_at >= ?', from);
  if (to) add('received_at < ?', to);
  const { rows, nextCursor } = await newestFirstPage(deps.mysql, {
    table: INBOUND_MESSAGES,
    timeColumn: 'received_at',
    idColumn: 'inbound_id',
    conditions,
    cursor,
    limit: q.limit,
  });
  return { items: rows.map(inboundView), nextCursor };
}

export function inboundRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/inbound', validateQuery(listInboundQuery), async (req, res) => {
    res.json(await listInbound(deps, req));
  });
  return router;
}
