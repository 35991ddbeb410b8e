// What the relay, the timers, the receipts, the reviews and the callback
// sender have in common: one active instance across processes (the lock loop
// of platform/singleInstance), a checkpointed event-store subscription, and
// an optional loop beside it, all stopped in order when the term ends or on
// close().
//
// The checkpoint is saved at most once per CHECKPOINT_EVERY_MS while batches
// come (the first batch after a quiet spell at once, the last one of a busy
// spell that much later), and when the term ends. Under load each commit in
// the event store woke every processor for a batch of one or two events, and
// each batch saved its checkpoint: about 60 autocommit statements a second,
// each a synced InnoDB commit, a quarter of MariaDB's commits. A crash
// replays at most that much, as a crash between a batch and its save always
// could: every handler is idempotent (the relay republishes what the
// dispatcher then finds sent, a receipt applied again changes nothing).
//
// When the lock is lost (its connection failed, e.g. MariaDB restarted), the
// subscription and the loop stop, and the lock is taken again with backoff;
// the work resumes from the saved checkpoint. One line is logged when MySQL
// is lost and one when it is back.
import type { RecordedEvent, Subscription } from '../platform/eventStore/index.ts';
import { outage, type Outage, type Part } from '../platform/health/index.ts';
import { runSingleInstance, type Term } from '../platform/singleInstance/index.ts';
import type { ProcessorDeps, Running } from './deps.ts';
import { readCheckpoint, saveCheckpoint } from '../platform/checkpoints/index.ts';
import { ensureProcessorSchema, leadershipLock } from './store.ts';

export interface CheckpointedWork {
  /** Lock name and log component. */
  name: string;
  checkpoint: string;
  types: readonly string[];
  /** Handles one batch in order; the checkpoint moves past it once this resolves. */
  handle(events: RecordedEvent[]): Promise<void>;
  /** Runs each time this process takes the lock, before the subscription starts. */
  activate?(): Promise<void>;
  /**
   * A loop beside the subscription; it must end once `isClosed()` is true,
   * which `ended` announces (closed, or the lock lost) to a loop that sleeps.
   */
  background?(isClosed: () => boolean, ended: Promise<void>): Promise<void>;
  /** Runs after the subscription and the loop have stopped (each time the lock goes). */
  deactivate?(): Promise<void>;
}

/** How often a standby instance tries to take the lock. */
const STANDBY_RETRY_MS = 500;

/** Least time between two saves of a checkpoint while batches come. */
export const CHECKPOINT_EVERY_MS = 1_000;

/** Saves a work's checkpoint at most once per CHECKPOINT_EVERY_MS; flush() saves what is left. */
class CheckpointSaver {
  private savedAt = 0;
  private saved = 0;
  private handled = 0;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  private readonly save: (position: number) => Promise<void>;
  private readonly onLateFailure: (err: unknown) => void;

  constructor(save: (position: number) => Promise<void>, onLateFailure: (err: unknown) => void) {
    this.save = save;
    this.onLateFailure = onLateFailure;
  }

  /** A batch up to `position` is handled: saved now if the last save is old enough, else soon. */
  async handledUpTo(position: number): Promise<void> {
    this.handled = Math.max(this.handled, position);
    if (Date.now() - this.savedAt >= CHECKPOINT_EVERY_MS) {
      await this.saveNow();
      return;
    }
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        this.saveNow().catch(this.onLateFailure);
      },
      CHECKPOINT_EVERY_MS - (Date.now() - this.savedAt),
    );
  }

  /** Saves the last handled position (at the end of a term). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.saveNow();
  }

  private saveNow(): Promise<void> {
    const position = this.handled;
    if (position <= this.saved) return this.saving;
    this.savedAt = Date.now();
    this.saving = this.saving
      .catch(() => undefined)
      .then(() => this.save(position))
      .then(() => {
        this.saved = Math.max(this.saved, position);
      });
    return this.saving;
  }
}

export async function runCheckpointed(
  deps: ProcessorDeps,
  work: CheckpointedWork,
): Promise<Running> {
  const log = deps.logger.child({ component: work.name });
  const startOutage = outage(log, work.name, 'a dependency it starts with');
  const batchOutage = outage(log, work.name, 'a dependency of its batches');
  let subscription: Subscription | undefined;
  let position: number | undefined;
  const part = deps.pipeline?.register(work.name, 'processor', {
    position: () => subscription?.position ?? position ?? 0,
  });

  /** One term as leader: until the lock is lost or close() is called. */
  async function lead({ lock, ended, isEnded }: Term): Promise<undefined> {
    let loop: Promise<void> = Promise.resolve();
    const saver = new CheckpointSaver(
      (at) => saveCheckpoint(deps.mysql, work.checkpoint, at),
      (err) =>
        log.warn(`${work.name}: checkpoint not saved; again with the next batch`, {
          err: String(err),
        }),
    );
    try {
      await work.activate?.();
      startOutage.ok();
      const after = await readCheckpoint(deps.mysql, work.checkpoint);
      position = after;
      log.info(`${work.name} active`, { after });
      part?.setActive(true);
      part?.ok();
      subscription = subscribeAfter(deps, work, after, lock, saver, {
        batch: batchOutage,
        part,
      });
      if (work.background) {
        loop = work.background(
          isEnded,
          ended.then(() => undefined),
        );
      }
      await ended;
    } finally {
      part?.setActive(false);
      const stopping = subscription;
      position = stopping?.position ?? position;
      subscription = undefined;
      await stopping?.stop();
      // what was handled since the last save (a lost lock or MySQL: the next term replays it)
      if (lock.held) {
        await saver
          .flush()
          .catch((err: unknown) =>
            log.warn(`${work.name}: checkpoint not saved at stop`, { err: String(err) }),
          );
      }
      await loop.catch((err: unknown) =>
        log.warn(`${work.name} loop failed`, { err: String(err) }),
      );
      await work.deactivate?.().catch(() => undefined);
    }
    return undefined;
  }

  const running = runSingleInstance({
    mysql: deps.mysql,
    lock: leadershipLock(work.name),
    lockWaitSeconds: 1,
    standbyRetryMs: STANDBY_RETRY_MS,
    lockOutage: outage(log, work.name, 'mysql'),
    termOutage: startOutage,
    part,
    beforeLock: () => ensureProcessorSchema(deps.mysql),
    term: lead,
  });

  return {
    async close() {
      await running.close();
      part?.close();
    },
  };
}

/** The work's subscription after its checkpoint, handing each handled batch's position to the saver. */
function subscribeAfter(
  deps: ProcessorDeps,
  work: CheckpointedWork,
  after: number,
  lock: Term['lock'],
  saver: CheckpointSaver,
  report: { batch: Outage; part: Part | undefined },
): Subscription {
  const { batch, part } = report;
  return deps.eventStore.subscribe({
    after,
    batchSize: 500,
    types: work.types,
    onEvents: async (events) => {
      if (!lock.held) throw new Error(`${work.name} lost its lock`);
      await work.handle(events);
      await saver.handledUpTo(events[events.length - 1]!.position);
      batch.ok();
      part?.ok();
    },
    onError: (err) => {
      if (!lock.held) return;
      batch.failed(err);
      part?.failed(err);
    },
    onRecovered: () => {
      batch.ok();
      part?.ok();
    },
  });
}
