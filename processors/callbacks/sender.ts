// The callback sender: tells tenants of their messages' status changes,
// inbound replies and opt-outs, by signed POSTs to the endpoints they
// registered (and to a send's own statusCallback). It is a processor of its
// own (`streaming serve callbacks`, its own process under `npm start`): it
// reads the event store and never touches the send path.
//
// 1. A checkpointed subscription (one active instance) turns events into
//    delivery rows in MySQL, in one transaction per batch: endpoints folded
//    from callback-<id> streams, the tenant of each message from its
//    sms.accepted, one row per (endpoint, event) with the exact body to send.
//    Row ids are derived from (endpoint, event), so a batch handled twice
//    adds nothing.
// 2. A loop beside it sends what is due: per endpoint and message only the
//    oldest pending row (in order per message), signed, 5 s at most. A
//    failure is retried with exponential backoff: the row's next_at_ms is the
//    durable timer. A row still failing STREAMING_CALLBACK_RETRY_FOR after
//    its first attempt is dead-lettered (callback.delivery-dead-lettered.v1);
//    an endpoint that failed with no success for STREAMING_CALLBACK_PAUSE_AFTER
//    is paused (callback.paused.v1, with the last error). Delivery is at least
//    once: a crash between the call and the row update sends it again, with
//    the same event id.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import {
  callbackDecider,
  callbackStream,
  type CallbackCommand,
  type CallbackEventType,
} from '../../domain/index.ts';
import {
  SIGNATURE_HEADER,
  ensureCallbackTables,
  messageCallbackSecret,
  openCallbackSecret,
  postCallback,
  signatureHeader,
} from '../../platform/callbacks/index.ts';
import { handleCommand } from '../../platform/commandHandling/index.ts';
import { type EventStore, type RecordedEvent } from '../../platform/eventStore/index.ts';
import type { ProcessorDeps, Running } from '../deps.ts';
import { napper, sleepUntil } from '../napper.ts';
import { runCheckpointed } from '../singleton.ts';
import { outage } from '../../platform/health/index.ts';
import { callbackMetrics } from './metrics.ts';
import { CALLBACKS_CHECKPOINT } from '../../contracts/index.ts';

export { CALLBACKS_CHECKPOINT };

/** Message events and the callback type and status each becomes. */
const STATUS_EVENTS: Record<string, { type: CallbackEventType; status: string }> = {
  'sms.submitted.v1': { type: 'message.submitted', status: 'submitted' },
  'sms.delivered.v1': { type: 'message.delivered', status: 'delivered' },
  'sms.undelivered.v1': { type: 'message.undelivered', status: 'undelivered' },
  'sms.failed.v1': { type: 'message.failed', status: 'failed' },
  'sms.expired.v1': { type: 'message.expired', status: 'expired' },
  'sms.cancelled.v1': { type: 'message.cancelled', status: 'cancelled' },
};
const CALLBACK_EVENTS = [
  'callback.registered.v1',
  'callback.updated.v1',
  'callback.deleted.v1',
  'callback.paused.v1',
  'callback.resumed.v1',
  'callback.test-requested.v1',
  'callback.replay-requested.v1',
];
export const CALLBACK_SOURCE_TYPES = [
  'sms.accepted.v1',
  ...Object.keys(STATUS_EVENTS),
  'inbound.received.v1',
  'mobile.opted-out.v1',
  ...CALLBACK_EVENTS,
];

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

export function callbackOptionsOf(deps: ProcessorDeps, extra: Partial<CallbackOptions> = {}) {
  return { ...deps.config.callbacks, pollMs: 250, ...extra } satisfies CallbackOptions;
}

type Endpoint = { callbackId: string; events: string[]; status: string };
type MessageContext = {
  tenantId: string;
  templateCode: string;
  mobile: string;
  statusCallback: string | null;
  acceptedAtMs: number;
};
type Row = {
  deliveryId: string;
  callbackId: string;
  tenantId: string;
  url: string | null;
  orderKey: string;
  seq: number;
  eventId: string;
  eventType: string;
  messageId: string | null;
  body: string;
};

const deliveryIdOf = (target: string, eventId: string) =>
  createHash('sha256').update(`${target}|${eventId}`).digest('hex').slice(0, 32);

const iso = (ms: number) => new Date(ms).toISOString();
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

function payload(e: RecordedEvent, type: string, data: Record<string, unknown>): string {
  const clean = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
  return JSON.stringify({
    id: e.eventId,
    type,
    createdAt: e.metadata?.timestamp ?? e.recordedAt.toISOString(),
    data: clean,
  });
}

function statusData(e: RecordedEvent, status: string, m: MessageContext) {
  const d = e.data;
  const reason = d.reason as { code?: string; message?: string } | undefined;
  return {
    messageId: String(d.messageId),
    status,
    templateCode: m.templateCode,
    mobile: m.mobile,
    supplierAccount: str(d.supplierAccount),
    supplierMessageId: str(d.supplierMessageId),
    vendorCode: str(reason?.code),
    vendorMessage: str(reason?.message),
    occurredAt: str(d.deliveredAt) ?? str(d.reportedAt) ?? str(d.expiredAt) ?? str(d.cancelledAt),
    acceptedAt: iso(m.acceptedAtMs),
  };
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

/** Step 1 for one batch, in one transaction. */
async function toDeliveries(conn: PoolConnection, events: RecordedEvent[]): Promise<number> {
  const now = Date.now();
  const statusIds = [
    ...new Set(events.filter((e) => STATUS_EVENTS[e.type]).map((e) => String(e.data.messageId))),
  ];
  const contexts = new Map<string, MessageContext>();
  if (statusIds.length > 0) {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT * FROM callback_messages WHERE message_id IN (?)',
      [statusIds],
    );
    for (const r of rows) {
      contexts.set(String(r.message_id), {
        tenantId: String(r.tenant_id),
        templateCode: String(r.template_code),
        mobile: String(r.mobile),
        statusCallback: r.status_callback === null ? null : String(r.status_callback),
        acceptedAtMs: Number(r.accepted_at_ms),
      });
    }
  }
  let endpoints = new Map<string, Endpoint[]>();
  const endpointsOf = async (tenantId: string): Promise<Endpoint[]> => {
    const known = endpoints.get(tenantId);
    if (known) return known;
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT callback_id, events, status FROM callback_endpoints
       WHERE tenant_id = ? AND status <> 'deleted'`,
      [tenantId],
    );
    const list = rows.map((r) => ({
      callbackId: String(r.callback_id),
      events: (typeof r.events === 'string' ? JSON.parse(r.events) : r.events) as string[],
      status: String(r.status),
    }));
    endpoints.set(tenantId, list);
    return list;
  };
  const tenantOfEndpoint = async (callbackId: string): Promise<string | undefined> => {
    const [rows] = await conn.query<RowDataPacket[]>(
      "SELECT tenant_id FROM callback_endpoints WHERE callback_id = ? AND status <> 'deleted'",
      [callbackId],
    );
    return rows[0] ? String(rows[0].tenant_id) : undefined;
  };

  const out: Row[] = [];
  const fanOut = async (
    e: RecordedEvent,
    tenantId: string,
    type: CallbackEventType,
    orderKey: string,
    messageId: string | null,
    body: string,
  ) => {
    for (const ep of await endpointsOf(tenantId)) {
      if (!ep.events.includes(type)) continue;
      out.push({
        deliveryId: deliveryIdOf(ep.callbackId, e.eventId),
        callbackId: ep.callbackId,
        tenantId,
        url: null,
        orderKey,
        seq: e.position,
        eventId: e.eventId,
        eventType: type,
        messageId,
        body,
      });
    }
  };

  for (const e of events) {
    const d = e.data;
    const status = STATUS_EVENTS[e.type];
    if (status) {
      const messageId = String(d.messageId);
      const m = contexts.get(messageId);
      if (!m) continue;
      const body = payload(e, status.type, statusData(e, status.status, m));
      await fanOut(e, m.tenantId, status.type, `m:${messageId}`, messageId, body);
      if (m.statusCallback) {
        out.push({
          deliveryId: deliveryIdOf(`url:${m.statusCallback}`, e.eventId),
          callbackId: '',
          tenantId: m.tenantId,
          url: m.statusCallback,
          orderKey: `m:${messageId}`,
          seq: e.position,
          eventId: e.eventId,
          eventType: status.type,
          messageId,
          body,
        });
      }
      continue;
    }
    switch (e.type) {
      case 'sms.accepted.v1': {
        const tenantId = String(d.tenantId);
        const statusCallback = str(d.statusCallback) ?? null;
        const listening = (await endpointsOf(tenantId)).some((ep) =>
          ep.events.some((t) => t.startsWith('message.')),
        );
        if (!listening && !statusCallback) break;
        const context: MessageContext = {
          tenantId,
          templateCode: String(d.templateCode),
          mobile: String(d.mobile),
          statusCallback,
          acceptedAtMs: Date.parse(str(d.acceptedAt) ?? e.recordedAt.toISOString()),
        };
        contexts.set(String(d.messageId), context);
        await conn.query(
          `INSERT IGNORE INTO callback_messages
             (message_id, tenant_id, template_code, mobile, status_callback, accepted_at_ms)
           VALUES (?, ?, ?, ?, ?, ?)`,
          [
            String(d.messageId),
            tenantId,
            context.templateCode,
            context.mobile,
            statusCallback,
            context.acceptedAtMs,
          ],
        );
        break;
      }
      case 'inbound.received.v1': {
        const tenantId = str(d.tenantId);
        if (!tenantId) break;
        const body = payload(e, 'inbound.received', {
          inboundId: String(d.inboundId),
          mobile: String(d.mobile),
          content: str(d.content) ?? '',
          receivedAt: str(d.receivedAt),
          linkedMessageId: str(d.linkedMessageId),
          supplierAccount: str(d.supplierAccount),
        });
        await fanOut(e, tenantId, 'inbound.received', `i:${String(d.inboundId)}`, null, body);
        break;
      }
      case 'mobile.opted-out.v1': {
        const tenantId = String(d.tenantId);
        const body = payload(e, 'mobile.opted-out', {
          mobile: String(d.mobile),
          keyword: str(d.keyword),
          inboundId: str(d.inboundId),
        });
        await fanOut(e, tenantId, 'mobile.opted-out', `o:${String(d.mobile)}`, null, body);
        break;
      }
      case 'callback.registered.v1':
        await conn.query(
          `INSERT INTO callback_endpoints
             (callback_id, tenant_id, url, events, sealed_secret, status, created_at_ms, updated_at_ms)
           VALUES (?, ?, ?, ?, ?, 'active', ?, ?)
           ON DUPLICATE KEY UPDATE callback_id = callback_id`,
          [
            String(d.callbackId),
            String(d.tenantId),
            String(d.url),
            JSON.stringify(d.events),
            String(d.sealedSecret),
            e.recordedAt.getTime(),
            e.recordedAt.getTime(),
          ],
        );
        endpoints = new Map();
        break;
      case 'callback.updated.v1': {
        const sets: string[] = ['updated_at_ms = ?'];
        const params: unknown[] = [e.recordedAt.getTime()];
        if (d.url !== undefined) {
          sets.push('url = ?');
          params.push(String(d.url));
        }
        if (d.events !== undefined) {
          sets.push('events = ?');
          params.push(JSON.stringify(d.events));
        }
        if (d.sealedSecret !== undefined) {
          sets.push('sealed_secret = ?');
          params.push(String(d.sealedSecret));
        }
        await conn.query(`UPDATE callback_endpoints SET ${sets.join(', ')} WHERE callback_id = ?`, [
          ...params,
          String(d.callbackId),
        ]);
        endpoints = new Map();
        break;
      }
      case 'callback.deleted.v1':
        await conn.query(
          "UPDATE callback_endpoints SET status = 'deleted', updated_at_ms = ? WHERE callback_id = ?",
          [e.recordedAt.getTime(), String(d.callbackId)],
        );
        endpoints = new Map();
        break;
      case 'callback.paused.v1': {
        const reason = d.reason as { code: string; message: string };
        await conn.query(
          `UPDATE callback_endpoints SET status = 'paused', pause_code = ?, pause_message = ?,
             paused_at_ms = ?, updated_at_ms = ? WHERE callback_id = ? AND status <> 'deleted'`,
          [
            reason.code,
            reason.message.slice(0, 500),
            e.recordedAt.getTime(),
            e.recordedAt.getTime(),
            String(d.callbackId),
          ],
        );
        endpoints = new Map();
        break;
      }
      case 'callback.resumed.v1':
        await conn.query(
          `UPDATE callback_endpoints SET status = 'active', pause_code = NULL, pause_message = NULL,
             paused_at_ms = NULL, failing_since_ms = NULL, updated_at_ms = ?
           WHERE callback_id = ? AND status <> 'deleted'`,
          [e.recordedAt.getTime(), String(d.callbackId)],
        );
        // what waited while it was paused is tried at once
        await conn.query(
          `UPDATE callback_deliveries SET next_at_ms = LEAST(next_at_ms, ?)
           WHERE callback_id = ? AND state = 'pending'`,
          [now, String(d.callbackId)],
        );
        endpoints = new Map();
        break;
      case 'callback.test-requested.v1': {
        const callbackId = String(d.callbackId);
        const tenantId = await tenantOfEndpoint(callbackId);
        if (!tenantId) break;
        const testId = String(d.testId);
        out.push({
          deliveryId: deliveryIdOf(callbackId, testId),
          callbackId,
          tenantId,
          url: null,
          orderKey: `t:${testId}`,
          seq: e.position,
          eventId: testId,
          eventType: 'callback.test',
          messageId: null,
          body: JSON.stringify({
            id: testId,
            type: 'callback.test',
            createdAt: e.metadata?.timestamp ?? e.recordedAt.toISOString(),
            data: { callbackId },
          }),
        });
        break;
      }
      case 'callback.replay-requested.v1': {
        const ids = d.deliveryIds as string[] | undefined;
        await conn.query(
          `UPDATE callback_deliveries
             SET state = 'pending', attempts = 0, first_at_ms = ?, next_at_ms = ?, last_error = NULL
           WHERE callback_id = ? AND state = 'failed'${ids ? ' AND delivery_id IN (?)' : ''}`,
          [now, now, String(d.callbackId), ...(ids ? [ids] : [])],
        );
        break;
      }
    }
  }

  for (let i = 0; i < out.length; i += 200) {
    const chunk = out.slice(i, i + 200);
    await conn.query(
      `INSERT IGNORE INTO callback_deliveries
         (delivery_id, callback_id, tenant_id, url, order_key, seq, event_id, event_type,
          message_id, body, state, attempts, first_at_ms, next_at_ms)
       VALUES ?`,
      [
        chunk.map((r) => [
          r.deliveryId,
          r.callbackId,
          r.tenantId,
          r.url,
          r.orderKey,
          r.seq,
          r.eventId,
          r.eventType,
          r.messageId,
          r.body,
          'pending',
          0,
          now,
          now,
        ]),
      ],
    );
  }
  return out.length;
}

type Due = RowDataPacket & {
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

/** The wait before attempt `attempts + 1`: base · 2^(attempts − 1), ±20 %, at most max. */
export function retryDelayMs(attempts: number, base: number, max: number): number {
  const raw = Math.min(max, base * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}

export async function startCallbacks(
  deps: ProcessorDeps,
  extra: Partial<CallbackOptions> = {},
): Promise<Running> {
  const options = callbackOptionsOf(deps, extra);
  const log = deps.logger.child({ component: 'callbacks' });
  const key = deps.config.codes.encryptionKey;
  const metrics = callbackMetrics(deps);
  // sleeps until the next retry is due (at most IDLE_FALLBACK_MS); new deliveries wake it
  const { nap, wake } = napper();

  const handle = async (events: RecordedEvent[]) => {
    const conn = await deps.mysql.getConnection();
    let added: number;
    try {
      await conn.beginTransaction();
      added = await toDeliveries(conn, events);
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
    if (added > 0 || events.some((e) => e.type.startsWith('callback.'))) wake();
  };

  const deliverOne = async (row: Due): Promise<void> => {
    const now = Date.now();
    const url = row.url ?? row.endpoint_url;
    let secret: string;
    try {
      secret = row.callback_id
        ? openCallbackSecret(key, row.callback_id, String(row.sealed_secret))
        : messageCallbackSecret(key, row.tenant_id);
    } catch {
      secret = '';
    }
    const result =
      url && secret
        ? await postCallback(
            url,
            row.body,
            {
              [SIGNATURE_HEADER]: signatureHeader(secret, row.body),
              'Streaming-Event-Id': row.event_id,
              'Streaming-Event-Type': row.event_type,
              'Streaming-Delivery-Id': row.delivery_id,
            },
            { timeoutMs: options.timeoutMs, allowPrivate: options.allowPrivate },
          )
        : { status: undefined, error: 'the endpoint has no usable URL or secret', ms: 0 };
    const attempts = Number(row.attempts) + 1;
    metrics.observe(result.error === undefined ? 'ok' : 'error', result.ms / 1000);
    if (result.error === undefined) {
      await deps.mysql.query(
        `UPDATE callback_deliveries SET state = 'delivered',
           first_at_ms = IF(attempts = 0, ?, first_at_ms), attempts = ?, delivered_at_ms = ?,
           last_attempt_at_ms = ?, last_status = ?, last_error = NULL
         WHERE delivery_id = ? AND state = 'pending'`,
        [now, attempts, Date.now(), now, result.status ?? null, row.delivery_id],
      );
      if (row.callback_id && row.failing_since_ms !== null) {
        await deps.mysql.query(
          'UPDATE callback_endpoints SET failing_since_ms = NULL, last_error = NULL WHERE callback_id = ?',
          [row.callback_id],
        );
      }
      metrics.delivered(row.event_type, 'delivered');
      return;
    }
    const error = result.error.slice(0, 500);
    // the retry window counts from the first attempt (a row may wait behind others before it)
    const firstAt = Number(row.attempts) === 0 ? now : Number(row.first_at_ms);
    const dead = now - firstAt >= options.retryForMs;
    await deps.mysql.query(
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
    metrics.delivered(row.event_type, dead ? 'dead_lettered' : 'failed');
    if (!row.callback_id) return;
    if (dead) {
      await decideOnEndpoint(deps.eventStore, row.callback_id, {
        type: 'RecordDeadLetter',
        data: { deliveryId: row.delivery_id, eventId: row.event_id, attempts, lastError: error },
      });
    }
    const since = row.failing_since_ms === null ? now : Number(row.failing_since_ms);
    await deps.mysql.query(
      `UPDATE callback_endpoints SET failing_since_ms = COALESCE(failing_since_ms, ?), last_error = ?
       WHERE callback_id = ?`,
      [now, error, row.callback_id],
    );
    if (now - since >= options.pauseAfterMs) {
      const seconds = Math.round((now - since) / 1000);
      const took = seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
      const reason = {
        code: 'ENDPOINT_FAILING',
        message: `Every call failed for ${took}; the last: ${error}`.slice(0, 500),
      };
      // stop calling at once; the event the subscription sees says the same
      await deps.mysql.query(
        `UPDATE callback_endpoints SET status = 'paused', pause_code = ?, pause_message = ?,
           paused_at_ms = ? WHERE callback_id = ? AND status = 'active'`,
        [reason.code, reason.message, now, row.callback_id],
      );
      await decideOnEndpoint(deps.eventStore, row.callback_id, {
        type: 'PauseCallback',
        data: { reason, failingSince: iso(since) },
      });
      log.warn('callback endpoint paused', { callbackId: row.callback_id, error });
    }
  };

  /** Until the earliest retry of a pending delivery (none due now: the round found none). */
  const untilNextDue = async () => {
    const now = Date.now();
    try {
      const [rows] = await deps.mysql.query<RowDataPacket[]>(
        `SELECT MIN(next_at_ms) AS next FROM callback_deliveries
         WHERE state = 'pending' AND next_at_ms > ?`,
        [now],
      );
      const next = rows[0]?.next;
      return sleepUntil(
        next === null || next === undefined ? undefined : Number(next),
        options.pollMs,
        now,
      );
    } catch {
      return options.pollMs;
    }
  };

  // one line when rounds start failing (MySQL away), one when they work again
  const rounds = outage(log, 'callback sender', 'mysql (its due deliveries)');
  const send = async (isClosed: () => boolean, ended: Promise<void>) => {
    void ended.then(() => wake());
    const limit = options.concurrency * 2;
    while (!isClosed()) {
      let due: Due[] = [];
      try {
        [due] = await deps.mysql.query<Due[]>(
          `SELECT d.delivery_id, d.callback_id, d.tenant_id, d.url, d.event_id, d.event_type,
                  d.body, d.attempts, d.first_at_ms,
                  e.url AS endpoint_url, e.sealed_secret, e.failing_since_ms
           FROM callback_deliveries d
           LEFT JOIN callback_endpoints e ON e.callback_id = d.callback_id
           WHERE d.state = 'pending' AND d.next_at_ms <= ?
             AND (d.callback_id = '' OR e.status = 'active')
             AND NOT EXISTS (
               SELECT 1 FROM callback_deliveries p
               WHERE p.callback_id = d.callback_id AND p.order_key = d.order_key
                 AND p.state = 'pending' AND p.seq < d.seq)
           ORDER BY d.next_at_ms LIMIT ?`,
          [Date.now(), limit],
        );
        // one endpoint failing pauses it; its other rows of this round wait for the next
        let next = 0;
        const worker = async () => {
          while (next < due.length && !isClosed()) {
            const row = due[next++]!;
            await deliverOne(row).catch((err: unknown) =>
              log.warn('callback delivery bookkeeping failed; it is retried', {
                err: String(err),
              }),
            );
          }
        };
        await Promise.all(
          Array.from({ length: Math.min(options.concurrency, due.length) }, worker),
        );
        rounds.ok();
      } catch (err) {
        rounds.failed(err);
        await sleep(1_000);
      }
      if (due.length === 0) await nap(await untilNextDue());
    }
  };

  const running = await runCheckpointed(deps, {
    name: 'callbacks',
    checkpoint: CALLBACKS_CHECKPOINT,
    types: CALLBACK_SOURCE_TYPES,
    activate: () => ensureCallbackTables(deps.mysql),
    handle,
    background: send,
  });
  return {
    async close() {
      wake();
      await running.close();
      metrics.close();
    },
  };
}
