// Command handling as numbered steps: 1. read the stream, 2. aggregate,
// 3. decide, 4. append with the expected version. On VERSION_CONFLICT the
// decision is re-run on the fresh stream a bounded number of times.
import type { Request } from 'express';
import type { Decider, Event } from '../../domain/index.ts';
import { actorOf, type Principal } from '../../platform/auth/index.ts';
import {
  aggregateStream,
  WrongExpectedVersionError,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
  type RecordedEvent,
} from '../../platform/eventStore/index.ts';

export type Meta = Partial<EventMetadata>;

/** Metadata for events caused by this request: correlation, request id and actor. */
export function metaOf(req: Request, principal?: Principal): Meta {
  return {
    correlationId: req.correlationId,
    requestId: req.requestId,
    ...(principal ? { actor: actorOf(principal) } : {}),
  };
}

export interface Loaded<S> {
  state: S;
  /** Expected version for the next append. */
  expected: ExpectedVersion;
  events: RecordedEvent[];
}

/** Steps 1–2: read a stream and fold it into the decider's state. */
export async function load<C, S, E extends Event>(
  eventStore: EventStore,
  decider: Decider<C, S, E>,
  streamId: string,
): Promise<Loaded<S>> {
  const { state, expected, events } = await aggregateStream(eventStore, decider, streamId);
  return { state, expected, events };
}

export function toNewEvents(events: readonly Event[], meta: Meta): NewEvent[] {
  return events.map((e) => ({ type: e.type, data: e.data, metadata: meta }));
}

export interface Handled<S> {
  state: S;
  events: Event[];
  /** Revision of the stream after the append (or as read when nothing was appended). */
  version: number | 'no_stream';
  /** Global position of the last appended event; undefined when nothing was appended. */
  position: number | undefined;
}

/**
 * Steps 1–4 with up to `retries` re-runs on a version conflict. `decide` is
 * called with the current state and returns the events (or throws).
 */
export async function handle<C, S, E extends Event>(
  eventStore: EventStore,
  decider: Decider<C, S, E>,
  streamId: string,
  decide: (state: S) => E[],
  meta: Meta,
  retries = 3,
): Promise<Handled<S>> {
  for (let attempt = 0; ; attempt += 1) {
    // 1–2. read and aggregate
    const { state, expected } = await load(eventStore, decider, streamId);
    // 3. decide
    const events = decide(state);
    if (events.length === 0)
      return { state, events, version: expected as number | 'no_stream', position: undefined };
    // 4. append with the expected version
    try {
      const result = await eventStore.append(streamId, toNewEvents(events, meta), expected);
      const next = events.reduce<S>((s, e) => decider.evolve(s, e), state);
      return {
        state: next,
        events,
        version: result.nextExpectedVersion,
        position: result.position,
      };
    } catch (err) {
      if (err instanceof WrongExpectedVersionError && attempt < retries) continue;
      throw err;
    }
  }
}
