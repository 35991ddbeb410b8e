// What the relay, the timers and the receipts processor have in common: one
// active instance across processes (a MySQL lock), a checkpointed event-store
// subscription whose checkpoint is saved after each handled batch, and an
// optional loop beside it, all stopped in order on close().
import type { RecordedEvent, Subscription } from '../platform/eventStore/index.ts';
import type { ProcessorDeps, Running } from './deps.ts';
import {
  acquireLeadership,
  ensureProcessorSchema,
  loadCheckpoint,
  saveCheckpoint,
} from './store.ts';

export interface CheckpointedWork {
  /** Lock name and log component. */
  name: string;
  checkpoint: string;
  types: readonly string[];
  /** Handles one batch in order; the checkpoint moves past it once this resolves. */
  handle(events: RecordedEvent[]): Promise<void>;
  /** Runs once this process holds the lock, before the subscription starts. */
  activate?(): Promise<void>;
  /** A loop beside the subscription; it must end once `isClosed()` is true. */
  background?(isClosed: () => boolean): Promise<void>;
  /** Runs after the subscription and the loop have stopped. */
  deactivate?(): Promise<void>;
}

export async function runCheckpointed(
  deps: ProcessorDeps,
  work: CheckpointedWork,
): Promise<Running> {
  const log = deps.logger.child({ component: work.name });
  await ensureProcessorSchema(deps.mysql);
  const lock = acquireLeadership(deps.mysql, work.name);
  let subscription: Subscription | undefined;
  let loop: Promise<void> = Promise.resolve();
  let closed = false;

  const started = (async () => {
    if (!(await lock.acquired) || closed) return;
    await work.activate?.();
    const after = await loadCheckpoint(deps.mysql, work.checkpoint);
    log.info(`${work.name} active`, { after });
    subscription = deps.eventStore.subscribe({
      after,
      batchSize: 500,
      types: work.types,
      onEvents: async (events) => {
        if (!lock.held) throw new Error(`${work.name} lost its lock`);
        await work.handle(events);
        await saveCheckpoint(deps.mysql, work.checkpoint, events[events.length - 1]!.position);
      },
      onError: (err) => log.warn(`${work.name} batch failed; retrying`, { err: String(err) }),
    });
    if (work.background) loop = work.background(() => closed);
  })().catch((err: unknown) => log.error(`${work.name} failed to start`, { err: String(err) }));

  return {
    async close() {
      closed = true;
      lock.abandon();
      await started;
      await subscription?.stop();
      await loop;
      await work.deactivate?.();
      await lock.release();
    },
  };
}
