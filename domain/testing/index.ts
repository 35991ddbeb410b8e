// given/when/then for deciders:
//   given(decider, pastEvents).when(command).then(expectedEvents)
//   given(decider, pastEvents).when(command).thenThrows('CODE', { field: 'x' })
// Kept free of node:assert so domain/ stays free of Node built-ins.
import { aggregate, type Decider, type Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { deepEqual } from '../checks/index.ts';

export class DeciderSpecificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeciderSpecificationError';
  }
}

function show(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? String(value);
}

export type Then<E extends Event> = {
  then: (expected: readonly E[]) => void;
  thenNothing: () => void;
  thenThrows: (code: string, details?: Record<string, unknown>) => DomainError;
};

export function given<C, S, E extends Event>(
  decider: Decider<C, S, E>,
  events: readonly E[] = [],
): { when: (command: C) => Then<E> } {
  return {
    when(command: C): Then<E> {
      const run = (): E[] => decider.decide(command, aggregate(decider, events));
      const then = (expected: readonly E[]): void => {
        const actual = run();
        if (!deepEqual(actual, expected)) {
          throw new DeciderSpecificationError(
            `Expected events:\n${show(expected)}\nbut decide returned:\n${show(actual)}`,
          );
        }
        // Applying the new events must not throw either.
        actual.reduce((s, e) => decider.evolve(s, e), aggregate(decider, events));
      };
      return {
        then,
        thenNothing: () => then([]),
        thenThrows(code: string, details?: Record<string, unknown>): DomainError {
          let actual: E[];
          try {
            actual = run();
          } catch (error) {
            if (!(error instanceof DomainError)) {
              throw new DeciderSpecificationError(
                `Expected DomainError ${code} but got ${String(error)}`,
              );
            }
            if (error.code !== code) {
              throw new DeciderSpecificationError(
                `Expected DomainError ${code} but got ${error.code}: ${error.message}`,
              );
            }
            for (const [key, value] of Object.entries(details ?? {})) {
              if (!deepEqual(error.details?.[key], value)) {
                throw new DeciderSpecificationError(
                  `Expected details.${key} = ${show(value)} but got ${show(error.details?.[key])}`,
                );
              }
            }
            return error;
          }
          throw new DeciderSpecificationError(
            `Expected DomainError ${code} but decide returned:\n${show(actual)}`,
          );
        },
      };
    },
  };
}
