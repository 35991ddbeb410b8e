// GET /v1/templates, GET /v1/templates/:code and GET /v1/signatures.
import { Router, type Request } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { AppError } from '../../platform/errors/index.ts';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import {
  listSignaturesQuery,
  listTemplatesQuery,
  getTemplateQuery,
} from '../../schemas/openapi/query.ts';
import {
  decodeCursor,
  encodeCursor,
  iso,
  sqlConditions,
  visibleTenant,
  visibleTenantOf,
} from '../params.ts';
import { principalOf, type Principal } from '../../platform/auth/index.ts';
import { waitForReadModels, type QueryDeps } from '../readModels.ts';

const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

type BindingRow = { vendorTemplateId?: string; status: string; reason?: string; params: string[] };

/** Per supplier account in the template's order; an account not reached yet is pending. */
function bindingsView(suppliers: string[], raw: unknown) {
  const bindings = (parse(raw ?? '{}') ?? {}) as Record<string, BindingRow>;
  return suppliers.map((account) => {
    const b = bindings[account];
    return {
      account,
      vendorTemplateId: b?.vendorTemplateId ?? null,
      status: b?.status ?? 'pending',
      ...(b?.reason ? { reason: b.reason } : {}),
      params: b?.params ?? [],
    };
  });
}

export function templateView(row: RowDataPacket) {
  const suppliers = parse(row.suppliers) as string[];
  return {
    templateId: row.template_id,
    tenantId: row.tenant_id,
    templateCode: row.template_code,
    name: row.name,
    kind: row.kind,
    signature: row.signature,
    content: row.content,
    suppliers,
    policy: parse(row.policy),
    verification: row.verification === null ? null : parse(row.verification),
    extendCode: row.extend_code ?? null,
    quietHours:
      row.quiet_hours === null || row.quiet_hours === undefined ? null : parse(row.quiet_hours),
    status: row.status,
    bindings: bindingsView(suppliers, row.bindings),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

const decodeCodeCursor = (cursor: string | undefined) =>
  decodeCursor(cursor, (values) =>
    values.length === 2 && values.every((x) => typeof x === 'string' && x !== '')
      ? (values as [string, string])
      : undefined,
  );

export interface ListTemplatesQuery {
  status?: string;
  kind?: string;
  tenant?: string;
  limit: number;
  cursor?: string;
  after?: number;
}

/** GET /v1/templates and gRPC Templates.List: `q` is already checked against listTemplatesQuery. */
export async function listTemplates(deps: QueryDeps, principal: Principal, q: ListTemplatesQuery) {
  const cursor = decodeCodeCursor(q.cursor);
  const tenant = visibleTenantOf(principal, q.tenant);
  await waitForReadModels(deps, ['templates'], q.after);
  const { add, where, args } = sqlConditions();
  if (tenant !== undefined) add('tenant_id = ?', tenant);
  if (q.status !== undefined) add('status = ?', q.status);
  if (q.kind !== undefined) add('kind = ?', q.kind);
  if (cursor) {
    add(
      '(template_code > ? OR (template_code = ? AND template_id > ?))',
      cursor[0],
      cursor[0],
      cursor[1],
    );
  }
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    `SELECT * FROM templates ${where()}
     ORDER BY template_code, template_id LIMIT ?`,
    [...args, q.limit + 1],
  );
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(templateView),
    nextCursor:
      rows.length > q.limit && last
        ? encodeCursor([String(last.template_code), String(last.template_id)])
        : null,
  };
}

/** GET /v1/templates/:code and gRPC Templates.Get. */
export async function getTemplate(
  deps: QueryDeps,
  principal: Principal,
  code: string,
  q: { tenant?: string; after?: number },
) {
  const tenant = visibleTenantOf(principal, q.tenant);
  await waitForReadModels(deps, ['templates'], q.after);
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    `SELECT * FROM templates WHERE template_code = ?${tenant === undefined ? '' : ' AND tenant_id = ?'}
     ORDER BY created_at LIMIT 1`,
    tenant === undefined ? [code] : [code, tenant],
  );
  if (!rows[0]) throw new AppError('TEMPLATE_NOT_FOUND', `No template ${code}.`);
  return templateView(rows[0]);
}

async function listSignatures(deps: QueryDeps, req: Request) {
  const q = req.query as { tenant?: string; after?: number };
  const tenant = visibleTenant(req, q.tenant);
  await waitForReadModels(deps, ['signatures'], q.after);
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    `SELECT * FROM signatures${tenant === undefined ? '' : ' WHERE tenant_id = ?'}
     ORDER BY name, tenant_id LIMIT 1000`,
    tenant === undefined ? [] : [tenant],
  );
  return {
    items: rows.map((row) => {
      const reviews = parse(row.reviews) as Record<string, { status: string; reason?: string }>;
      return {
        name: row.name,
        tenantId: row.tenant_id,
        accounts: (parse(row.accounts) as string[]).map((account) => ({
          account,
          status: reviews[account]?.status ?? 'pending',
          ...(reviews[account]?.reason ? { reason: reviews[account].reason } : {}),
        })),
        createdAt: iso(row.created_at),
        updatedAt: iso(row.updated_at),
      };
    }),
  };
}

export function templatesRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/signatures', validateQuery(listSignaturesQuery), async (req, res) => {
    res.json(await listSignatures(deps, req));
  });
  router.get('/v1/templates', validateQuery(listTemplatesQuery), async (req, res) => {
    res.json(await listTemplates(deps, principalOf(req), validatedQuery<ListTemplatesQuery>(req)));
  });
  router.get('/v1/templates/:code', validateQuery(getTemplateQuery), async (req, res) => {
    const q = req.query as { tenant?: string; after?: number };
    res.json(await getTemplate(deps, principalOf(req), String(req.params.code), q));
  });
  return router;
}
