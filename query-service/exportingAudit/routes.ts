// GET /v1/audit/export (admins): the same export as the CLI, streamed.
import { once } from 'node:events';
import { Router } from 'express';
import { requireAdmin } from '../../platform/auth/index.ts';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { auditExportQuery } from '../../schemas/openapi/query.ts';
import { parseRange } from '../params.ts';
import { waitForReadModels, type QueryDeps } from '../readModels.ts';
import { auditLines, type AuditFormat } from './export.ts';
import { AUDIT_LOG } from '../../contracts/index.ts';

export function auditRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get(
    '/v1/audit/export',
    requireAdmin,
    validateQuery(auditExportQuery),
    async (req, res) => {
      const q = validatedQuery<{
        tenant?: string;
        from?: string;
        to?: string;
        format: AuditFormat;
        after?: number;
      }>(req);
      const { from, to } = parseRange(q);
      await waitForReadModels(deps, [AUDIT_LOG], q.after);
      const lines = auditLines(deps, { tenant: q.tenant, from, to }, q.format);
      // the first line before the headers: a failure up to here is still a problem response
      const first = await lines.next();
      res.status(200);
      res.setHeader(
        'Content-Type',
        q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      );
      res.setHeader('Content-Disposition', `attachment; filename="audit.${q.format}"`);
      res.setHeader('Cache-Control', 'no-store');
      if (!first.done) res.write(`${first.value}\n`);
      for await (const line of lines) {
        if (!res.write(`${line}\n`)) await once(res, 'drain');
      }
      res.end();
    },
  );
  return router;
}
