// Concurrent sends of one tenant read its signature stream once per round
// trip, not once per send: while a read is in flight, later callers wait for
// the next one, which starts when it ends. Each caller still gets a read that
// started after its call, so a change appended before the send arrived is
// always seen (the same rule as the template reads in managingTemplates).
import type { EventStore, RecordedEvent } from '../../platform/eventStore/index.ts';

interface Probe {
  current: Promise<RecordedEvent[]>;
  /** the read that starts when current ends, shared by everyone who arrived meanwhile */
  next: Promise<RecordedEvent[]> | undefined;
}

const probes = new WeakMap<EventStore, Map<string, Probe>>();
const ignore = () => undefined;

/** The whole stream, from a read that started after this call, shared with concurrent callers. */
export function freshStream(eventStore: EventStore, streamId: string): Promise<RecordedEvent[]> {
  let byStream = probes.get(eventStore);
  if (!byStream) {
    byStream = new Map();
    probes.set(eventStore, byStream);
  }
  const map = byStream;
  const start = (): Promise<RecordedEvent[]> => {
    const current = eventStore.readStream(streamId);
    const probe: Probe = { current, next: undefined };
    map.set(streamId, probe);
    current.then(ignore, ignore).then(() => {
      if (map.get(streamId) === probe && probe.next === undefined) map.delete(streamId);
    });
    return current;
  };
  const probe = map.get(streamId);
  if (!probe) return start();
  probe.next ??= probe.current.then(ignore, ignore).then(start);
  return probe.next;
}
