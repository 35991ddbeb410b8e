// Publishing operational tracking events. Fire and forget: tracking never
// fails or slows the request that produced it; events are batched per flush.
import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { TRACKING_TOPIC, type TrackingEvent } from '../../schemas/tracking.ts';

export type { TrackingEvent } from '../../schemas/tracking.ts';
export { trackingEventSchema, TRACKING_TOPIC } from '../../schemas/tracking.ts';
export type TrackInput = Omit<TrackingEvent, 'id' | 'at' | 'service'> &
  Partial<Pick<TrackingEvent, 'id' | 'at'>>;

export interface Tracker {
  track(event: TrackInput): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A tracker that drops everything (tests and tools that publish nothing). */
export const noTracker: Tracker = {
  track: () => undefined,
  flush: async () => undefined,
  close: async () => undefined,
};

export function kafkaTracker(
  producer: Producer,
  service: string,
  options: { flushMs?: number; topic?: string; onError?: (err: unknown) => void } = {},
): Tracker {
  const topic = options.topic ?? TRACKING_TOPIC;
  let buffer: TrackingEvent[] = [];
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async () => {
    if (buffer.length === 0) return inFlight;
    const batch = buffer;
    buffer = [];
    inFlight = inFlight
      .then(() =>
        producer.send({
          topic,
          messages: batch.map((e) => ({ key: e.messageId ?? e.id, value: JSON.stringify(e) })),
        }),
      )
      .then(
        () => undefined,
        (err: unknown) => options.onError?.(err),
      );
    return inFlight;
  };
  const timer = setInterval(() => void flush(), options.flushMs ?? 200);
  timer.unref();
  return {
    track(event) {
      buffer.push({
        ...event,
        id: event.id ?? randomUUID(),
        at: event.at ?? new Date().toISOString(),
        service,
      });
      if (buffer.length >= 500) void flush();
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
