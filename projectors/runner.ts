// Runs a projection live: wait for its instance lock, read its checkpoint,
// subscribe after it, and apply events in batches. Batches are formed with
// rxjs (bufferTime by time and count, then concatMap: one batch at a time, in
// order). A failing batch is retried until it succeeds or the runner closes,
// so nothing is ever skipped.
import { Subject, bufferTime, concatMap, filter } from 'rxjs';
import type { PoolConnection } from 'mysql2/promise';
import {
  positionWaiters,
  type RecordedEvent,
  type Subscription,
} from '../platform/eventStore/index.ts';
import { applyLock, getLock, instanceLock, releaseLock } from './locks.ts';
import { liveTarget, projectionId, type Projection, type ProjectorDeps } from './types.ts';

export interface RunnerOptions {
  /** Most events applied in one batch (default 1000). */
  maxBatch?: number;
  /** Longest an event waits for its batch to fill (default 20 ms). */
  maxWaitMs?: number;
  /** How often a standby instance tries to take over (default 2000 ms). */
  standbyRetryMs?: number;
}

export interface RunningProjection {
  readonly id: string;
  /** Position applied and checkpointed. */
  readonly position: number;
  /** True while this process is the active instance. */
  readonly active: boolean;
  waitFor(position: number, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runProjection(
  projection: Projection,
  deps: ProjectorDeps,
  options: RunnerOptions = {},
): RunningProjection {
  const id = projectionId(projection);
  const target = liveTarget(projection);
  const maxBatch = options.maxBatch ?? 1000;
  const maxWaitMs = options.maxWaitMs ?? projection.batchWindowMs ?? 20;
  const log = deps.logger.child({ projection: id });
  let closed = false;
  let active = false;
  let position = 0;
  let lockConn: PoolConnection | undefined;
  let subscription: Subscription | undefined;
  const waiters = positionWaiters(() => position);

  async function applyBatch(batch: RecordedEvent[]): Promise<void> {
    const upTo = batch[batch.length - 1]!.position;
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = lockConn;
        if (!conn) throw new Error('lost the instance lock connection');
        if (!(await getLock(conn, applyLock(id), 30))) throw new Error('apply lock busy');
        try {
          await projection.apply(deps, target, batch, upTo);
        } finally {
          await releaseLock(conn, applyLock(id)).catch(() => undefined);
        }
        position = Math.max(position, upTo);
        waiters.settle();
        return;
      } catch (err) {
        // closing: give up; the checkpoint did not move, so the batch comes again next start
        if (closed) throw err;
        log.error('projection batch failed; retrying', { err, attempt, upTo });
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  let input: Subject<RecordedEvent> | undefined;
  let pipelineDone: Promise<void> = Promise.resolve();
  let enqueued = 0;

  function startPipeline() {
    const subject = new Subject<RecordedEvent>();
    input = subject;
    pipelineDone = new Promise<void>((resolve) => {
      subject
        .pipe(
          bufferTime(maxWaitMs, null, maxBatch),
          filter((batch) => batch.length > 0),
          concatMap((batch) => applyBatch(batch)),
        )
        .subscribe({
          error: (err: unknown) => {
            if (!closed) log.error('projection pipeline stopped', { err });
            resolve();
          },
          complete: () => resolve(),
        });
    });
  }

  async function onEvents(events: RecordedEvent[]) {
    const subject = input;
    if (!subject || events.length === 0) return;
    for (const e of events) subject.next(e);
    enqueued = events[events.length - 1]!.position;
    // Back-pressure: let at most about two batches wait in the buffer.
    if (enqueued - position > 2 * maxBatch) {
      while (!closed && position < enqueued - maxBatch) await sleep(5);
    }
  }

  const main = (async () => {
    while (!closed) {
      try {
        const conn = await deps.mysql.getConnection();
        lockConn = conn;
        if (!(await getLock(conn, instanceLock(id), 0))) {
          lockConn = undefined;
          conn.release();
          await sleep(options.standbyRetryMs ?? 2000);
          continue;
        }
        await projection.prepare(deps, target);
        position = await projection.checkpoint(deps, target);
        active = true;
        log.info('projection active', { position });
        startPipeline();
        subscription = deps.eventStore.subscribe({
          after: position,
          batchSize: maxBatch,
          onEvents,
          onError: (err) => log.error('projection subscription error', { err }),
        });
        waiters.settle();
        return;
      } catch (err) {
        log.error('projection failed to start; retrying', { err });
        lockConn?.release();
        lockConn = undefined;
        await sleep(1000);
      }
    }
  })();

  return {
    id,
    get position() {
      return position;
    },
    get active() {
      return active;
    },
    waitFor: waiters.waitFor,
    async close() {
      closed = true;
      await main;
      await subscription?.stop();
      input?.complete(); // flushes the last buffer through concatMap
      await pipelineDone;
      active = false;
      waiters.cancelAll();
      if (lockConn) {
        await releaseLock(lockConn, instanceLock(id)).catch(() => undefined);
        lockConn.release();
        lockConn = undefined;
      }
    },
  };
}
