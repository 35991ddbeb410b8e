import type { RecordedEvent } from './types.ts';

// The one place where old event versions become current ones, on read.
// Stored events are never rewritten: when `x.v1` gains a successor `x.v2`,
// add `'x.v1': (e) => ({ ...e, type: 'x.v2', data: {...} })` here.
type Upcaster = (event: RecordedEvent) => RecordedEvent;

const upcasters: Record<string, Upcaster> = {};

export function upcast(event: RecordedEvent): RecordedEvent {
  let current = event;
  for (let step = 0; step < 10; step += 1) {
    const next = upcasters[current.type];
    if (!next) return current;
    current = next(current);
  }
  return current;
}
