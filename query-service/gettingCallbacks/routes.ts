// GET /v1/callbacks, /v1/callbacks/{id}, /v1/callbacks/{id}/deliveries and
// /v1/callbacks/signing-secret: the tenant's callback endpoints and what was
// delivered to them, from the callback sender's tables (its read model; its
// checkpoint `callbacks.sender` is what `after=` waits for).
import { setTimeout as sleep } from 'node:timers/promises';
import { Router, type Request } from 'express';
import type { RowDataPacket } from 'mysql2/promise';
import { principalOf } from '../../platform/auth/index.ts';
import { ensureCallbackTables, messageCallbackSecret } from '../../platform/callbacks/index.ts';
import { readCheckpoint } from '../../platform/checkpoints/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import {
  getCallbackQuery,
  listCallbacksQuery,
  listDeliveriesQuery,
  signingSecretQuery,
} from '../../schemas/openapi/query.ts';
import { decodeCursor, encodeCursor } from '../params.ts';
import type { QueryDeps } from '../readModels.ts';
import { CALLBACKS_CHECKPOINT } from '../../contracts/index.ts';

const isoMs = (v: unknown) =>
  v === null || v === undefined ? undefined : new Date(Number(v)).toISOString();

async function waitForSender(deps: QueryDeps, after: number | undefined): Promise<void> {
  if (after === undefined || after <= 0) return;
  const deadline = Date.now() + deps.config.query.readWaitMs;
  let headChecked = false;
  for (;;) {
    const at = await readCheckpoint(deps.mysql, CALLBACKS_CHECKPOINT).catch(() => 0);
    if (at >= after) return;
    if (!headChecked) {
      const head = await deps.eventStore.headPosition();
      if (after > head) {
        throw new AppError(
          'POSITION_AHEAD_OF_STORE',
          `after=${after} is beyond the event store's last position (${head}).`,
          { after, head },
        );
      }
      headChecked = true;
    }
    if (Date.now() >= deadline) {
      throw new AppError(
        'READ_MODEL_LAGGING',
        `The callback sender has not reached position ${after} yet (it is at ${at}); retry shortly.`,
        { after, position: at },
        { 'Retry-After': '1' },
      );
    }
    await sleep(25);
  }
}

function endpointView(r: RowDataPacket) {
  const events = (typeof r.events === 'string' ? JSON.parse(r.events) : r.events) as string[];
  return {
    callbackId: String(r.callback_id),
    url: String(r.url),
    events,
    status: String(r.status),
    ...(r.status === 'paused'
      ? {
          paused: {
            code: String(r.pause_code ?? 'ENDPOINT_FAILING'),
            message: String(r.pause_message ?? ''),
            at: isoMs(r.paused_at_ms ?? r.updated_at_ms),
          },
        }
      : {}),
    ...(r.failing_since_ms !== null ? { failingSince: isoMs(r.failing_since_ms) } : {}),
    ...(r.last_error ? { lastError: String(r.last_error) } : {}),
    createdAt: isoMs(r.created_at_ms),
    updatedAt: isoMs(r.updated_at_ms),
  };
}

function deliveryView(r: RowDataPacket) {
  const out: Record<string, unknown> = {
    deliveryId: String(r.delivery_id),
    eventId: String(r.event_id),
    type: String(r.event_type),
    state: String(r.state),
    attempts: Number(r.attempts),
    firstAttemptAt: isoMs(r.first_at_ms),
  };
  if (r.message_id) out.messageId = String(r.message_id);
  if (r.state === 'pending') out.nextAttemptAt = isoMs(r.next_at_ms);
  if (r.last_attempt_at_ms !== null) out.lastAttemptAt = isoMs(r.last_attempt_at_ms);
  if (r.delivered_at_ms !== null) out.deliveredAt = isoMs(r.delivered_at_ms);
  if (r.last_status !== null) out.lastStatus = Number(r.last_status);
  if (r.last_error) out.lastError = String(r.last_error);
  return out;
}

/** The endpoint, if the caller may see it (its tenant, or an admin). */
async function endpointOf(deps: QueryDeps, req: Request): Promise<RowDataPacket> {
  const principal = principalOf(req);
  const [rows] = await deps.mysql.query<RowDataPacket[]>(
    "SELECT * FROM callback_endpoints WHERE callback_id = ? AND status <> 'deleted'",
    [String(req.params.id)],
  );
  const row = rows[0];
  if (!row || (row.tenant_id !== principal.userId && principal.role !== 'admin')) {
    throw new AppError('CALLBACK_NOT_FOUND');
  }
  return row;
}

export function callbacksRouter(deps: QueryDeps): Router {
  const router = Router();
  const ready = () => ensureCallbackTables(deps.mysql);

  router.get('/v1/callbacks', validateQuery(listCallbacksQuery), async (req, res) => {
    const q = req.query as { after?: number };
    await ready();
    await waitForSender(deps, q.after);
    const [rows] = await deps.mysql.query<RowDataPacket[]>(
      `SELECT * FROM callback_endpoints WHERE tenant_id = ? AND status <> 'deleted'
       ORDER BY created_at_ms, callback_id LIMIT 1000`,
      [principalOf(req).userId],
    );
    res.json({ items: rows.map(endpointView) });
  });

  router.get('/v1/callbacks/signing-secret', validateQuery(signingSecretQuery), (req, res) => {
    const secret = messageCallbackSecret(deps.config.codes.encryptionKey, principalOf(req).userId);
    res.json({ secret });
  });

  router.get('/v1/callbacks/:id', validateQuery(getCallbackQuery), async (req, res) => {
    const q = req.query as { after?: number };
    await ready();
    await waitForSender(deps, q.after);
    res.json(endpointView(await endpointOf(deps, req)));
  });

  router.get(
    '/v1/callbacks/:id/deliveries',
    validateQuery(listDeliveriesQuery),
    async (req, res) => {
      const q = validatedQuery<{
        status?: string;
        limit: number;
        cursor?: string;
        after?: number;
      }>(req);
      await ready();
      await waitForSender(deps, q.after);
      const endpoint = await endpointOf(deps, req);
      const from = decodeCursor(q.cursor, (values) => {
        const [seq, id] = values;
        return values.length === 2 && Number.isInteger(seq) && typeof id === 'string'
          ? { seq: seq as number, id }
          : undefined;
      });
      const where = ['callback_id = ?'];
      const params: unknown[] = [endpoint.callback_id];
      if (q.status) {
        where.push('state = ?');
        params.push(q.status);
      }
      if (from) {
        where.push('(seq, delivery_id) > (?, ?)');
        params.push(from.seq, from.id);
      }
      const [rows] = await deps.mysql.query<RowDataPacket[]>(
        `SELECT * FROM callback_deliveries WHERE ${where.join(' AND ')}
         ORDER BY seq, delivery_id LIMIT ?`,
        [...params, q.limit + 1],
      );
      const page = rows.slice(0, q.limit);
      const last = page.at(-1);
      res.json({
        items: page.map(deliveryView),
        nextCursor:
          rows.length > q.limit && last
            ? encodeCursor([Number(last.seq), String(last.delivery_id)])
            : null,
      });
    },
  );
  return router;
}
