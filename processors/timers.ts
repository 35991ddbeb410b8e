// Durable timers: retries (sms.retry-scheduled, dueAt) and reconciliations
// (sms.submission-uncertain) are events; a checkpointed subscription indexes
// their due times in a Redis sorted set (rebuilt from the events after a
// loss: reset the checkpoint), and a poller re-publishes due messages to
// sms.dispatch. A due timer leaves the index only after the broker acked.
import type { Producer } from 'kafkajs';
import type { RecordedEvent, Subscription } from '../platform/eventStore/index.ts';
import { createProducer, ensureTopics } from '../platform/kafka/index.ts';
import { optionsOf, type ProcessorDeps, type Running } from './deps.ts';
import { DispatchState } from './redisState.ts';
import { dispatchRecord } from './relay.ts';
import {
  acquireLeadership,
  ensureProcessorSchema,
  loadCheckpoint,
  saveCheckpoint,
  sleep,
} from './store.ts';

export const TIMERS_CHECKPOINT = 'timers.index';

export async function startTimers(deps: ProcessorDeps): Promise<Running> {
  const options = optionsOf(deps);
  const log = deps.logger.child({ component: 'timers' });
  const state = new DispatchState(deps.redis, options);
  await ensureProcessorSchema(deps.mysql);
  await ensureTopics(deps.kafka, [
    { topic: options.dispatchTopic, numPartitions: options.dispatchPartitions },
  ]);
  const lock = acquireLeadership(deps.mysql, 'timers');
  let producer: Producer | undefined;
  let subscription: Subscription | undefined;
  let closed = false;
  let poller: Promise<void> = Promise.resolve();

  const index = async (events: RecordedEvent[]) => {
    const items = events.map((e) => {
      const messageId = String(e.data.messageId);
      const dueMs =
        e.type === 'sms.retry-scheduled.v1'
          ? Date.parse(String(e.data.dueAt))
          : e.recordedAt.getTime() + options.reconcileDelayMs;
      return { messageId, dueMs };
    });
    await state.scheduleMany(items);
    await saveCheckpoint(deps.mysql, TIMERS_CHECKPOINT, events[events.length - 1]!.position);
  };

  const poll = async () => {
    while (!closed) {
      try {
        const due = await state.peekDue(Date.now(), 500);
        if (due.length > 0) {
          await producer!.send({
            topic: options.dispatchTopic,
            acks: -1,
            messages: due.map((d) =>
              dispatchRecord(d.messageId, { messageId: d.messageId, cause: 'timer' }),
            ),
          });
          await state.ackDue(due);
          if (due.length === 500) continue;
        }
      } catch (err) {
        log.warn('timer poll failed; retrying', { err: String(err) });
        await sleep(1_000);
      }
      await sleep(options.pollMs);
    }
  };

  const started = (async () => {
    if (!(await lock.acquired) || closed) return;
    producer = await createProducer(deps.kafka);
    const after = await loadCheckpoint(deps.mysql, TIMERS_CHECKPOINT);
    log.info('timers active', { after });
    subscription = deps.eventStore.subscribe({
      after,
      batchSize: 500,
      types: ['sms.retry-scheduled.v1', 'sms.submission-uncertain.v1'],
      onEvents: index,
      onError: (err) => log.warn('timer indexing failed; retrying', { err: String(err) }),
    });
    poller = poll();
  })().catch((err: unknown) => log.error('timers failed to start', { err: String(err) }));

  return {
    async close() {
      closed = true;
      lock.abandon();
      await started;
      await subscription?.stop();
      await poller;
      await producer?.disconnect();
      await lock.release();
    },
  };
}
