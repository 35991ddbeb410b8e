// GET /v1/tenants (admins: every tenant; a member: its own) and GET /v1/tenants/:id.
import { Router, type Request } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { AppError } from '../../platform/errors/index.ts';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { getTenantQuery, listTenantsQuery } from '../../schemas/openapi/query.ts';
import { decodeCursor, encodeCursor, iso, sqlConditions, visibleTenant } from '../params.ts';
import { waitForReadModels, type QueryDeps } from '../readModels.ts';

export function tenantView(row: RowDataPacket) {
  return {
    tenantId: row.tenant_id,
    status: row.status,
    limits: typeof row.limits === 'string' ? (JSON.parse(row.limits) as unknown) : {},
    verifiedNumbers: Number(row.verified_numbers),
    suspendedReason: row.suspended_reason ?? null,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

async function listTenants(deps: QueryDeps, req: Request) {
  const q = validatedQuery<{
    status?: string;
    limit: number;
    cursor?: string;
    after?: number;
  }>(req);
  const tenant = visibleTenant(req, undefined);
  const cursor = decodeCursor(q.cursor, (values) =>
    values.length === 1 && typeof values[0] === 'string' ? (values[0] as string) : undefined,
  );
  await waitForReadModels(deps, ['tenants'], q.after);
  const { add, where, args } = sqlConditions();
  if (tenant !== undefined) add('tenant_id = ?', tenant);
  if (q.status !== undefined) add('status = ?', q.status);
  if (cursor !== undefined) add('tenant_id > ?', cursor);
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    `SELECT * FROM tenants ${where()} ORDER BY tenant_id LIMIT ?`,
    [...args, q.limit + 1],
  );
  const items = rows.slice(0, q.limit).map(tenantView);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > q.limit && last ? encodeCursor([String(last.tenantId)]) : null,
  };
}

export function tenantsRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/tenants', validateQuery(listTenantsQuery), async (req, res) => {
    res.json(await listTenants(deps, req));
  });
  router.get('/v1/tenants/:id', validateQuery(getTenantQuery), async (req, res) => {
    const id = String(req.params.id);
    const q = validatedQuery<{ after?: number }>(req);
    const tenant = visibleTenant(req, undefined);
    if (tenant !== undefined && tenant !== id) throw new AppError('TENANT_NOT_FOUND');
    await waitForReadModels(deps, ['tenants'], q.after);
    const [rows] = await deps.mysql.query<RowDataPacket[]>(
      'SELECT * FROM tenants WHERE tenant_id = ?',
      [id],
    );
    const row = rows[0];
    if (!row) throw new AppError('TENANT_NOT_FOUND');
    res.json(tenantView(row));
  });
  return router;
}
