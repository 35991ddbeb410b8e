// The event store port. Every adapter (MySQL, KurrentDB) passes the same
// contract suite in tests/eventStore/contract.ts.

/** Revision of the last event in a stream (0 for the first), or a condition. */
export type ExpectedVersion = 'no_stream' | 'stream_exists' | 'any' | number;

export interface Actor {
  type: 'user' | 'apiKey' | 'system' | 'supplier';
  id: string;
}

export interface EventMetadata {
  eventId: string;
  correlationId: string;
  causationId: string | null;
  actor: Actor;
  requestId: string | null;
  timestamp: string;
}

export interface NewEvent<T extends object = object> {
  type: string;
  data: T;
  /** eventId and timestamp are filled in when left out; correlation defaults to the event id. */
  metadata?: Partial<EventMetadata>;
}

export interface RecordedEvent<T = Record<string, unknown>> {
  eventId: string;
  type: string;
  data: T;
  metadata: EventMetadata;
  streamId: string;
  /** 0-based revision within the stream. */
  streamVersion: number;
  /** Global, gap-free in the MySQL adapter, strictly increasing in commit order. */
  position: number;
  recordedAt: Date;
}

export interface AppendResult {
  /** Revision of the last appended event: the expected version for the next append. */
  nextExpectedVersion: number;
  /** Global position of the last appended event. */
  position: number;
}

export interface ReadStreamOptions {
  fromVersion?: number;
  limit?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events with a position greater than this. 0 means from the start. */
  after?: number;
  limit?: number;
}

export interface SubscribeOptions {
  /** Checkpoint: deliver events with position greater than this. */
  after: number;
  batchSize?: number;
  /** Called with consecutive batches in global order; the next batch waits for this to resolve. */
  onEvents: (events: RecordedEvent[]) => Promise<void>;
  /** Called on every failed read or batch (the batch is retried after a pause). */
  onError?: (err: unknown) => void;
  /** Called once on the first read or batch that succeeds after failures. */
  onRecovered?: () => void;
  /** Only these event types are delivered (positions still advance past others). */
  types?: readonly string[];
}

export interface Subscription {
  /** Position of the last event handled. */
  readonly position: number;
  stop(): Promise<void>;
  /** Resolves once the subscription has handled everything up to `position`. */
  waitFor(position: number, timeoutMs: number): Promise<boolean>;
}

export interface EventStore {
  readonly name: string;
  append(streamId: string, events: NewEvent[], expected: ExpectedVersion): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Several streams at once (the options apply to each), for a command that
   * checks many streams (a batch send): each id maps to its events, [] when
   * it has none. The MySQL adapter answers in one round trip.
   */
  readStreams(
    streamIds: readonly string[],
    options?: ReadStreamOptions,
  ): Promise<Map<string, RecordedEvent[]>>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribe(options: SubscribeOptions): Subscription;
  /** Position of the newest committed event (0 when empty). */
  headPosition(): Promise<number>;
  /** Removes a stream's events (retention). Reading it afterwards gives nothing. */
  deleteStream(streamId: string): Promise<void>;
  close(): Promise<void>;
}
