// Message stream access for processors: load, decide, append with the
// expected version; a conflict reloads and decides again.
import {
  messageDecider,
  messageStream,
  type MessageCommand,
  type MessageEvent,
  type MessageState,
} from '../domain/messages/index.ts';
import {
  aggregateStream,
  WrongExpectedVersionError,
  type EventMetadata,
  type EventStore,
  type RecordedEvent,
} from '../platform/eventStore/index.ts';

export interface LoadedMessage {
  state: MessageState;
  /** Revision of the last event, or -1 when the stream is empty. */
  version: number;
  events: RecordedEvent[];
}

export async function loadMessage(store: EventStore, messageId: string): Promise<LoadedMessage> {
  const { state, version, events } = await aggregateStream(
    store,
    messageDecider,
    messageStream(messageId),
  );
  return { state, version, events };
}

export interface DecideResult {
  appended: MessageEvent[];
  state: MessageState;
}

/**
 * Decide one command on the current stream and append the outcome. A
 * concurrent writer makes it reload and decide again (bounded); decided
 * nothing (a late or duplicate outcome) appends nothing.
 */
export async function decideAndAppend(
  store: EventStore,
  messageId: string,
  command: MessageCommand | ((state: MessageState) => MessageCommand | undefined),
  metadata: Partial<EventMetadata>,
  loaded?: LoadedMessage,
): Promise<DecideResult> {
  let current = loaded;
  for (let round = 0; ; round++) {
    current ??= await loadMessage(store, messageId);
    const cmd = typeof command === 'function' ? command(current.state) : command;
    if (!cmd || !current.state.exists) return { appended: [], state: current.state };
    const events = messageDecider.decide(cmd, current.state);
    if (events.length === 0) return { appended: [], state: current.state };
    try {
      await store.append(
        messageStream(messageId),
        events.map((e) => ({ type: e.type, data: e.data, metadata })),
        current.version < 0 ? 'no_stream' : current.version,
      );
      const state = events.reduce(messageDecider.evolve, current.state);
      return { appended: events, state };
    } catch (err) {
      if (!(err instanceof WrongExpectedVersionError) || round >= 8) throw err;
      current = undefined;
    }
  }
}
