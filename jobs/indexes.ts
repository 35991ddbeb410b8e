// The jobs' own index of the event store, in MySQL: which messages exist (for
// retention), which are still open (for the sweeper) and which verification
// streams exist (for expiry). It is filled incrementally from the event store
// with a checkpoint (platform/checkpoints) committed in the same transaction
// as the rows, so a job never scans the whole store and the index can be
// dropped and rebuilt (delete the `jobs.index` checkpoint row and its tables).
//
// Per-tenant retention lives in `tenant_retention` (tenant_id, retention_days);
// a tenant without a row gets STREAMING_RETENTION_DAYS.
import type { Pool, PoolConnection } from 'mysql2/promise';
import {
  ensureCheckpoints,
  initCheckpoint,
  readCheckpoint,
  setCheckpoint,
} from '../platform/checkpoints/index.ts';
import type { EventStore, RecordedEvent } from '../platform/eventStore/index.ts';

export const INDEX_CHECKPOINT = 'jobs.index';

export const jobTablesSchema = [
  `CREATE TABLE IF NOT EXISTS job_message_index (
    message_id VARCHAR(191) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(191) NOT NULL,
    accepted_at DATETIME(3) NOT NULL,
    KEY ix_job_message_index_tenant_time (tenant_id, accepted_at)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS job_open_messages (
    message_id VARCHAR(191) NOT NULL PRIMARY KEY,
    status VARCHAR(32) NOT NULL,
    since DATETIME(3) NOT NULL,
    KEY ix_job_open_messages_since (since)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS job_verification_streams (
    stream_id VARCHAR(191) NOT NULL PRIMARY KEY,
    expires_at DATETIME(3) NOT NULL,
    KEY ix_job_verification_streams_expiry (expires_at)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS tenant_retention (
    tenant_id VARCHAR(191) NOT NULL PRIMARY KEY,
    retention_days INT UNSIGNED NOT NULL
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
];

export async function ensureJobTables(pool: Pool): Promise<void> {
  await ensureCheckpoints(pool);
  for (const ddl of jobTablesSchema) await pool.query(ddl);
  await initCheckpoint(pool, INDEX_CHECKPOINT);
}

/** Message states the sweeper watches: no outcome yet. */
const OPENING: Record<string, string> = {
  'sms.accepted.v1': 'accepted',
  'sms.failed-over.v1': 'failed-over',
  'sms.retry-scheduled.v1': 'retry-scheduled',
};
/**
 * States with an outcome (a submission the supplier took, or a final one), or
 * left to the dispatcher: an uncertain call is reconciled with the vendor up to
 * STREAMING_RECEIPT_EXPIRE_AFTER (then expired), not failed after the deadline.
 */
const CLOSING = new Set([
  'sms.submission-uncertain.v1',
  'sms.submitted.v1',
  'sms.delivered.v1',
  'sms.undelivered.v1',
  'sms.failed.v1',
  'sms.expired.v1',
  'sms.cancelled.v1',
]);

export function isOpeningType(type: string): boolean {
  return type in OPENING;
}
export function isClosingType(type: string): boolean {
  return CLOSING.has(type);
}
export function openStatusOf(type: string): string | undefined {
  return OPENING[type];
}

function eventTime(e: RecordedEvent): Date {
  const t = Date.parse(e.metadata.timestamp);
  return Number.isNaN(t) ? e.recordedAt : new Date(t);
}

/**
 * When an open message last made progress (a retry counts from its due time, a
 * scheduled send from the time it is not dispatched before).
 */
export function progressTime(e: RecordedEvent): Date {
  const at = eventTime(e);
  const dueText = e.data.dueAt ?? e.data.notBefore;
  const due = typeof dueText === 'string' ? Date.parse(dueText) : NaN;
  return !Number.isNaN(due) && due > at.getTime() ? new Date(due) : at;
}

function acceptedTime(e: RecordedEvent): Date {
  const t = typeof e.data.acceptedAt === 'string' ? Date.parse(e.data.acceptedAt) : NaN;
  return Number.isNaN(t) ? eventTime(e) : new Date(t);
}

const CHUNK = 1000;

async function apply(conn: PoolConnection, events: RecordedEvent[]): Promise<void> {
  const index: [string, string, Date][] = [];
  for (const e of events) {
    const id = typeof e.data.messageId === 'string' ? e.data.messageId : undefined;
    if (e.type === 'sms.accepted.v1' && id && typeof e.data.tenantId === 'string') {
      index.push([id, e.data.tenantId, acceptedTime(e)]);
    }
  }
  if (index.length) {
    await conn.query(
      'INSERT IGNORE INTO job_message_index (message_id, tenant_id, accepted_at) VALUES ?',
      [index],
    );
  }
  // The open set and the verification streams, folded per batch: what counts
  // for each message is its last event in the batch (in order), for each
  // verification stream its latest expiry. Then one statement per kind, not
  // one per event (a catch-up after five minutes of sending reads
  // hundreds of thousands of events).
  const open = new Map<string, [string, Date] | null>();
  const verifications = new Map<string, Date>();
  for (const e of events) {
    const id = typeof e.data.messageId === 'string' ? e.data.messageId : undefined;
    const status = OPENING[e.type];
    if (id && status) {
      open.set(id, [status, progressTime(e)]);
    } else if (id && CLOSING.has(e.type)) {
      open.set(id, null);
    } else if (e.type === 'verification.issued.v1' && typeof e.data.expiresAt === 'string') {
      const expires = new Date(e.data.expiresAt);
      const known = verifications.get(e.streamId);
      if (!known || known < expires) verifications.set(e.streamId, expires);
    }
  }
  const closed: string[] = [];
  const opened: [string, string, Date][] = [];
  for (const [id, value] of open) {
    if (value === null) closed.push(id);
    else opened.push([id, value[0], value[1]]);
  }
  for (let i = 0; i < closed.length; i += CHUNK) {
    await conn.query('DELETE FROM job_open_messages WHERE message_id IN (?)', [
      closed.slice(i, i + CHUNK),
    ]);
  }
  for (let i = 0; i < opened.length; i += CHUNK) {
    await conn.query(
      `INSERT INTO job_open_messages (message_id, status, since) VALUES ?
       ON DUPLICATE KEY UPDATE status = VALUES(status), since = VALUES(since)`,
      [opened.slice(i, i + CHUNK)],
    );
  }
  if (verifications.size > 0) {
    await conn.query(
      `INSERT INTO job_verification_streams (stream_id, expires_at) VALUES ?
       ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, VALUES(expires_at))`,
      [[...verifications]],
    );
  }
}

/**
 * Brings the index up to the head of the event store, batch by batch; each
 * batch and its checkpoint commit together under the checkpoint's row lock,
 * so concurrent jobs never apply a batch twice. Returns events read.
 */
export async function catchUpIndex(
  pool: Pool,
  eventStore: EventStore,
  options: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<number> {
  let total = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const after = await readCheckpoint(conn, INDEX_CHECKPOINT, true);
      const events = await eventStore.readAll({ after, limit: options.batchSize ?? 1000 });
      if (events.length === 0) {
        await conn.rollback();
        return total;
      }
      await apply(conn, events);
      await setCheckpoint(conn, INDEX_CHECKPOINT, events[events.length - 1]!.position);
      await conn.commit();
      total += events.length;
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }
}
