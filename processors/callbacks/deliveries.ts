// Step 1 of the callback sender: a batch of events becomes delivery rows in
// MySQL, in the caller's transaction. Endpoints are folded from callback-<id>
// streams, the tenant of each message from its sms.accepted, one row per
// (endpoint, event) with the exact body to send. Row ids are derived from
// (endpoint, event), so a batch handled twice adds nothing.
import { createHash } from 'node:crypto';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { CallbackEventType } from '../../domain/index.ts';
import type { RecordedEvent } from '../../platform/eventStore/index.ts';

/** Message events and the callback type and status each becomes. */
export const STATUS_EVENTS: Record<string, { type: CallbackEventType; status: string }> = {
  'sms.submitted.v1': { type: 'message.submitted', status: 'submitted' },
  'sms.delivered.v1': { type: 'message.delivered', status: 'delivered' },
  'sms.undelivered.v1': { type: 'message.undelivered', status: 'undelivered' },
  'sms.failed.v1': { type: 'message.failed', status: 'failed' },
  'sms.expired.v1': { type: 'message.expired', status: 'expired' },
  'sms.cancelled.v1': { type: 'message.cancelled', status: 'cancelled' },
};

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

export const iso = (ms: number) => new Date(ms).toISOString();
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

/** One batch's state: the rows it adds, the message contexts and endpoints it has read. */
class DeliveryBatch {
  readonly rows: Row[] = [];
  readonly contexts = new Map<string, MessageContext>();
  private endpoints = new Map<string, Endpoint[]>();

  readonly conn: PoolConnection;
  readonly now: number;

  constructor(conn: PoolConnection, now: number) {
    this.conn = conn;
    this.now = now;
  }

  /** The contexts of the messages whose status events the batch holds. */
  async loadContexts(events: RecordedEvent[]): Promise<void> {
    const ids = [
      ...new Set(events.filter((e) => STATUS_EVENTS[e.type]).map((e) => String(e.data.messageId))),
    ];
    if (ids.length === 0) return;
    const [rows] = await this.conn.query<RowDataPacket[]>(
      'SELECT * FROM callback_messages WHERE message_id IN (?)',
      [ids],
    );
    for (const r of rows) {
      this.contexts.set(String(r.message_id), {
        tenantId: String(r.tenant_id),
        templateCode: String(r.template_code),
        mobile: String(r.mobile),
        statusCallback: r.status_callback === null ? null : String(r.status_callback),
        acceptedAtMs: Number(r.accepted_at_ms),
      });
    }
  }

  async endpointsOf(tenantId: string): Promise<Endpoint[]> {
    const known = this.endpoints.get(tenantId);
    if (known) return known;
    const [rows] = await this.conn.query<RowDataPacket[]>(
      `SELECT callback_id, events, status FROM callback_endpoints
       WHERE tenant_id = ? AND status <> 'deleted'`,
      [tenantId],
    );
    const list = rows.map((r) => ({
      callbackId: String(r.callback_id),
      events: (typeof r.events === 'string' ? JSON.parse(r.events) : r.events) as string[],
      status: String(r.status),
    }));
    this.endpoints.set(tenantId, list);
    return list;
  }

  /** An endpoint changed: what was read of them is stale. */
  forgetEndpoints(): void {
    this.endpoints = new Map();
  }

  async tenantOfEndpoint(callbackId: string): Promise<string | undefined> {
    const [rows] = await this.conn.query<RowDataPacket[]>(
      "SELECT tenant_id FROM callback_endpoints WHERE callback_id = ? AND status <> 'deleted'",
      [callbackId],
    );
    return rows[0] ? String(rows[0].tenant_id) : undefined;
  }

  /** One row for each of the tenant's endpoints that listens to `type`. */
  async fanOut(
    e: RecordedEvent,
    tenantId: string,
    type: CallbackEventType,
    orderKey: string,
    messageId: string | null,
    body: string,
  ): Promise<void> {
    for (const ep of await this.endpointsOf(tenantId)) {
      if (!ep.events.includes(type)) continue;
      this.rows.push({
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
  }

  /** A status event: to the tenant's endpoints and to the send's own statusCallback. */
  async onStatus(e: RecordedEvent, status: { type: CallbackEventType; status: string }) {
    const messageId = String(e.data.messageId);
    const m = this.contexts.get(messageId);
    if (!m) return;
    const body = payload(e, status.type, statusData(e, status.status, m));
    await this.fanOut(e, m.tenantId, status.type, `m:${messageId}`, messageId, body);
    if (!m.statusCallback) return;
    this.rows.push({
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

  /** Writes the batch's rows, 200 to a statement. */
  async insertRows(): Promise<number> {
    const now = this.now;
    for (let i = 0; i < this.rows.length; i += 200) {
      const chunk = this.rows.slice(i, i + 200);
      await this.conn.query(
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
    return this.rows.length;
  }
}

type Handler = (batch: DeliveryBatch, e: RecordedEvent) => Promise<void>;

async function onAccepted(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const d = e.data;
  const tenantId = String(d.tenantId);
  const statusCallback = str(d.statusCallback) ?? null;
  const listening = (await batch.endpointsOf(tenantId)).some((ep) =>
    ep.events.some((t) => t.startsWith('message.')),
  );
  if (!listening && !statusCallback) return;
  const context: MessageContext = {
    tenantId,
    templateCode: String(d.templateCode),
    mobile: String(d.mobile),
    statusCallback,
    acceptedAtMs: Date.parse(str(d.acceptedAt) ?? e.recordedAt.toISOString()),
  };
  batch.contexts.set(String(d.messageId), context);
  await batch.conn.query(
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
}

async function onInbound(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const d = e.data;
  const tenantId = str(d.tenantId);
  if (!tenantId) return;
  const body = payload(e, 'inbound.received', {
    inboundId: String(d.inboundId),
    mobile: String(d.mobile),
    content: str(d.content) ?? '',
    receivedAt: str(d.receivedAt),
    linkedMessageId: str(d.linkedMessageId),
    supplierAccount: str(d.supplierAccount),
  });
  await batch.fanOut(e, tenantId, 'inbound.received', `i:${String(d.inboundId)}`, null, body);
}

async function onOptedOut(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const d = e.data;
  const body = payload(e, 'mobile.opted-out', {
    mobile: String(d.mobile),
    keyword: str(d.keyword),
    inboundId: str(d.inboundId),
  });
  await batch.fanOut(
    e,
    String(d.tenantId),
    'mobile.opted-out',
    `o:${String(d.mobile)}`,
    null,
    body,
  );
}

async function onRegistered(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const d = e.data;
  await batch.conn.query(
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
  batch.forgetEndpoints();
}

async function onUpdated(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const d = e.data;
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
  await batch.conn.query(`UPDATE callback_endpoints SET ${sets.join(', ')} WHERE callback_id = ?`, [
    ...params,
    String(d.callbackId),
  ]);
  batch.forgetEndpoints();
}

async function onDeleted(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  await batch.conn.query(
    "UPDATE callback_endpoints SET status = 'deleted', updated_at_ms = ? WHERE callback_id = ?",
    [e.recordedAt.getTime(), String(e.data.callbackId)],
  );
  batch.forgetEndpoints();
}

async function onPaused(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const d = e.data;
  const reason = d.reason as { code: string; message: string };
  await batch.conn.query(
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
  batch.forgetEndpoints();
}

async function onResumed(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const callbackId = String(e.data.callbackId);
  await batch.conn.query(
    `UPDATE callback_endpoints SET status = 'active', pause_code = NULL, pause_message = NULL,
       paused_at_ms = NULL, failing_since_ms = NULL, updated_at_ms = ?
     WHERE callback_id = ? AND status <> 'deleted'`,
    [e.recordedAt.getTime(), callbackId],
  );
  // what waited while it was paused is tried at once
  await batch.conn.query(
    `UPDATE callback_deliveries SET next_at_ms = LEAST(next_at_ms, ?)
     WHERE callback_id = ? AND state = 'pending'`,
    [batch.now, callbackId],
  );
  batch.forgetEndpoints();
}

async function onTestRequested(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const callbackId = String(e.data.callbackId);
  const tenantId = await batch.tenantOfEndpoint(callbackId);
  if (!tenantId) return;
  const testId = String(e.data.testId);
  batch.rows.push({
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
}

async function onReplayRequested(batch: DeliveryBatch, e: RecordedEvent): Promise<void> {
  const ids = e.data.deliveryIds as string[] | undefined;
  await batch.conn.query(
    `UPDATE callback_deliveries
       SET state = 'pending', attempts = 0, first_at_ms = ?, next_at_ms = ?, last_error = NULL
     WHERE callback_id = ? AND state = 'failed'${ids ? ' AND delivery_id IN (?)' : ''}`,
    [batch.now, batch.now, String(e.data.callbackId), ...(ids ? [ids] : [])],
  );
}

/** What each event other than a message status does to the batch. */
const HANDLERS: Record<string, Handler> = {
  'sms.accepted.v1': onAccepted,
  'inbound.received.v1': onInbound,
  'mobile.opted-out.v1': onOptedOut,
  'callback.registered.v1': onRegistered,
  'callback.updated.v1': onUpdated,
  'callback.deleted.v1': onDeleted,
  'callback.paused.v1': onPaused,
  'callback.resumed.v1': onResumed,
  'callback.test-requested.v1': onTestRequested,
  'callback.replay-requested.v1': onReplayRequested,
};

export const CALLBACK_SOURCE_TYPES = [
  'sms.accepted.v1',
  ...Object.keys(STATUS_EVENTS),
  ...Object.keys(HANDLERS).filter((t) => t !== 'sms.accepted.v1'),
];

/** Step 1 for one batch, in the caller's transaction; the number of rows added. */
export async function toDeliveries(conn: PoolConnection, events: RecordedEvent[]): Promise<number> {
  const batch = new DeliveryBatch(conn, Date.now());
  await batch.loadContexts(events);
  for (const e of events) {
    const status = STATUS_EVENTS[e.type];
    if (status) await batch.onStatus(e, status);
    else await HANDLERS[e.type]?.(batch, e);
  }
  return batch.insertRows();
}
