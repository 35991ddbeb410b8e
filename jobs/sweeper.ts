// The sweeper: messages left without an outcome (accepted, failing over, or
// waiting for a retry) past STREAMING_SWEEPER_DEADLINE_SECONDS are failed with
// reason SWEPT_STALE. An uncertain submission is not: it may have been sent,
// and the dispatcher reconciles it with the vendor's query API until
// STREAMING_RECEIPT_EXPIRE_AFTER, when it expires. The decision is taken on the message stream itself (the index
// only finds candidates) and appended with the stream's expected version, so
// a message that made progress meanwhile is left alone.
//
// Expired verification state: a verification-* stream whose newest code
// expired more than a day ago is deleted (the day keeps "expired" answers
// meaningful for late checks; afterwards the answer is "not found").
import type { Pool, RowDataPacket } from 'mysql2/promise';
import {
  WrongExpectedVersionError,
  type EventStore,
  type RecordedEvent,
} from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import { catchUpIndex, isClosingType, openStatusOf, progressTime } from './indexes.ts';
import { messageStream } from '../contracts/index.ts';

export const SWEPT_STALE = 'SWEPT_STALE';
export const VERIFICATION_GRACE_MS = 86_400_000;

export interface SweeperDeps {
  pool: Pool;
  eventStore: EventStore;
  logger: Logger;
  deadlineSeconds: number;
}

export interface SweeperOptions {
  now?: Date;
  batchSize?: number;
  signal?: AbortSignal;
  stillHolder?: () => Promise<boolean>;
}

export interface SweeperResult {
  [key: string]: unknown;
  failed: number;
  progressed: number;
  verificationStreamsRemoved: number;
}

/** The open state of a message stream at its end, or undefined if it has an outcome. */
export function openState(
  events: readonly RecordedEvent[],
): { status: string; since: Date } | undefined {
  let open: { status: string; since: Date } | undefined;
  for (const e of events) {
    const status = openStatusOf(e.type);
    if (status) open = { status, since: progressTime(e) };
    else if (isClosingType(e.type)) open = undefined;
  }
  return open;
}

async function sweepMessages(
  deps: SweeperDeps,
  options: SweeperOptions,
  now: Date,
  result: SweeperResult,
): Promise<void> {
  const deadline = new Date(now.getTime() - deps.deadlineSeconds * 1000);
  const batchSize = options.batchSize ?? 200;
  let lastId = '';
  for (;;) {
    options.signal?.throwIfAborted();
    const [rows] = await deps.pool.query<RowDataPacket[]>(
      `SELECT message_id AS id FROM job_open_messages
        WHERE since < ? AND message_id > ? ORDER BY message_id LIMIT ?`,
      [deadline, lastId, batchSize],
    );
    if (rows.length === 0) return;
    if (options.stillHolder && !(await options.stillHolder())) {
      throw new Error('the job lock was lost; stopping before the next batch');
    }
    for (const row of rows) {
      const id = String(row.id);
      lastId = id;
      const events = await deps.eventStore.readStream(messageStream(id));
      const open = openState(events);
      const last = events[events.length - 1];
      if (!open || !last || open.since >= deadline) {
        result.progressed++;
        // the index catches up with the newer events on its next run
        if (!open || !last)
          await deps.pool.query('DELETE FROM job_open_messages WHERE message_id = ?', [id]);
        continue;
      }
      const seconds = Math.round((now.getTime() - open.since.getTime()) / 1000);
      try {
        await deps.eventStore.append(
          messageStream(id),
          [
            {
              type: 'sms.failed.v1',
              data: {
                messageId: id,
                reason: {
                  code: SWEPT_STALE,
                  message: `no outcome ${seconds} s after the message was ${open.status} (deadline ${deps.deadlineSeconds} s)`,
                  retriable: false,
                },
              },
              metadata: {
                actor: { type: 'system', id: 'jobs:sweeper' },
                causationId: last.eventId,
                correlationId: last.metadata.correlationId,
              },
            },
          ],
          last.streamVersion,
        );
        await deps.pool.query('DELETE FROM job_open_messages WHERE message_id = ?', [id]);
        result.failed++;
      } catch (err) {
        if (!(err instanceof WrongExpectedVersionError)) throw err;
        result.progressed++; // it moved on meanwhile: the next run looks again
      }
    }
    if (rows.length < batchSize) return;
  }
}

function newestExpiry(events: readonly RecordedEvent[]): number | undefined {
  let newest: number | undefined;
  for (const e of events) {
    if (e.type !== 'verification.issued.v1' || typeof e.data.expiresAt !== 'string') continue;
    const t = Date.parse(e.data.expiresAt);
    if (!Number.isNaN(t) && (newest === undefined || t > newest)) newest = t;
  }
  return newest;
}

async function sweepVerifications(
  deps: SweeperDeps,
  options: SweeperOptions,
  now: Date,
  result: SweeperResult,
): Promise<void> {
  const before = new Date(now.getTime() - VERIFICATION_GRACE_MS);
  for (;;) {
    options.signal?.throwIfAborted();
    const [rows] = await deps.pool.query<RowDataPacket[]>(
      'SELECT stream_id AS id FROM job_verification_streams WHERE expires_at < ? ORDER BY expires_at LIMIT ?',
      [before, options.batchSize ?? 200],
    );
    if (rows.length === 0) return;
    for (const row of rows) {
      const streamId = String(row.id);
      // Re-read: a new code may have been issued since the index saw the stream.
      const expiry = newestExpiry(await deps.eventStore.readStream(streamId));
      if (expiry !== undefined && expiry >= before.getTime()) {
        await deps.pool.query(
          'UPDATE job_verification_streams SET expires_at = ? WHERE stream_id = ?',
          [new Date(expiry), streamId],
        );
        continue;
      }
      await deps.eventStore.deleteStream(streamId);
      await deps.pool.query('DELETE FROM job_verification_streams WHERE stream_id = ?', [streamId]);
      result.verificationStreamsRemoved++;
    }
  }
}

export async function runSweeper(
  deps: SweeperDeps,
  options: SweeperOptions = {},
): Promise<SweeperResult> {
  const now = options.now ?? new Date();
  await catchUpIndex(deps.pool, deps.eventStore, { signal: options.signal });
  const result: SweeperResult = { failed: 0, progressed: 0, verificationStreamsRemoved: 0 };
  await sweepMessages(deps, options, now, result);
  await sweepVerifications(deps, options, now, result);
  if (result.failed || result.verificationStreamsRemoved) {
    deps.logger.info('sweeper acted', result);
  }
  return result;
}
