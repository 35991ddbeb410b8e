// Reading a library object's internal fields (for a log line, or where a
// driver keeps what its public API does not give back): walked at run time,
// so that a driver that moved a field answers undefined instead of a value
// of the wrong shape under a type it does not have.

/** The value at `path` inside `value`, or undefined where the path is not there. */
export function internalField(value: unknown, ...path: string[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = Reflect.get(at, key) as unknown;
  }
  return at;
}
