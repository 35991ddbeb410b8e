// What the relay, the timers, the receipts, the reviews and the callback
// sender have in common: one active instance across processes (the lock loop
// of platform/singleInstance), a checkpointed event-store subscription whose
// checkpoint is saved after each handled batch, and an optional loop beside
// it, all stopped in order when the term ends or on close().
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
    try {
      await work.activate?.();
      startOutage.ok();
      const after = await readCheckpoint(deps.mysql, work.checkpoint);
      position = after;
      log.info(`${work.name} active`, { after });
      part?.setActive(true);
      part?.ok();
      subscription = subscribeAfter(deps, work, after, lock, {
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

/** The work's subscription after its checkpoint, saving the checkpoint after each handled batch. */
function subscribeAfter(
  deps: ProcessorDeps,
  work: CheckpointedWork,
  after: number,
  lock: Term['lock'],
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
      await saveCheckpoint(deps.mysql, work.checkpoint, events[events.length - 1]!.position);
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
