// The one command handler, for the command service and the processors alike:
// 1. aggregate the stream, 2. decide, 3. append with the expected version.
// A version conflict (another writer got there first) re-runs 1–3 on the fresh
// stream, at most CONFLICT_RETRIES times; then the conflict is thrown (409).
import type { Decider, Event } from '../../domain/index.ts';
import {
  aggregateStream,
  WrongExpectedVersionError,
  type Aggregated,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
} from '../eventStore/index.ts';

/** Re-runs of a decision after a version conflict: the one retry policy. */
export const CONFLICT_RETRIES = 8;

export type Meta = Partial<EventMetadata>;

/**
 * What to decide: a command, or a function of the current state giving the
 * command (undefined: nothing to do). The function may throw to refuse.
 */
export type Decision<C, S> = C | ((state: S) => C | undefined);

export interface Handled<S, E extends Event> {
  state: S;
  /** The events appended; empty when the decision was that nothing happens. */
  events: E[];
  /** Revision of the stream after the append (as read when nothing was appended); -1 when empty. */
  version: number;
  /** The expected version for a next append. */
  expected: ExpectedVersion;
  /** Global position of the last appended event; undefined when nothing was appended. */
  position: number | undefined;
}

export interface HandleOptions<S, E extends Event> {
  /** The stream as the caller already read it, used for the first attempt. */
  loaded?: Aggregated<S, E> | undefined;
}

export function toNewEvents(events: readonly Event[], meta: Meta): NewEvent[] {
  return events.map((e) => ({ type: e.type, data: e.data, metadata: meta }));
}

/** Steps 1–3, re-run on a version conflict. */
export async function handleCommand<C, S, E extends Event>(
  store: Pick<EventStore, 'readStream' | 'append'>,
  decider: Decider<C, S, E>,
  streamId: string,
  decision: Decision<C, S>,
  meta: Meta,
  options: HandleOptions<S, E> = {},
): Promise<Handled<S, E>> {
  let loaded = options.loaded;
  for (let attempt = 0; ; attempt += 1) {
    // 1. aggregate
    const { state, version, expected } =
      loaded ?? (await aggregateStream(store, decider, streamId));
    loaded = undefined;
    // 2. decide
    const command =
      typeof decision === 'function' ? (decision as (state: S) => C | undefined)(state) : decision;
    const events = command === undefined ? [] : decider.decide(command, state);
    if (events.length === 0) return { state, events, version, expected, position: undefined };
    // 3. append with the expected version
    try {
      const result = await store.append(streamId, toNewEvents(events, meta), expected);
      return {
        state: events.reduce<S>((s, e) => decider.evolve(s, e), state),
        events,
        version: result.nextExpectedVersion,
        expected: result.nextExpectedVersion,
        position: result.position,
      };
    } catch (err) {
      if (err instanceof WrongExpectedVersionError && attempt < CONFLICT_RETRIES) continue;
      throw err;
    }
  }
}

/** A handler bound once per aggregate: `(store, id, decision, meta)`. */
export type CommandHandler<C, S, E extends Event> = (
  store: Pick<EventStore, 'readStream' | 'append'>,
  id: string,
  decision: Decision<C, S>,
  meta: Meta,
  options?: HandleOptions<S, E>,
) => Promise<Handled<S, E>>;

/** Binds the handler to one aggregate: its decider and how an id names its stream. */
export function commandHandler<C, S, E extends Event>(
  decider: Decider<C, S, E>,
  toStreamId: (id: string) => string,
): CommandHandler<C, S, E> {
  return (store, id, decision, meta, options) =>
    handleCommand(store, decider, toStreamId(id), decision, meta, options);
}
