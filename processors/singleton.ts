// What the relay, the timers and the receipts processor have in common: one
// active instance across processes (a MySQL lock), a checkpointed event-store
// subscription whose checkpoint is saved after each handled batch, and an
// optional loop beside it, all stopped in order on close().
//
// Leadership is a loop, not a one-off: when the lock is lost (its connection
// failed, e.g. MariaDB restarted), the subscription and the loop stop, and
// the lock is taken again with backoff; the work resumes from the saved
// checkpoint. One line is logged when MySQL is lost and one when it is back.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent, Subscription } from '../platform/eventStore/index.ts';
import { backoffMs, outage } from '../platform/health/index.ts';
import type { ProcessorDeps, Running } from './deps.ts';
import { readCheckpoint, saveCheckpoint } from '../platform/checkpoints/index.ts';
import { ensureProcessorSchema, tryLeadership } from './store.ts';

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
  const mysqlOutage = outage(log, work.name, 'mysql');
  const startOutage = outage(log, work.name, 'a dependency it starts with');
  const batchOutage = outage(log, work.name, 'a dependency of its batches');
  let subscription: Subscription | undefined;
  let position: number | undefined;
  let closed = false;
  let wakeClosed: () => void = () => undefined;
  const closing = new Promise<void>((resolve) => (wakeClosed = resolve));
  const part = deps.pipeline?.register(work.name, 'processor', {
    position: () => subscription?.position ?? position ?? 0,
  });

  /** One term as leader: until the lock is lost or close() is called. */
  async function lead(lock: NonNullable<Awaited<ReturnType<typeof tryLeadership>>>) {
    let loop: Promise<void> = Promise.resolve();
    try {
      await work.activate?.();
      startOutage.ok();
      const after = await readCheckpoint(deps.mysql, work.checkpoint);
      position = after;
      log.info(`${work.name} active`, { after });
      part?.setActive(true);
      part?.ok();
      subscription = deps.eventStore.subscribe({
        after,
        batchSize: 500,
        types: work.types,
        onEvents: async (events) => {
          if (!lock.held) throw new Error(`${work.name} lost its lock`);
          await work.handle(events);
          await saveCheckpoint(deps.mysql, work.checkpoint, events[events.length - 1]!.position);
          batchOutage.ok();
          part?.ok();
        },
        onError: (err) => {
          if (!lock.held) return;
          batchOutage.failed(err);
          part?.failed(err);
        },
        onRecovered: () => {
          batchOutage.ok();
          part?.ok();
        },
      });
      if (work.background) {
        const ended = Promise.race([lock.lost, closing]).then(() => undefined);
        loop = work.background(() => closed || !lock.held, ended);
      }
      const reason = await Promise.race([lock.lost, closing.then(() => undefined)]);
      // logged once, as the start of an outage; the next lock taken ends it
      if (reason !== undefined && !closed) mysqlOutage.failed(new Error(reason));
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
      await lock.release();
    }
  }

  const main = (async () => {
    let failures = 0;
    while (!closed) {
      let lock: Awaited<ReturnType<typeof tryLeadership>>;
      try {
        await ensureProcessorSchema(deps.mysql);
        lock = await tryLeadership(deps.mysql, work.name);
        mysqlOutage.ok();
      } catch (err) {
        if (closed) break;
        mysqlOutage.failed(err);
        part?.failed(err);
        await Promise.race([sleep(backoffMs(failures++)), closing]);
        continue;
      }
      if (!lock) {
        failures = 0;
        await Promise.race([sleep(STANDBY_RETRY_MS), closing]);
        continue;
      }
      if (closed) {
        await lock.release();
        break;
      }
      try {
        await lead(lock);
        failures = 0;
      } catch (err) {
        if (closed) break;
        startOutage.failed(err);
        part?.failed(err);
        await Promise.race([sleep(backoffMs(failures++)), closing]);
      }
    }
  })();

  return {
    async close() {
      closed = true;
      wakeClosed();
      await main;
      part?.close();
    },
  };
}
