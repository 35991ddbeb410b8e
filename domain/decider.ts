// A decider is three plain functions over one aggregate instance (one stream).
// Events are `{ type, data }` with the versioned type strings of schemas/events.ts.

export type Event<Type extends string = string, Data = Record<string, unknown>> = {
  type: Type;
  data: Data;
};

export type Command<Type extends string = string, Data = Record<string, unknown>> = {
  type: Type;
  data: Data;
};

export type Decider<C, S, E extends Event> = {
  decide: (command: C, state: S) => E[];
  evolve: (state: S, event: E) => S;
  initialState: () => S;
};

// Folds a stream's events into the aggregate's current state.
export function aggregate<C, S, E extends Event>(
  decider: Decider<C, S, E>,
  events: readonly E[],
): S {
  return events.reduce<S>((state, event) => decider.evolve(state, event), decider.initialState());
}
