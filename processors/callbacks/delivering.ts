// Step 2 of the callback sender for one due row: a signed POST, then the row's
// bookkeeping. A failure is retried with exponential backoff (the row's
// next_at_ms is the durable timer); a row still failing retryForMs after its
// first attempt is dead-lettered; an endpoint that failed with no success for
// pauseAfterMs is paused.
import type { RowDataPacket } from 'mysql2/promise';
import { callbackDecider, callbackStream, type CallbackCommand } from '../../domain/index.ts';
import {
  SIGNATURE_HEADER,
  messageCallbackSecret,
  openCallbackSecret,
  postCallback,
  signatureHeader,
  type PostResult,
} from '../../platform/callbacks/index.ts';
import { handleCommand } from '../../platform/commandHandling/index.ts';
import type { EventStore } from '../../platform/eventStore/index.ts';
import type { ProcessorDeps } from '../deps.ts';
import type { callbackMetrics } from './metrics.ts';
import { iso } from './deliveries.ts';

export interface CallbackOptions {
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  retryForMs: number;
  pauseAfterMs: number;
  concurrency: number;
  allowPrivate: boolean;
  /** How often the sender looks for due rows when nothing woke it. */
  pollMs: number;
}

export type Due = RowDataPacket & {
  delivery_id: string;
  callback_id: string;
  tenant_id: string;
  url: string | null;
  event_id: string;
  event_type: string;
  body: string;
  attempts: number;
  first_at_ms: number;
  endpoint_url: string | null;
  sealed_secret: string | null;
  failing_since_ms: number | null;
};

export interface DeliveryContext {
  deps: ProcessorDeps;
  options: CallbackOptions;
  metrics: ReturnType<typeof callbackMetrics>;
  log: ProcessorDeps['logger'];
}

/** The wait before attempt `attempts + 1`: base · 2^(attempts − 1), ±20 %, at most max. */
export function retryDelayMs(attempts: number, base: number, max: number): number {
  const raw = Math.min(max, base * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}

/** Appends the sender's verdict on an endpoint (pause, dead letter), deciding on the fresh stream. */
async function decideOnEndpoint(
  store: EventStore,
  callbackId: string,
  command: CallbackCommand,
): Promise<void> {
  await handleCommand(store, callbackDecider, callbackStream(callbackId), command, {
    actor: { type: 'system', id: 'callbacks' },
  });
}

/** The row's signing secret: its endpoint's, or the tenant's for a send's statusCallback. */
function secretOf(key: Buffer, row: Due): string {
  try {
    return row.callback_id
      ? openCallbackSecret(key, row.callback_id, String(row.sealed_secret))
      : messageCallbackSecret(key, row.tenant_id);
  } catch {
    return '';
  }
}

async function post(ctx: DeliveryContext, row: Due): Promise<PostResult> {
  const url = row.url ?? row.endpoint_url;
  const secret = secretOf(ctx.deps.config.codes.encryptionKey, row);
  if (!url || !secret)
    return { status: undefined, error: 'the endpoint has no usable URL or secret', ms: 0 };
  return postCallback(
    url,
    row.body,
    {
      [SIGNATURE_HEADER]: signatureHeader(secret, row.body),
      'Streaming-Event-Id': row.event_id,
      'Streaming-Event-Type': row.event_type,
      'Streaming-Delivery-Id': row.delivery_id,
    },
    { timeoutMs: ctx.options.timeoutMs, allowPrivate: ctx.options.allowPrivate },
  );
}

async function markDelivered(
  ctx: DeliveryContext,
  row: Due,
  result: PostResult,
  now: number,
  attempts: number,
): Promise<void> {
  const { mysql } = ctx.deps;
  await mysql.query(
    `UPDATE callback_deliveries SET state = 'delivered',
       first_at_ms = IF(attempts = 0, ?, first_at_ms), attempts = ?, delivered_at_ms = ?,
       last_attempt_at_ms = ?, last_status = ?, last_error = NULL
     WHERE delivery_id = ? AND state = 'pending'`,
    [now, attempts, Date.now(), now, result.status ?? null, row.delivery_id],
  );
  if (row.callback_id && row.failing_since_ms !== null) {
    await mysql.query(
      'UPDATE callback_endpoints SET failing_since_ms = NULL, last_error = NULL WHERE callback_id = ?',
      [row.callback_id],
    );
  }
  ctx.metrics.delivered(row.event_type, 'delivered');
}

/** Schedules the retry or dead-letters the row; true when it is dead. */
async function markFailed(
  ctx: DeliveryContext,
  row: Due,
  result: PostResult,
  error: string,
  now: number,
  attempts: number,
): Promise<boolean> {
  const { options } = ctx;
  // the retry window counts from the first attempt (a row may wait behind others before it)
  const firstAt = Number(row.attempts) === 0 ? now : Number(row.first_at_ms);
  const dead = now - firstAt >= options.retryForMs;
  await ctx.deps.mysql.query(
    `UPDATE callback_deliveries SET state = ?, attempts = ?, first_at_ms = ?, next_at_ms = ?,
       last_attempt_at_ms = ?, last_status = ?, last_error = ?
     WHERE delivery_id = ? AND state = 'pending'`,
    [
      dead ? 'failed' : 'pending',
      attempts,
      firstAt,
      dead ? now : now + retryDelayMs(attempts, options.retryBaseMs, options.retryMaxMs),
      now,
      result.status ?? null,
      error,
      row.delivery_id,
    ],
  );
  ctx.metrics.delivered(row.event_type, dead ? 'dead_lettered' : 'failed');
  return dead;
}

/** Records the endpoint's failure; pauses it once it has failed with no success for pauseAfterMs. */
async function endpointFailed(
  ctx: DeliveryContext,
  row: Due,
  error: string,
  now: number,
): Promise<void> {
  const { mysql, eventStore } = ctx.deps;
  const since = row.failing_since_ms === null ? now : Number(row.failing_since_ms);
  await mysql.query(
    `UPDATE callback_endpoints SET failing_since_ms = COALESCE(failing_since_ms, ?), last_error = ?
     WHERE callback_id = ?`,
    [now, error, row.callback_id],
  );
  if (now - since < ctx.options.pauseAfterMs) return;
  const seconds = Math.round((now - since) / 1000);
  const took = seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  const reason = {
    code: 'ENDPOINT_FAILING',
    message: `Every call failed for ${took}; the last: ${error}`.slice(0, 500),
  };
  // stop calling at once; the event the subscription sees says the same
  await mysql.query(
    `UPDATE callback_endpoints SET status = 'paused', pause_code = ?, pause_message = ?,
       paused_at_ms = ? WHERE callback_id = ? AND status = 'active'`,
    [reason.code, reason.message, now, row.callback_id],
  );
  await decideOnEndpoint(eventStore, row.callback_id, {
    type: 'PauseCallback',
    data: { reason, failingSince: iso(since) },
  });
  ctx.log.warn('callback endpoint paused', { callbackId: row.callback_id, error });
}

/** Sends one due row and records what came of it. */
export async function deliverOne(ctx: DeliveryContext, row: Due): Promise<void> {
  const now = Date.now();
  const result = await post(ctx, row);
  const attempts = Number(row.attempts) + 1;
  ctx.metrics.observe(result.error === undefined ? 'ok' : 'error', result.ms / 1000);
  if (result.error === undefined) return markDelivered(ctx, row, result, now, attempts);
  const error = result.error.slice(0, 500);
  const dead = await markFailed(ctx, row, result, error, now, attempts);
  if (!row.callback_id) return;
  if (dead) {
    await decideOnEndpoint(ctx.deps.eventStore, row.callback_id, {
      type: 'RecordDeadLetter',
      data: { deliveryId: row.delivery_id, eventId: row.event_id, attempts, lastError: error },
    });
  }
  await endpointFailed(ctx, row, error, now);
}
