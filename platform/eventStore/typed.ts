// The event store read as the deciders' own event types. The port itself deals in
// `Record<string, unknown>` (an adapter does not know the domain); these helpers are the
// one place that gives a stream's events the type of the decider that owns the stream:
// every event was validated against its JSON Schema (schemas/events.ts) on append,
// upcasting.ts lifts older versions to the current ones on read, and
// tests/eventStore/eventTypes.unit.spec.ts holds each decider's event type to those
// schemas, so the data has the shape the type says.
import { aggregate, type Decider, type Event } from '../../domain/index.ts';
import type { EventStore, ExpectedVersion, ReadStreamOptions, RecordedEvent } from './types.ts';

/** A recorded event whose `type` and `data` are one member of the event union E. */
export type Recorded<E extends Event> = Omit<RecordedEvent, 'type' | 'data'> & E;

/** One stream's events, typed as the events of the decider that owns the stream. */
export async function readStream<E extends Event>(
  store: Pick<EventStore, 'readStream'>,
  streamId: string,
  options?: ReadStreamOptions,
): Promise<Recorded<E>[]> {
  return (await store.readStream(streamId, options)) as Recorded<E>[];
}

/**
 * An event read through the port (a subscription, readAll) as a member of the event
 * union E, for a reader that only looks at E's types (its `types` filter, or its
 * streams). The same guarantee as readStream: validated on append, upcast on read.
 */
export function recorded<E extends Event>(event: RecordedEvent): Recorded<E> {
  return event as Recorded<E>;
}

export interface Aggregated<S, E extends Event> {
  state: S;
  events: Recorded<E>[];
  /** Revision of the last event, or -1 when the stream is empty. */
  version: number;
  /** The expected version of the next append: the revision, or 'no_stream'. */
  expected: ExpectedVersion;
}

/** Reads a stream and folds it into the decider's state. */
export async function aggregateStream<C, S, E extends Event>(
  store: Pick<EventStore, 'readStream'>,
  decider: Decider<C, S, E>,
  streamId: string,
): Promise<Aggregated<S, E>> {
  const events = await readStream<E>(store, streamId);
  const state = aggregate(decider, events);
  const version = events.at(-1)?.streamVersion ?? -1;
  return { state, events, version, expected: version < 0 ? 'no_stream' : version };
}

/** Several streams' events, typed as the events of the decider that owns them (see readStreams). */
export async function readStreams<E extends Event>(
  store: Pick<EventStore, 'readStreams'>,
  streamIds: readonly string[],
  options?: ReadStreamOptions,
): Promise<Map<string, Recorded<E>[]>> {
  return (await store.readStreams(streamIds, options)) as Map<string, Recorded<E>[]>;
}
