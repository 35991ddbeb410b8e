// Runs a projection live: wait for its instance lock, read its checkpoint,
// subscribe after it, and apply events in batches, one at a time, in order
// (appliedInBatches). A batch goes a window after its first event came, or
// once full; an idle projection keeps no timer (rxjs's bufferTime ticked
// every 20 ms forever, for every projection: most of the idle projectors
// process's wakeups). What comes while a batch applies waits for it and goes
// in the next one: under load, when applying takes longer than the window,
// batches grow instead of queueing one small batch per window (each batch
// costs a transaction, a checkpoint write and a round trip or more per read
// model, whatever its size).
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
import { Observable, Subject, type OperatorFunction } from 'rxjs';
import {
  positionWaiters,
  type RecordedEvent,
  type Subscription,
} from '../platform/eventStore/index.ts';
import {
  backoffMs,
  isOutageError,
  outage,
  type Outage,
  type Part,
} from '../platform/health/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import { getNamedLock, releaseNamedLock, type MysqlLockSession } from '../platform/locks/index.ts';
import {
  runSingleInstance,
  type RunningInstance,
  type Term,
} from '../platform/singleInstance/index.ts';
import { parkEvent } from './deadLetters.ts';
import { applyLock, instanceLock } from './locks.ts';
import {
  liveTarget,
  projectionId,
  type Projection,
  type ProjectorDeps,
  type Target,
} from './types.ts';

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
  return new LiveProjection(projection, deps, options);
}

/** A projection applied live; its state lives across terms, the batch pipeline within one. */
class LiveProjection implements RunningProjection {
  readonly id: string;
  readonly waitFor: RunningProjection['waitFor'];
  private readonly projection: Projection;
  private readonly deps: ProjectorDeps;
  private readonly target: Target;
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly poisonAttempts: number;
  private readonly log: Logger;
  private readonly storeOutage: Outage;
  private readonly waiters: ReturnType<typeof positionWaiters>;
  private readonly part: Part | undefined;
  private readonly running: RunningInstance;
  private closed = false;
  private wakeClosed: () => void = () => undefined;
  private readonly closing = new Promise<void>((resolve) => (this.wakeClosed = resolve));
  private isActive = false;
  private applied = 0;
  private parked = 0;
  private lock: MysqlLockSession | undefined;
  private subscription: Subscription | undefined;
  /** When this term took the apply lock, while it holds it between batches. */
  private applyHeldSince: number | undefined;
  /** The checkpoint written, when, and a position applied but not written yet (0: none). */
  private written = 0;
  private writtenAt = 0;
  private unwritten = 0;
  private trailing: NodeJS.Timeout | undefined;
  private input: Subject<Item> | undefined;
  private enqueued = 0;

  constructor(projection: Projection, deps: ProjectorDeps, options: RunnerOptions) {
    this.projection = projection;
    this.deps = deps;
    this.id = projectionId(projection);
    this.target = liveTarget(projection);
    this.maxBatch = options.maxBatch ?? 1000;
    this.maxWaitMs = options.maxWaitMs ?? projection.batchWindowMs ?? 20;
    this.poisonAttempts = options.poisonAttempts ?? 5;
    this.log = deps.logger.child({ projection: this.id });
    this.storeOutage = outage(this.log, `projection ${this.id}`, `its ${projection.store} store`);
    this.waiters = positionWaiters(() => this.applied);
    this.waitFor = this.waiters.waitFor;
    this.part = deps.pipeline?.register(this.id, 'projection', {
      position: () => this.applied,
      parked: () => this.parked,
    });
    this.running = runSingleInstance({
      mysql: deps.mysql,
      lock: instanceLock(this.id),
      lockWaitSeconds: 0,
      standbyRetryMs: options.standbyRetryMs ?? 2000,
      lockOutage: outage(this.log, `projection ${this.id}`, 'mysql (its instance lock)'),
      termOutage: this.storeOutage,
      part: this.part,
      term: (t) => this.term(t),
    });
  }

  get position(): number {
    return this.applied;
  }

  get active(): boolean {
    return this.isActive;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeClosed();
    await this.running.close();
    this.waiters.cancelAll();
    this.part?.close();
  }

  private ended(): boolean {
    return this.closed || !this.lock?.held;
  }

  private async giveBackApplyLock(held: MysqlLockSession | undefined): Promise<void> {
    if (this.applyHeldSince === undefined) return;
    this.applyHeldSince = undefined;
    if (held?.held) await releaseNamedLock(held.conn, applyLock(this.id)).catch(() => undefined);
  }

  /** Applies under the apply lock (a replay pauses the live projector with it). */
  private async applyOnce(events: RecordedEvent[], upTo: number): Promise<void> {
    const held = this.lock;
    if (!held?.held) throw new TermEnded();
    if (this.applyHeldSince === undefined) {
      if (!(await getNamedLock(held.conn, applyLock(this.id), 30))) {
        throw new Error('apply lock busy');
      }
      this.applyHeldSince = Date.now();
    }
    try {
      await this.projection.apply(this.deps, this.target, events, upTo);
    } catch (err) {
      await this.giveBackApplyLock(held);
      throw err;
    }
    // a replay waiting for it gets it between two batches
    if (Date.now() - this.applyHeldSince >= APPLY_LOCK_HOLD_MS) await this.giveBackApplyLock(held);
  }

  /** Whether the projection's store and MySQL (its checkpoint or locks) answer a ping now. */
  private async storeAnswers(): Promise<boolean> {
    try {
      await this.deps.mysql.query('SELECT 1');
      if (this.projection.store === 'mongo') await this.deps.mongo.db.command({ ping: 1 });
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
  private async applyWithRetries(events: RecordedEvent[], upTo: number): Promise<void> {
    let failures = 0;
    let attempts = 0;
    for (;;) {
      try {
        await this.applyOnce(events, upTo);
        this.storeOutage.ok();
        this.part?.ok();
        return;
      } catch (err) {
        if (this.ended() || err instanceof TermEnded) throw new TermEnded();
        this.part?.failed(err);
        if (isOutageError(err) || !(await this.storeAnswers())) {
          this.storeOutage.failed(err);
        } else {
          attempts++;
          this.log.warn('projection batch failed', {
            err,
            attempt: attempts,
            upTo,
            events: events.length,
          });
          if (attempts >= this.poisonAttempts) throw err;
        }
        await Promise.race([sleep(backoffMs(failures++)), this.closing]);
      }
    }
  }

  /** Moves the position to `to` and tells the waiters. */
  private advance(to: number): void {
    this.applied = Math.max(this.applied, to);
    this.waiters.settle();
  }

  private async applyBatch(items: Item[]): Promise<void> {
    const upTo = Math.max(...items.map((i) => i.position));
    const batch = items.filter((i): i is RecordedEvent => !isProgress(i));
    let concerned = false;
    if (batch.length === 0) {
      if (upTo <= this.written) return; // a trailing write that a batch overtook
    } else {
      concerned = !this.projection.concerns || batch.some((e) => this.projection.concerns!(e));
      if (!concerned && Date.now() - this.writtenAt < CHECKPOINT_EVERY_MS) {
        // nothing of ours in it: move on now, write the checkpoint a little later
        this.advance(upTo);
        this.unwritten = this.applied;
        this.trailing ??= setTimeout(() => {
          this.trailing = undefined;
          if (this.unwritten > this.written) {
            this.input?.next({ progress: true, position: this.unwritten });
          }
        }, CHECKPOINT_EVERY_MS);
        return;
      }
    }
    const events = concerned ? batch : [];
    try {
      await this.applyWithRetries(events, upTo);
    } catch (err) {
      if (err instanceof TermEnded) throw err;
      await this.applyOneByOne(events, upTo);
    }
    this.written = Math.max(this.written, upTo);
    this.writtenAt = Date.now();
    if (this.unwritten <= this.written) this.unwritten = 0;
    this.advance(upTo);
  }

  /** A batch that keeps failing while the stores answer: finds the event(s) at fault and parks them. */
  private async applyOneByOne(events: RecordedEvent[], upTo: number): Promise<void> {
    this.log.warn('projection batch keeps failing; applying its events one at a time', { upTo });
    for (const event of events) {
      if (event.position <= this.applied) continue;
      try {
        await this.applyWithRetries([event], event.position);
      } catch (single) {
        if (single instanceof TermEnded) throw single;
        await parkEvent(this.deps.mysql, this.id, event, single, this.poisonAttempts);
        this.parked++;
        this.log.error('projection parked an event it fails on; moving on', {
          position: event.position,
          eventType: event.type,
          streamId: event.streamId,
          err: single,
        });
        // move the checkpoint past it
        await this.applyWithRetries([], event.position);
      }
      this.advance(event.position);
    }
    await this.applyWithRetries([], upTo);
  }

  private startPipeline(): Promise<void> {
    const subject = new Subject<Item>();
    this.input = subject;
    return new Promise<void>((resolve) => {
      subject
        .pipe(appliedInBatches(this.maxWaitMs, this.maxBatch, (batch) => this.applyBatch(batch)))
        .subscribe({
          error: (err: unknown) => {
            if (!(err instanceof TermEnded)) this.log.error('projection pipeline stopped', { err });
            resolve();
          },
          complete: () => resolve(),
        });
    });
  }

  private async onEvents(events: RecordedEvent[]): Promise<void> {
    const subject = this.input;
    if (!subject || events.length === 0) return;
    if (this.ended()) throw new TermEnded();
    for (const e of events) subject.next(e);
    this.enqueued = events[events.length - 1]!.position;
    // Back-pressure: let at most about two batches wait in the buffer.
    if (this.enqueued - this.applied > 2 * this.maxBatch) {
      while (!this.ended() && this.applied < this.enqueued - this.maxBatch) await sleep(5);
    }
  }

  /** One term as the active instance: until the lock is lost, the pipeline stops or close(). */
  private async term({ lock: held, ended: termEnded }: Term): Promise<string | undefined> {
    this.lock = held;
    let pipelineDone: Promise<void> = Promise.resolve();
    try {
      await this.projection.prepare(this.deps, this.target);
      this.applied = await this.projection.checkpoint(this.deps, this.target);
      this.written = this.applied;
      this.isActive = true;
      this.part?.setActive(true);
      this.part?.ok();
      this.log.info('projection active', { position: this.applied });
      pipelineDone = this.startPipeline();
      this.subscription = this.deps.eventStore.subscribe({
        after: this.applied,
        batchSize: this.maxBatch,
        onEvents: (events) => this.onEvents(events),
        onError: (err) => {
          if (err instanceof TermEnded || this.ended()) return;
          this.storeOutage.failed(err);
          this.part?.failed(err);
        },
        onRecovered: () => this.storeOutage.ok(),
      });
      this.waiters.settle();
      return await Promise.race([
        termEnded.then(() => undefined), // the runner logs a lost lock
        pipelineDone.then(() => 'its pipeline stopped'),
      ]);
    } finally {
      await this.endTerm(held, pipelineDone);
    }
  }

  private async endTerm(held: MysqlLockSession, pipelineDone: Promise<void>): Promise<void> {
    this.isActive = false;
    this.part?.setActive(false);
    const stopping = this.subscription;
    this.subscription = undefined;
    await stopping?.stop();
    if (this.trailing) clearTimeout(this.trailing);
    this.trailing = undefined;
    // what was applied but not written yet goes out with the last buffer
    if (this.unwritten > this.written) {
      this.input?.next({ progress: true, position: this.unwritten });
    }
    this.input?.complete(); // flushes the last buffer through concatMap (or ends at once when the lock is gone)
    this.input = undefined;
    await pipelineDone;
    await this.giveBackApplyLock(held);
    this.unwritten = 0;
    this.writtenAt = 0;
    this.lock = undefined;
  }
}

/**
 * Applies the items in batches of at most `max`, one batch at a time, in
 * order. A batch goes `ms` after its first item came (or once full); items
 * that come while a batch applies wait for it, and those that have waited
 * `ms` by then go at once, together (so the batch size follows the time a
 * batch takes). No timer runs while nothing waits. On completion what is left
 * is applied before the output completes; a failed apply errors the output.
 */
export function appliedInBatches<T>(
  ms: number,
  max: number,
  apply: (batch: T[]) => Promise<void>,
): OperatorFunction<T, never> {
  return (source) =>
    new Observable<never>((subscriber) => {
      let buffer: T[] = [];
      let firstAt = 0; // when buffer[0] came
      let timer: NodeJS.Timeout | undefined;
      let busy = false;
      let completed = false;
      let stopped = false;
      const clear = () => {
        if (timer) clearTimeout(timer);
        timer = undefined;
      };
      const go = () => {
        if (busy || stopped) return;
        if (buffer.length === 0) {
          if (completed) subscriber.complete();
          return;
        }
        const wait = completed || buffer.length >= max ? 0 : firstAt + ms - Date.now();
        if (wait > 0) {
          timer ??= setTimeout(() => {
            timer = undefined;
            go();
          }, wait);
          return;
        }
        clear();
        const batch = buffer.length <= max ? buffer : buffer.slice(0, max);
        buffer = buffer.length <= max ? [] : buffer.slice(max); // the rest has waited too: goes next
        busy = true;
        apply(batch).then(
          () => {
            busy = false;
            go();
          },
          (err: unknown) => {
            stopped = true;
            subscriber.error(err);
          },
        );
      };
      const subscription = source.subscribe({
        next(item) {
          if (buffer.length === 0) firstAt = Date.now();
          buffer.push(item);
          go();
        },
        error(err: unknown) {
          stopped = true;
          clear();
          subscriber.error(err);
        },
        complete() {
          completed = true;
          go();
        },
      });
      return () => {
        stopped = true;
        clear();
        subscription.unsubscribe();
      };
    });
}
