// Retention of the callback sender's tables (platform/callbacks/tables.ts):
// finished deliveries (delivered, or failed: dead-lettered and not replayed)
// older than STREAMING_CALLBACK_RETENTION_DAYS, and the rows of messages
// accepted before then that have no pending delivery left. A pending delivery
// is never touched: it is a durable retry timer. Batched, so that a long
// backlog does not hold locks for long; tables not created yet are skipped.
import type { Pool, ResultSetHeader } from 'mysql2/promise';

export interface CallbackRetentionOptions {
  days: number;
  now?: Date;
  batchSize?: number;
  signal?: AbortSignal;
  stillHolder?: () => Promise<boolean>;
}

export interface CallbackRetentionResult {
  deliveries: number;
  messages: number;
  cutoff: string;
}

const noSuchTable = (err: unknown) =>
  (err as { code?: unknown } | null)?.code === 'ER_NO_SUCH_TABLE';

async function inBatches(
  pool: Pool,
  sql: string,
  args: unknown[],
  options: CallbackRetentionOptions,
): Promise<number> {
  const batchSize = options.batchSize ?? 1000;
  let removed = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    if (options.stillHolder && !(await options.stillHolder())) {
      throw new Error('the job lock was lost; stopping before the next batch');
    }
    let affected: number;
    try {
      const [r] = await pool.query<ResultSetHeader>(`${sql} LIMIT ?`, [...args, batchSize]);
      affected = r.affectedRows;
    } catch (err) {
      if (noSuchTable(err)) return removed;
      throw err;
    }
    removed += affected;
    if (affected < batchSize) return removed;
  }
}

export async function pruneCallbackTables(
  pool: Pool,
  options: CallbackRetentionOptions,
): Promise<CallbackRetentionResult> {
  const now = options.now ?? new Date();
  const cutoff = now.getTime() - options.days * 86_400_000;
  // (state, next_at_ms) is indexed; a finished row's next_at_ms is its last attempt
  const deliveries = await inBatches(
    pool,
    `DELETE FROM callback_deliveries
      WHERE state IN ('delivered', 'failed') AND next_at_ms < ?
        AND COALESCE(delivered_at_ms, last_attempt_at_ms, first_at_ms) < ?`,
    [cutoff, cutoff],
    options,
  );
  const messages = await inBatches(
    pool,
    `DELETE FROM callback_messages
      WHERE accepted_at_ms < ?
        AND NOT EXISTS (SELECT 1 FROM callback_deliveries d
                         WHERE d.message_id = callback_messages.message_id AND d.state = 'pending')`,
    [cutoff],
    options,
  );
  return { deliveries, messages, cutoff: new Date(cutoff).toISOString() };
}
