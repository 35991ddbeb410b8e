// Publishing operational tracking events. Fire and forget: tracking never
// fails or slows the request that produced it; events are batched per flush.
// Kafka may be down (at start or later): events wait in a bounded buffer and
// go out once it is back; past the bound the oldest are dropped and counted.
import { randomUUID } from 'node:crypto';
import type { Publisher } from '../bus/index.ts';
import { TRACKING_TOPIC, type TrackingEvent } from '../../schemas/tracking.ts';

export type { TrackingEvent } from '../../schemas/tracking.ts';
export { trackingEventSchema, TRACKING_TOPIC } from '../../schemas/tracking.ts';
export type TrackInput = Omit<TrackingEvent, 'id' | 'at' | 'service'> &
  Partial<Pick<TrackingEvent, 'id' | 'at'>>;

export interface Tracker {
  track(event: TrackInput): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Events waiting to be sent, and those dropped so far because the buffer was full. */
  stats(): { buffered: number; dropped: number; sent: number };
}

/** A tracker that drops everything (tests and tools that publish nothing). */
export const noTracker: Tracker = {
  track: () => undefined,
  flush: async () => undefined,
  close: async () => undefined,
  stats: () => ({ buffered: 0, dropped: 0, sent: 0 }),
};

export interface KafkaTrackerOptions {
  flushMs?: number;
  topic?: string;
  /** Most events kept while Kafka cannot take them (default 10,000). */
  maxBuffered?: number;
  /** Every failed send (the events stay buffered). */
  onError?: (err: unknown) => void;
  /** The first send that works after failures. */
  onRecovered?: (info: { outageMs: number; dropped: number }) => void;
}

/**
 * A tracker over a bus publisher (which connects on its first publish, and
 * again after a failure), so that a service starts and runs while Kafka is down.
 */
export function kafkaTracker(
  publisher: Publisher,
  service: string,
  options: KafkaTrackerOptions = {},
): Tracker {
  const topic = options.topic ?? TRACKING_TOPIC;
  const maxBuffered = options.maxBuffered ?? 10_000;
  let buffer: TrackingEvent[] = [];
  let inFlight: Promise<void> = Promise.resolve();
  let dropped = 0;
  let sent = 0;
  let failingSince: number | undefined;
  let droppedAtFailure = 0;
  let closed = false;

  const sendBuffered = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    try {
      await publisher.publish(
        topic,
        batch.map((e) => ({ key: e.messageId ?? e.id, value: JSON.stringify(e) })),
      );
      sent += batch.length;
      if (failingSince !== undefined) {
        options.onRecovered?.({
          outageMs: Date.now() - failingSince,
          dropped: dropped - droppedAtFailure,
        });
        failingSince = undefined;
      }
    } catch (err) {
      // back in front of what arrived meanwhile, within the bound (the oldest go first)
      buffer = batch.concat(buffer);
      if (buffer.length > maxBuffered) {
        dropped += buffer.length - maxBuffered;
        buffer = buffer.slice(buffer.length - maxBuffered);
      }
      if (failingSince === undefined) {
        failingSince = Date.now();
        droppedAtFailure = dropped;
      }
      options.onError?.(err);
    }
  };

  const flush = () => {
    inFlight = inFlight.then(sendBuffered);
    return inFlight;
  };
  // A flush is scheduled only while something is buffered: an idle service
  // runs no timer at all (idle CPU, bench/system.ts).
  const flushMs = options.flushMs ?? 200;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    timer = undefined;
    if (closed) return;
    // one send at a time: while Kafka is down a send waits for its connect attempt
    void flush().then(() => {
      if (buffer.length > 0) arm();
    });
  };
  const arm = () => {
    if (timer !== undefined || closed) return;
    timer = setTimeout(tick, flushMs);
    timer.unref();
  };
  return {
    track(event) {
      buffer.push({
        ...event,
        id: event.id ?? randomUUID(),
        at: event.at ?? new Date().toISOString(),
        service,
      });
      if (buffer.length > maxBuffered) {
        buffer.shift();
        dropped++;
      }
      arm();
    },
    flush,
    stats: () => ({ buffered: buffer.length, dropped, sent }),
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      if (failingSince === undefined) await flush();
      else if (buffer.length > 0)
        options.onError?.(new Error(`${buffer.length} tracking events not sent at close`));
    },
  };
}
