// GET /v1/messages/export?from=&to=&format=csv|ndjson: a tenant's own message
// history for a time range, streamed (keyset pages of the message_history read
// model written as they are read, never the whole range in memory). Mobile
// numbers are masked (138****8000) unless the caller asks with mask=false and
// is allowed: a person logged in (admins, or the tenant's own user); API keys
// always get them masked. Verification codes are masked in the read model.
import { Router, type Request, type Response } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { principalOf } from '../../platform/auth/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { maskMobiles } from '../../platform/logger/mask.ts';
import { exportMessagesQuery } from '../../schemas/openapi/query.ts';
import { iso, parseRange, sqlConditions, visibleTenant } from '../params.ts';
import type { QueryDeps } from '../readModels.ts';

const PAGE = 1000;
/** The most days one export may span. */
export const EXPORT_MAX_DAYS = 366;

export const exportColumns = [
  'messageId',
  'templateCode',
  'kind',
  'mobile',
  'status',
  'segments',
  'supplierAccount',
  'errorCode',
  'acceptedAt',
  'submittedAt',
  'deliveredAt',
  'content',
] as const;

function record(row: RowDataPacket, mask: boolean): Record<string, unknown> {
  const content = typeof row.content === 'string' ? row.content : null;
  return {
    messageId: row.message_id,
    templateCode: row.template_code,
    kind: row.kind,
    mobile: mask ? maskMobiles(String(row.mobile)) : row.mobile,
    status: row.status,
    segments: row.segments,
    supplierAccount: row.supplier_account,
    errorCode: row.error_code,
    acceptedAt: iso(row.accepted_at),
    submittedAt: iso(row.submitted_at),
    deliveredAt: iso(row.delivered_at),
    content: content !== null && mask ? maskMobiles(content) : content,
  };
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  // quoted when it must be; a formula (leading =, @, or + / - before anything but
  // digits, so +8613800138000 stays a number) is defused for spreadsheets
  const safe = /^[=@\t\r]|^[+-](?![0-9]+$)/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) || safe !== s ? `"${safe.replaceAll('"', '""')}"` : safe;
}

async function exportMessages(deps: QueryDeps, req: Request, res: Response): Promise<void> {
  const q = validatedQuery<{
    from: string;
    to: string;
    format: 'csv' | 'ndjson';
    mask: boolean;
    tenant?: string;
  }>(req);
  const principal = principalOf(req);
  const { from, to } = parseRange(q, EXPORT_MAX_DAYS);
  const tenant = visibleTenant(req, q.tenant);
  if (!q.mask && principal.kind !== 'user') {
    throw new AppError('FORBIDDEN', 'Unmasked numbers are for people logged in, not API keys.');
  }
  res.status(200);
  res.setHeader(
    'content-type',
    q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
  );
  res.setHeader(
    'content-disposition',
    `attachment; filename="messages-${q.from.slice(0, 10)}-${q.to.slice(0, 10)}.${q.format}"`,
  );
  if (q.format === 'csv') res.write(`${exportColumns.join(',')}\r\n`);
  let after: { at: Date; id: string } | undefined;
  for (;;) {
    const c = sqlConditions();
    if (tenant !== undefined) c.add('tenant_id = ?', tenant);
    c.add('accepted_at >= ?', from);
    c.add('accepted_at < ?', to);
    if (after) c.add('(accepted_at, message_id) > (?, ?)', after.at, after.id);
    const [rows] = await deps.mysql.query<RowDataPacket[]>(
      `SELECT * FROM message_history ${c.where()} ORDER BY accepted_at, message_id LIMIT ${PAGE}`,
      c.args,
    );
    let chunk = '';
    for (const row of rows) {
      const r = record(row, q.mask);
      chunk +=
        q.format === 'csv'
          ? `${exportColumns.map((k) => csvCell(r[k])).join(',')}\r\n`
          : `${JSON.stringify(r)}\n`;
    }
    // back-pressure: wait for the client to take a page before reading the next
    if (chunk !== '' && !res.write(chunk)) await new Promise((r) => res.once('drain', r));
    if (rows.length < PAGE || res.destroyed) break;
    const last = rows[rows.length - 1]!;
    after = { at: last.accepted_at as Date, id: String(last.message_id) };
  }
  res.end();
}

export function messageExportRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/messages/export', validateQuery(exportMessagesQuery), async (req, res) => {
    await exportMessages(deps, req, res);
  });
  return router;
}
