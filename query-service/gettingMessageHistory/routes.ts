// GET /v1/messages (filters, cursor pagination newest first) and
// GET /v1/messages/:id (with its timeline).
import { Router } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { canSee, principalOf, type Principal } from '../../platform/auth/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { findTimeline } from '../../platform/readModels/index.ts';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { listMessagesQuery, getMessageQuery } from '../../schemas/openapi/query.ts';
import {
  decodeTimeCursor,
  e164,
  iso,
  parseRange,
  newestFirstPage,
  sqlConditions,
  visibleTenantOf,
} from '../params.ts';
import { liveCollection, waitForReadModels, type QueryDeps } from '../readModels.ts';
import { MESSAGE_HISTORY, MESSAGE_TIMELINES } from '../../contracts/index.ts';

export interface ListMessagesQuery {
  mobile?: string;
  template?: string;
  status?: string;
  from?: string;
  to?: string;
  tenant?: string;
  limit: number;
  cursor?: string;
  after?: number;
}

export function messageView(row: RowDataPacket) {
  return {
    messageId: row.message_id,
    tenantId: row.tenant_id,
    templateId: row.template_id,
    templateCode: row.template_code,
    kind: row.kind,
    mobile: row.mobile,
    content: row.content,
    segments: Number(row.segments),
    encoding: row.encoding,
    status: row.status,
    supplierAccount: row.supplier_account,
    supplierMessageId: row.supplier_message_id,
    attempts: Number(row.attempts),
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message },
    acceptedAt: iso(row.accepted_at),
    submittedAt: iso(row.submitted_at),
    deliveredAt: iso(row.delivered_at),
    updatedAt: iso(row.updated_at),
  };
}

/** GET /v1/messages and gRPC Messages.List: `q` is already checked against listMessagesQuery. */
export async function listMessages(deps: QueryDeps, principal: Principal, q: ListMessagesQuery) {
  const cursor = decodeTimeCursor(q.cursor);
  const { from, to } = parseRange(q);
  const tenant = visibleTenantOf(principal, q.tenant);
  await waitForReadModels(deps, [MESSAGE_HISTORY], q.after);
  const conditions = sqlConditions();
  const { add } = conditions;
  if (tenant !== undefined) add('tenant_id = ?', tenant);
  if (q.mobile !== undefined) add('mobile = ?', e164(q.mobile));
  if (q.template !== undefined) add('template_code = ?', q.template);
  if (q.status !== undefined) add('status = ?', q.status);
  if (from) add('accepted_at >= ?', from);
  if (to) add('accepted_at < ?', to);
  const { rows, nextCursor } = await newestFirstPage(deps.mysql, {
    table: MESSAGE_HISTORY,
    timeColumn: 'accepted_at',
    idColumn: 'message_id',
    conditions,
    cursor,
    limit: q.limit,
  });
  return { items: rows.map(messageView), nextCursor };
}

/** GET /v1/messages/:id and gRPC Messages.Get. */
export async function getMessage(
  deps: QueryDeps,
  principal: Principal,
  id: string,
  after: number | undefined,
) {
  await waitForReadModels(deps, [MESSAGE_HISTORY, MESSAGE_TIMELINES], after);
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    'SELECT * FROM message_history WHERE message_id = ?',
    [id],
  );
  const row = rows[0];
  // another tenant's message is as absent as one that does not exist
  if (!row || !canSee(principal, String(row.tenant_id))) {
    throw new AppError('MESSAGE_NOT_FOUND', `No message ${id}.`);
  }
  const collection = await liveCollection(deps.mongo.db, MESSAGE_TIMELINES);
  let timeline = await findTimeline(deps.mongo.db, collection, id);
  if (!timeline) {
    // the projector replaces a document by delete and insert: look once more
    await new Promise((r) => setTimeout(r, 50));
    timeline = await findTimeline(deps.mongo.db, collection, id);
  }
  return {
    ...messageView(row),
    timeline: { states: timeline?.states ?? [], attempts: timeline?.attempts ?? [] },
  };
}

export function messageHistoryRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/messages', validateQuery(listMessagesQuery), async (req, res) => {
    res.json(await listMessages(deps, principalOf(req), validatedQuery<ListMessagesQuery>(req)));
  });
  router.get('/v1/messages/:id', validateQuery(getMessageQuery), async (req, res) => {
    const after = (req.query as { after?: number }).after;
    res.json(await getMessage(deps, principalOf(req), String(req.params.id), after));
  });
  return router;
}
