// Runs a projection live: wait for its instance lock, read its checkpoint,
// subscribe after it, and apply events in batches. Batches are formed by
// time and count (batchesOf: a window opens at its first event, so an idle
// projection keeps no timer; rxjs's bufferTime ticked every 20 ms forever,
// for every projection: most of the idle projectors process's wakeups), then
// rxjs concatMap applies them one at a time, in order.
//
// Cost per batch: the apply lock (which a replay takes to pause this runner
// before its swap) is kept across batches and given back between two batches
// at least every APPLY_LOCK_HOLD_MS, not taken and released around each one
// (two statements per batch per projection). A batch without an event the
// projection is concerned with (Projection.concerns) only moves the
// checkpoint: the runner moves its position at once and writes the checkpoint
// at most every CHECKPOINT_EVERY_MS (a trailing write follows the last one),
// instead of one transaction per batch for each of the read models that
// ignore sms events.
//
// Failures:
// - a store that does not answer (an outage) makes the batch wait and retry
//   with backoff for as long as it takes; one line is logged when it starts
//   and one when it ends;
// - the instance lock's connection failing (MariaDB restarted) ends this
//   term: the subscription stops and the lock is taken again, resuming from
//   the checkpoint;
// - a batch that keeps failing while the stores answer is split, and the one
//   event that still fails after `poisonAttempts` is parked in the dead-letter
//   table with its error; the projection moves on past it.
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, Subject, concatMap, filter, type OperatorFunction } from 'rxjs';
import {
  positionWaiters,
  type RecordedEvent,
  type Subscription,
} from '../platform/eventStore/index.ts';
import { backoffMs, isOutageError, outage } from '../platform/health/index.ts';
import { getNamedLock, releaseNamedLock, type MysqlLockSession } from '../platform/locks/index.ts';
import { runSingleInstance, type Term } from '../platform/singleInstance/index.ts';
import { parkEvent } from './deadLetters.ts';
import { applyLock, instanceLock } from './locks.ts';
import { liveTarget, projectionId, type Projection, type ProjectorDeps } from './types.ts';

export interface RunnerOptions {
  /** Most events applied in one batch (default 1000). */
  maxBatch?: number;
  /** Longest an event waits for its batch to fill (default 20 ms). */
  maxWaitMs?: number;
  /** How often a standby instance tries to take over (default 2000 ms). */
  standbyRetryMs?: number;
  /** Failures of one event (while its stores answer) before it is parked (default 5). */
  poisonAttempts?: number;
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

/** Longest the live runner keeps the apply lock across batches before giving it back once. */
export const APPLY_LOCK_HOLD_MS = 500;
/** Most often the checkpoint of a batch the projection ignores is written. */
export const CHECKPOINT_EVERY_MS = 250;

/** A checkpoint-only item in the batch pipeline: nothing to apply up to `position`. */
interface Progress {
  progress: true;
  position: number;
}
type Item = RecordedEvent | Progress;
const isProgress = (item: Item): item is Progress => 'progress' in item;

class TermEnded extends Error {
  constructor() {
    super('the instance lock was lost');
    this.name = 'TermEnded';
  }
}

export function runProjection(
  projection: Projection,
  deps: ProjectorDeps,
  options: RunnerOptions = {},
): RunningProjection {
  const id = projectionId(projection);
  const target = liveTarget(projection);
  const maxBatch = options.maxBatch ?? 1000;
  const maxWaitMs = options.maxWaitMs ?? projection.batchWindowMs ?? 20;
  const poisonAttempts = options.poisonAttempts ?? 5;
  const log = deps.logger.child({ projection: id });
  const storeOutage = outage(log, `projection ${id}`, `its ${projection.store} store`);
  let closed = false;
  let wakeClosed: () => void = () => undefined;
  const closing = new Promise<void>((resolve) => (wakeClosed = resolve));
  let active = false;
  let position = 0;
  let parked = 0;
  let lock: MysqlLockSession | undefined;
  let subscription: Subscription | undefined;
  const waiters = positionWaiters(() => position);
  const part = deps.pipeline?.register(id, 'projection', {
    position: () => position,
    parked: () => parked,
  });

  const ended = () => closed || !lock?.held;

  /** When this term took the apply lock, while it holds it between batches. */
  let applyHeldSince: number | undefined;

  async function giveBackApplyLock(held: MysqlLockSession | undefined): Promise<void> {
    if (applyHeldSince === undefined) return;
    applyHeldSince = undefined;
    if (held?.held) await releaseNamedLock(held.conn, applyLock(id)).catch(() => undefined);
  }

  /** Applies under the apply lock (a replay pauses the live projector with it). */
  async function applyOnce(events: RecordedEvent[], upTo: number): Promise<void> {
    const held = lock;
    if (!held?.held) throw new TermEnded();
    if (applyHeldSince === undefined) {
      if (!(await getNamedLock(held.conn, applyLock(id), 30))) throw new Error('apply lock busy');
      applyHeldSince = Date.now();
    }
    try {
      await projection.apply(deps, target, events, upTo);
    } catch (err) {
      await giveBackApplyLock(held);
      throw err;
    }
    // a replay waiting for it gets it between two batches
    if (Date.now() - applyHeldSince >= APPLY_LOCK_HOLD_MS) await giveBackApplyLock(held);
  }

  /** Whether the projection's store and MySQL (its checkpoint or locks) answer a ping now. */
  async function storeAnswers(): Promise<boolean> {
    try {
      await deps.mysql.query('SELECT 1');
      if (projection.store === 'mongo') await deps.mongo.db.command({ ping: 1 });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Retries through outages for as long as they last (an error counts as the
   * event's fault only when the stores answer); gives up (rethrows)
   * after `poisonAttempts` failures that were not outages.
   */
  async function applyWithRetries(events: RecordedEvent[], upTo: number): Promise<void> {
    let failures = 0;
    let attempts = 0;
    for (;;) {
      try {
        await applyOnce(events, upTo);
        storeOutage.ok();
        part?.ok();
        return;
      } catch (err) {
        if (ended() || err instanceof TermEnded) throw new TermEnded();
        part?.failed(err);
        if (isOutageError(err) || !(await storeAnswers())) {
          storeOutage.failed(err);
        } else {
          attempts++;
          log.warn('projection batch failed', {
            err,
            attempt: attempts,
            upTo,
            events: events.length,
          });
          if (attempts >= poisonAttempts) throw err;
        }
        await Promise.race([sleep(backoffMs(failures++)), closing]);
      }
    }
  }

  /** The checkpoint written, when, and a position applied but not written yet (0: none). */
  let written = 0;
  let writtenAt = 0;
  let unwritten = 0;
  let trailing: NodeJS.Timeout | undefined;

  async function applyBatch(items: Item[]): Promise<void> {
    const upTo = Math.max(...items.map((i) => i.position));
    const batch = items.filter((i): i is RecordedEvent => !isProgress(i));
    let concerned = false;
    if (batch.length === 0) {
      if (upTo <= written) return; // a trailing write that a batch overtook
    } else {
      concerned = !projection.concerns || batch.some((e) => projection.concerns!(e));
      if (!concerned && Date.now() - writtenAt < CHECKPOINT_EVERY_MS) {
        // nothing of ours in it: move on now, write the checkpoint a little later
        position = Math.max(position, upTo);
        unwritten = position;
        waiters.settle();
        trailing ??= setTimeout(() => {
          trailing = undefined;
          if (unwritten > written) input?.next({ progress: true, position: unwritten });
        }, CHECKPOINT_EVERY_MS);
        return;
      }
    }
    const events = concerned ? batch : [];
    try {
      await applyWithRetries(events, upTo);
    } catch (err) {
      if (err instanceof TermEnded) throw err;
      // It keeps failing while the stores answer: find the event(s) at fault one by one.
      log.warn('projection batch keeps failing; applying its events one at a time', { upTo });
      for (const event of events) {
        if (event.position <= position) continue;
        try {
          await applyWithRetries([event], event.position);
        } catch (single) {
          if (single instanceof TermEnded) throw single;
          await parkEvent(deps.mysql, id, event, single, poisonAttempts);
          parked++;
          log.error('projection parked an event it fails on; moving on', {
            position: event.position,
            eventType: event.type,
            streamId: event.streamId,
            err: single,
          });
          // move the checkpoint past it
          await applyWithRetries([], event.position);
        }
        position = Math.max(position, event.position);
        waiters.settle();
      }
      await applyWithRetries([], upTo);
    }
    written = Math.max(written, upTo);
    writtenAt = Date.now();
    if (unwritten <= written) unwritten = 0;
    position = Math.max(position, upTo);
    waiters.settle();
  }

  let input: Subject<Item> | undefined;
  let enqueued = 0;

  function startPipeline(): Promise<void> {
    const subject = new Subject<Item>();
    input = subject;
    return new Promise<void>((resolve) => {
      subject
        .pipe(
          batchesOf(maxWaitMs, maxBatch),
          filter((batch) => batch.length > 0),
          concatMap((batch) => applyBatch(batch)),
        )
        .subscribe({
          error: (err: unknown) => {
            if (!(err instanceof TermEnded)) log.error('projection pipeline stopped', { err });
            resolve();
          },
          complete: () => resolve(),
        });
    });
  }

  async function onEvents(events: RecordedEvent[]) {
    const subject = input;
    if (!subject || events.length === 0) return;
    if (ended()) throw new TermEnded();
    for (const e of events) subject.next(e);
    enqueued = events[events.length - 1]!.position;
    // Back-pressure: let at most about two batches wait in the buffer.
    if (enqueued - position > 2 * maxBatch) {
      while (!ended() && position < enqueued - maxBatch) await sleep(5);
    }
  }

  /** One term as the active instance: until the lock is lost, the pipeline stops or close(). */
  async function term({ lock: held, ended: termEnded }: Term): Promise<string | undefined> {
    lock = held;
    let pipelineDone: Promise<void> = Promise.resolve();
    try {
      await projection.prepare(deps, target);
      position = await projection.checkpoint(deps, target);
      written = position;
      active = true;
      part?.setActive(true);
      part?.ok();
      log.info('projection active', { position });
      pipelineDone = startPipeline();
      subscription = deps.eventStore.subscribe({
        after: position,
        batchSize: maxBatch,
        onEvents,
        onError: (err) => {
          if (err instanceof TermEnded || ended()) return;
          storeOutage.failed(err);
          part?.failed(err);
        },
        onRecovered: () => storeOutage.ok(),
      });
      waiters.settle();
      return await Promise.race([
        termEnded.then(() => undefined), // the runner logs a lost lock
        pipelineDone.then(() => 'its pipeline stopped'),
      ]);
    } finally {
      active = false;
      part?.setActive(false);
      const stopping = subscription;
      subscription = undefined;
      await stopping?.stop();
      if (trailing) clearTimeout(trailing);
      trailing = undefined;
      // what was applied but not written yet goes out with the last buffer
      if (unwritten > written) input?.next({ progress: true, position: unwritten });
      input?.complete(); // flushes the last buffer through concatMap (or ends at once when the lock is gone)
      input = undefined;
      await pipelineDone;
      await giveBackApplyLock(held);
      unwritten = 0;
      writtenAt = 0;
      lock = undefined;
    }
  }

  const running = runSingleInstance({
    mysql: deps.mysql,
    lock: instanceLock(id),
    lockWaitSeconds: 0,
    standbyRetryMs: options.standbyRetryMs ?? 2000,
    lockOutage: outage(log, `projection ${id}`, 'mysql (its instance lock)'),
    termOutage: storeOutage,
    part,
    term,
  });

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
      wakeClosed();
      await running.close();
      waiters.cancelAll();
      part?.close();
    },
  };
}

/**
 * Batches of at most `max` items, each emitted `ms` after its first item came
 * (or once full); the rest on completion. Unlike bufferTime no timer runs
 * while nothing comes.
 */
export function batchesOf<T>(ms: number, max: number): OperatorFunction<T, T[]> {
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let buffer: T[] = [];
      let timer: NodeJS.Timeout | undefined;
      const flush = () => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (buffer.length === 0) return;
        const batch = buffer;
        buffer = [];
        subscriber.next(batch);
      };
      const subscription = source.subscribe({
        next(item) {
          buffer.push(item);
          if (buffer.length >= max) flush();
          else timer ??= setTimeout(flush, ms);
        },
        error(err: unknown) {
          if (timer) clearTimeout(timer);
          subscriber.error(err);
        },
        complete() {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        if (timer) clearTimeout(timer);
        subscription.unsubscribe();
      };
    });
}
