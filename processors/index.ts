// The processors' public face: what the CLI starts.
//   startProcessors(deps) starts them all; each can also run alone.
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import { optionsOf, type ProcessorDeps, type Running } from './deps.ts';
import { startDispatcher } from './dispatcher.ts';
import { DispatchState } from './redisState.ts';
import { startReceipts } from './receipts.ts';
import { startRelay } from './relay.ts';
import { startReviews } from './reviews.ts';
import { startTimers } from './timers.ts';

export {
  defaultProcessorOptions,
  type ProcessorDeps,
  type ProcessorOptions,
  type Running,
} from './deps.ts';
export { startRelay, RELAY_CHECKPOINT, type DispatchMessage } from './relay.ts';
export { startDispatcher, MessageDispatcher } from './dispatcher.ts';
export { startTimers, TIMERS_CHECKPOINT } from './timers.ts';
export { startReviews, Reviewer, REVIEWS_CHECKPOINT } from './reviews.ts';
export { startReceipts, parkedReceiptCount, RECEIPTS_CHECKPOINT } from './receipts.ts';
export { DispatchState } from './redisState.ts';
export { SupplierRegistry } from './registry.ts';
export { processorSchema, ensureProcessorSchema } from './store.ts';
export { startCallbacks, CALLBACKS_CHECKPOINT, type CallbackOptions } from './callbacks/index.ts';

import { watchProcessors } from './metrics.ts';

/** Relay, dispatcher, timers, receipts and reviews in this process; close() stops them all. */
export async function startProcessors(deps: ProcessorDeps): Promise<Running> {
  const running: Running[] = [];
  try {
    running.push(await startRelay(deps));
    running.push(await startTimers(deps));
    running.push(await startReceipts(deps));
    running.push(await startReviews(deps));
    running.push(await startDispatcher(deps));
    running.push(watchProcessors(deps));
  } catch (err) {
    for (const r of running.reverse()) await r.close().catch(() => undefined);
    throw err;
  }
  return {
    async close() {
      // the dispatcher first: it may still append outcomes and schedule timers
      for (const r of [...running].reverse()) await r.close();
    },
  };
}

/**
 * Rebuilds the supplier-message-id and last-message lookups (per number and
 * per extension code) in Redis from sms.accepted and sms.submitted events,
 * after a Redis loss: `streaming replay lookups`. Each key gets what is left of
 * its lifetime, counted from the submission; expired ones are not written.
 * Returns how many submissions were looked at.
 */
export async function rebuildSupplierLookups(
  deps: Pick<ProcessorDeps, 'eventStore' | 'redis' | 'options'>,
  options: { now?: number; onProgress?: (position: number, head: number) => void } = {},
): Promise<number> {
  const state = new DispatchState(deps.redis, optionsOf(deps as ProcessorDeps));
  const now = options.now ?? Date.now();
  const head = await deps.eventStore.headPosition();
  const accepted = new Map<
    string,
    { mobile: string; tenantId: string; extendCode: string | undefined }
  >();
  let after = 0;
  let count = 0;
  while (after < head) {
    const events: RecordedEvent[] = await deps.eventStore.readAll({ after, limit: 1000 });
    if (events.length === 0) break;
    // one connection runs them in the order sent, so the newest last message still wins
    const notes: Promise<void>[] = [];
    for (const e of events) {
      if (e.position > head) break;
      if (e.type === 'sms.accepted.v1') {
        accepted.set(String(e.data.messageId), {
          mobile: String(e.data.mobile),
          tenantId: String(e.data.tenantId),
          extendCode: typeof e.data.extendCode === 'string' ? e.data.extendCode : undefined,
        });
      } else if (e.type === 'sms.submitted.v1') {
        const messageId = String(e.data.messageId);
        const a = accepted.get(messageId);
        accepted.delete(messageId);
        notes.push(
          state.rememberSubmission(
            String(e.data.supplierAccount),
            String(e.data.supplierMessageId),
            messageId,
            a?.mobile ?? '',
            a?.tenantId ?? '',
            a?.extendCode,
            Math.max(0, now - Date.parse(e.metadata.timestamp)),
          ),
        );
        count++;
      }
    }
    await Promise.all(notes);
    after = events[events.length - 1]!.position;
    options.onProgress?.(Math.min(after, head), head);
  }
  return count;
}
