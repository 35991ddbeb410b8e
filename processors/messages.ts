// Message stream access for processors: platform/commandHandling's one handler
// (load, decide, append with the expected version; a conflict reloads and
// decides again), bound to the message aggregate.
import {
  messageDecider,
  messageStream,
  type MessageCommand,
  type MessageEvent,
  type MessageState,
} from '../domain/messages/index.ts';
import { commandHandler, type Meta } from '../platform/commandHandling/index.ts';
import { aggregateStream, type Aggregated, type EventStore } from '../platform/eventStore/index.ts';

export type LoadedMessage = Aggregated<MessageState, MessageEvent>;

export async function loadMessage(store: EventStore, messageId: string): Promise<LoadedMessage> {
  return aggregateStream(store, messageDecider, messageStream(messageId));
}

export interface DecideResult {
  appended: MessageEvent[];
  state: MessageState;
}

const handleMessage = commandHandler(messageDecider, messageStream);

/**
 * Decide one command on the current stream and append the outcome. A
 * concurrent writer makes it reload and decide again (bounded); decided
 * nothing (a late or duplicate outcome), or a message that does not exist,
 * appends nothing.
 */
export async function decideAndAppend(
  store: EventStore,
  messageId: string,
  command: MessageCommand | ((state: MessageState) => MessageCommand | undefined),
  metadata: Meta,
  loaded?: LoadedMessage,
): Promise<DecideResult> {
  const { events, state } = await handleMessage(
    store,
    messageId,
    (current: MessageState) => {
      if (!current.exists) return undefined;
      return typeof command === 'function' ? command(current) : command;
    },
    metadata,
    { loaded },
  );
  return { appended: events, state };
}
