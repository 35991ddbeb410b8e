// Relay: a checkpointed subscription over the event store that publishes
// every sms.accepted to Kafka (key = message id, acks = all). The checkpoint
// advances only after the broker acknowledged; a crash in between
// re-publishes, and the dispatcher absorbs the duplicate.
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import { createPublisher, type Publisher } from '../platform/bus/index.ts';
import { ensureTopics } from '../platform/kafka/index.ts';
import { optionsOf, type ProcessorDeps, type Running } from './deps.ts';
import { runCheckpointed } from './singleton.ts';

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
  await ensureTopics(deps.kafka, [
    { topic: options.dispatchTopic, numPartitions: options.dispatchPartitions },
  ]);
  let producer: Publisher | undefined;
  return runCheckpointed(deps, {
    name: 'relay',
    checkpoint: RELAY_CHECKPOINT,
    types: ['sms.accepted.v1'],
    activate: async () => {
      producer = createPublisher(deps.config, {
        name: 'relay',
        logger: deps.logger,
        onReplaced: (err) =>
          deps.logger.warn(
            "relay: the broker refused the producer's sequence; sending with a new producer",
            { err: String(err) },
          ),
      });
    },
    // the checkpoint moves only after this resolves, i.e. after the broker acked
    handle: async (events: RecordedEvent[]) => {
      await producer!.publish(
        options.dispatchTopic,
        events.map((e) => {
          const messageId = String(e.data.messageId);
          return dispatchRecord(messageId, { messageId, cause: 'accepted', position: e.position });
        }),
      );
    },
    deactivate: async () => {
      await producer?.close();
    },
  });
}
