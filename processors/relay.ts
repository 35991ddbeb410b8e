// Relay: a checkpointed subscription over the event store that publishes
// every sms.accepted to Kafka (key = message id, acks = all). The checkpoint
// advances only after the broker acknowledged; a crash in between
// re-publishes, and the dispatcher absorbs the duplicate.
import type { Producer } from 'kafkajs';
import type { RecordedEvent, Subscription } from '../platform/eventStore/index.ts';
import { createProducer, ensureTopics } from '../platform/kafka/index.ts';
import { optionsOf, type ProcessorDeps, type Running } from './deps.ts';
import {
  acquireLeadership,
  ensureProcessorSchema,
  loadCheckpoint,
  saveCheckpoint,
} from './store.ts';

export const RELAY_CHECKPOINT = 'relay.sms-dispatch';

/** What travels on sms.dispatch: only ids (never content or codes). */
export interface DispatchMessage {
  messageId: string;
  /** Why it is (re)published. */
  cause: 'accepted' | 'timer';
  position?: number;
}

export function dispatchRecord(messageId: string, value: DispatchMessage) {
  return { key: messageId, value: JSON.stringify(value) };
}

export async function startRelay(deps: ProcessorDeps): Promise<Running> {
  const options = optionsOf(deps);
  const log = deps.logger.child({ component: 'relay' });
  await ensureProcessorSchema(deps.mysql);
  await ensureTopics(deps.kafka, [
    { topic: options.dispatchTopic, numPartitions: options.dispatchPartitions },
  ]);
  const lock = acquireLeadership(deps.mysql, 'relay');
  let producer: Producer | undefined;
  let subscription: Subscription | undefined;
  let closed = false;

  const started = (async () => {
    if (!(await lock.acquired) || closed) return;
    producer = await createProducer(deps.kafka);
    const after = await loadCheckpoint(deps.mysql, RELAY_CHECKPOINT);
    log.info('relay active', { after });
    subscription = deps.eventStore.subscribe({
      after,
      batchSize: 500,
      types: ['sms.accepted.v1'],
      onEvents: async (events: RecordedEvent[]) => {
        if (!lock.held) throw new Error('relay lost its lock');
        await producer!.send({
          topic: options.dispatchTopic,
          acks: -1,
          messages: events.map((e) => {
            const messageId = String(e.data.messageId);
            return dispatchRecord(messageId, {
              messageId,
              cause: 'accepted',
              position: e.position,
            });
          }),
        });
        await saveCheckpoint(deps.mysql, RELAY_CHECKPOINT, events[events.length - 1]!.position);
      },
      onError: (err) => log.warn('relay batch failed; retrying', { err: String(err) }),
    });
  })().catch((err: unknown) => log.error('relay failed to start', { err: String(err) }));

  return {
    async close() {
      closed = true;
      lock.abandon();
      await started;
      await subscription?.stop();
      await producer?.disconnect();
      await lock.release();
    },
  };
}
