// History retention: messages older than their tenant's retention are removed
// from every store, in batches, and a `retention.applied.v1` event on
// `retention-<tenantId>` records what was removed (count and time range, no
// content) so the audit keeps the fact.
//
// Per batch: read each message stream (for the supplier look-ups its
// sms.submitted events name), then delete the Redis look-ups, the Mongo
// timelines and audit-log entries, the MySQL message_history rows, the message
// streams, and last the index rows (so an interrupted batch is found again and
// finished).
// Stores that do not exist yet (no read side deployed) are skipped.
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { EventStore } from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import { liveCollection, readModelDb, timelineCollections } from '../platform/readModels/index.ts';
import {
  AUDIT_LOG,
  DEFAULT_REDIS_PREFIX,
  MESSAGE_HISTORY,
  MESSAGE_TIMELINES,
  messageStream,
  retentionStream,
  supplierLookupKey as lookupKey,
} from '../contracts/index.ts';
import { catchUpIndex } from './indexes.ts';

/**
 * The dispatcher's Redis look-up of a supplier message id → message id
 * (`<prefix>smid:<account>:<normalized id>`, built in contracts/redisKeys.ts).
 */
export function supplierLookupKey(
  supplierAccount: string,
  supplierMessageId: string,
  prefix = DEFAULT_REDIS_PREFIX,
): string {
  return lookupKey(prefix, supplierAccount, supplierMessageId);
}

export interface RetentionDeps {
  pool: Pool;
  eventStore: EventStore;
  redis: Redis;
  mongo: Db;
  logger: Logger;
  /** STREAMING_RETENTION_DAYS: tenants without a tenant_retention row. */
  defaultDays: number;
  /** Prefix of the dispatcher's Redis keys (default `streaming:`). */
  redisPrefix?: string;
}

export interface RetentionOptions {
  now?: Date;
  batchSize?: number;
  signal?: AbortSignal;
  /** Checked before each batch's deletes: false stops the run (a stale lock holder). */
  stillHolder?: () => Promise<boolean>;
}

export interface TenantRetention {
  tenantId: string;
  days: number;
  cutoff: string;
  removed: number;
}

export interface RetentionResult {
  [key: string]: unknown;
  removed: number;
  tenants: TenantRetention[];
}

function isNoSuchTable(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ER_NO_SUCH_TABLE';
}

/** Sets (or with days undefined, clears) a tenant's own retention. */
export async function setTenantRetention(
  pool: Pool,
  tenantId: string,
  days: number | undefined,
): Promise<void> {
  if (days === undefined) {
    await pool.query('DELETE FROM tenant_retention WHERE tenant_id = ?', [tenantId]);
    return;
  }
  await pool.query(
    `INSERT INTO tenant_retention (tenant_id, retention_days) VALUES (?, ?)
     ON DUPLICATE KEY UPDATE retention_days = VALUES(retention_days)`,
    [tenantId, days],
  );
}

/** Supplier look-up keys of one message, from its events. */
export function lookupKeysOf(
  events: readonly { type: string; data: Record<string, unknown> }[],
  prefix = DEFAULT_REDIS_PREFIX,
) {
  const keys = new Set<string>();
  for (const e of events) {
    const { supplierAccount, supplierMessageId } = e.data;
    if (
      (e.type === 'sms.submitted.v1' ||
        e.type === 'sms.delivered.v1' ||
        e.type === 'sms.undelivered.v1') &&
      typeof supplierAccount === 'string' &&
      typeof supplierMessageId === 'string'
    ) {
      keys.add(supplierLookupKey(supplierAccount, supplierMessageId, prefix));
    }
  }
  return [...keys];
}

async function removeBatch(deps: RetentionDeps, ids: string[]): Promise<void> {
  // 1. the look-ups named by the streams (read before the streams go)
  const streams = await Promise.all(ids.map((id) => deps.eventStore.readStream(messageStream(id))));
  const keys = streams.flatMap((events) => lookupKeysOf(events, deps.redisPrefix));
  if (keys.length) await deps.redis.del(...keys);
  // 2. read models: timelines and the audit log's entries of these streams
  //    (the live collections may have been swapped by a rebuild)
  const timelines = await liveCollection(deps.mongo, MESSAGE_TIMELINES);
  for (const part of timelineCollections(timelines)) {
    await readModelDb(deps.mongo, MESSAGE_TIMELINES)
      .collection<{ _id: string; messageId?: string }>(part)
      // final documents are keyed by message, open versions name theirs
      .deleteMany({ $or: [{ _id: { $in: ids } }, { messageId: { $in: ids } }] });
  }
  const audit = await liveCollection(deps.mongo, AUDIT_LOG);
  await deps.mongo.collection(audit).deleteMany({ streamId: { $in: ids.map(messageStream) } });
  try {
    await deps.pool.query(`DELETE FROM ${MESSAGE_HISTORY} WHERE message_id IN (?)`, [ids]);
  } catch (err) {
    if (!isNoSuchTable(err)) throw err;
  }
  // 3. the streams, then the jobs' own index
  for (const id of ids) await deps.eventStore.deleteStream(messageStream(id));
  await deps.pool.query('DELETE FROM job_open_messages WHERE message_id IN (?)', [ids]);
  await deps.pool.query('DELETE FROM job_message_index WHERE message_id IN (?)', [ids]);
}

export async function applyRetention(
  deps: RetentionDeps,
  options: RetentionOptions = {},
): Promise<RetentionResult> {
  const now = options.now ?? new Date();
  const batchSize = options.batchSize ?? 500;
  await catchUpIndex(deps.pool, deps.eventStore, { signal: options.signal });

  const [tenantRows] = await deps.pool.query<RowDataPacket[]>(
    `SELECT i.tenant_id AS tenantId, r.retention_days AS days
       FROM (SELECT DISTINCT tenant_id FROM job_message_index) i
       LEFT JOIN tenant_retention r ON r.tenant_id = i.tenant_id
      ORDER BY i.tenant_id`,
  );
  const result: RetentionResult = { removed: 0, tenants: [] };
  for (const row of tenantRows) {
    const tenantId = String(row.tenantId);
    const days = row.days === null || row.days === undefined ? deps.defaultDays : Number(row.days);
    const cutoff = new Date(now.getTime() - days * 86_400_000);
    const tenant: TenantRetention = { tenantId, days, cutoff: cutoff.toISOString(), removed: 0 };
    for (;;) {
      options.signal?.throwIfAborted();
      const [rows] = await deps.pool.query<RowDataPacket[]>(
        `SELECT message_id AS id, accepted_at AS at FROM job_message_index
          WHERE tenant_id = ? AND accepted_at < ? ORDER BY accepted_at, message_id LIMIT ?`,
        [tenantId, cutoff, batchSize],
      );
      if (rows.length === 0) break;
      if (options.stillHolder && !(await options.stillHolder())) {
        throw new Error('the job lock was lost; stopping before the next batch');
      }
      const ids = rows.map((r) => String(r.id));
      await removeBatch(deps, ids);
      const times = rows.map((r) => (r.at as Date).getTime());
      await deps.eventStore.append(
        retentionStream(tenantId),
        [
          {
            type: 'retention.applied.v1',
            data: {
              tenantId,
              count: ids.length,
              from: new Date(Math.min(...times)).toISOString(),
              to: new Date(Math.max(...times)).toISOString(),
              cutoff: cutoff.toISOString(),
            },
            metadata: { actor: { type: 'system', id: 'jobs:retention' } },
          },
        ],
        'any',
      );
      tenant.removed += ids.length;
      deps.logger.info('retention batch removed', { tenantId, count: ids.length });
      if (rows.length < batchSize) break;
    }
    result.removed += tenant.removed;
    if (tenant.removed > 0) result.tenants.push(tenant);
  }
  return result;
}
