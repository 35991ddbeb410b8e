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

/** A bounded buffer of tracking events, flushed to the bus while something is in it. */
class KafkaTracker implements Tracker {
  private readonly publisher: Publisher;
  private readonly service: string;
  private readonly options: KafkaTrackerOptions;
  private readonly topic: string;
  private readonly maxBuffered: number;
  private readonly flushMs: number;
  private buffer: TrackingEvent[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private dropped = 0;
  private sent = 0;
  private failingSince: number | undefined;
  private droppedAtFailure = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(publisher: Publisher, service: string, options: KafkaTrackerOptions) {
    this.publisher = publisher;
    this.service = service;
    this.options = options;
    this.topic = options.topic ?? TRACKING_TOPIC;
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.flushMs = options.flushMs ?? 200;
  }

  private async sendBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    try {
      await this.publisher.publish(
        this.topic,
        batch.map((e) => ({ key: e.messageId ?? e.id, value: JSON.stringify(e) })),
      );
      this.sent += batch.length;
      if (this.failingSince !== undefined) {
        this.options.onRecovered?.({
          outageMs: Date.now() - this.failingSince,
          dropped: this.dropped - this.droppedAtFailure,
        });
        this.failingSince = undefined;
      }
    } catch (err) {
      // back in front of what arrived meanwhile, within the bound (the oldest go first)
      this.buffer = batch.concat(this.buffer);
      if (this.buffer.length > this.maxBuffered) {
        this.dropped += this.buffer.length - this.maxBuffered;
        this.buffer = this.buffer.slice(this.buffer.length - this.maxBuffered);
      }
      if (this.failingSince === undefined) {
        this.failingSince = Date.now();
        this.droppedAtFailure = this.dropped;
      }
      this.options.onError?.(err);
    }
  }

  readonly flush = (): Promise<void> => {
    this.inFlight = this.inFlight.then(() => this.sendBuffered());
    return this.inFlight;
  };

  // A flush is scheduled only while something is buffered: an idle service
  // runs no timer at all (idle CPU, bench/system.ts).
  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    // one send at a time: while Kafka is down a send waits for its connect attempt
    void this.flush().then(() => {
      if (this.buffer.length > 0) this.arm();
    });
  }

  private arm(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => this.tick(), this.flushMs);
    this.timer.unref();
  }

  track(event: TrackInput): void {
    this.buffer.push({
      ...event,
      id: event.id ?? randomUUID(),
      at: event.at ?? new Date().toISOString(),
      service: this.service,
    });
    if (this.buffer.length > this.maxBuffered) {
      this.buffer.shift();
      this.dropped++;
    }
    this.arm();
  }

  stats() {
    return { buffered: this.buffer.length, dropped: this.dropped, sent: this.sent };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.failingSince === undefined) await this.flush();
    else if (this.buffer.length > 0)
      this.options.onError?.(new Error(`${this.buffer.length} tracking events not sent at close`));
  }
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
  return new KafkaTracker(publisher, service, options);
}
