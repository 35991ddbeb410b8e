// KurrentDB / EventStoreDB adapter, for production (docker-compose.yml runs
// the server). Positions on the port are the events' prepare positions in the
// transaction log: unique per event and increasing in log order.
import {
  ANY,
  BACKWARDS,
  END,
  excludeSystemEvents,
  FORWARDS,
  jsonEvent,
  KurrentDBClient,
  NO_STREAM,
  STREAM_EXISTS,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError as KurrentWrongExpectedVersion,
  type AllStreamResolvedEvent,
  type AppendStreamState,
  type ResolvedEvent,
} from '@kurrent/kurrentdb-client';
import { WrongExpectedVersionError } from './errors.ts';
import { completeMetadata } from './metadata.ts';
import { pollingSubscription } from './subscription.ts';
import { upcast } from './upcasting.ts';
import { validateEvent } from './validation.ts';
import type {
  AppendResult,
  EventMetadata,
  EventStore,
  ExpectedVersion,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from './types.ts';

function toStreamState(expected: ExpectedVersion): AppendStreamState {
  if (expected === 'any') return ANY;
  if (expected === 'no_stream') return NO_STREAM;
  if (expected === 'stream_exists') return STREAM_EXISTS;
  return BigInt(expected);
}

function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | undefined {
  const event = resolved.event;
  if (!event || !event.isJson) return undefined;
  return upcast({
    eventId: event.id,
    type: event.type,
    data: event.data as Record<string, unknown>,
    metadata: event.metadata as unknown as EventMetadata,
    streamId: event.streamId,
    streamVersion: Number(event.revision),
    position: Number(event.position?.prepare ?? resolved.commitPosition ?? 0n),
    recordedAt: event.created instanceof Date ? event.created : new Date(Number(event.created)),
  });
}

export class KurrentDbEventStore implements EventStore {
  readonly name = 'kurrentdb';
  private readonly client: KurrentDBClient;
  private readonly subscriptions = new Set<Subscription>();

  constructor(connectionString: string) {
    this.client = KurrentDBClient.connectionString(connectionString);
  }

  async append(
    streamId: string,
    events: NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    const data = events.map((event) => {
      validateEvent(event.type, event.data);
      const metadata = completeMetadata(event.metadata);
      return jsonEvent({
        id: metadata.eventId,
        type: event.type,
        data: event.data,
        metadata: { ...metadata },
      });
    });
    try {
      const result = await this.client.appendToStream(streamId, data, {
        streamState: toStreamState(expected),
      });
      return {
        nextExpectedVersion: Number(result.nextExpectedRevision),
        position: Number(result.position?.prepare ?? 0n),
      };
    } catch (err) {
      if (err instanceof KurrentWrongExpectedVersion) {
        const actual = err.actualState === NO_STREAM ? 'no_stream' : Number(err.actualState);
        throw new WrongExpectedVersionError(streamId, expected, actual);
      }
      throw err;
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(streamId, {
        direction: FORWARDS,
        fromRevision: options.fromVersion ? BigInt(options.fromVersion) : START,
        maxCount: options.limit ?? 100_000,
      })) {
        const event = toRecorded(resolved);
        if (event) out.push(event);
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  async readStreams(
    streamIds: readonly string[],
    options: ReadStreamOptions = {},
  ): Promise<Map<string, RecordedEvent[]>> {
    const ids = [...new Set(streamIds)];
    const read = await Promise.all(ids.map((id) => this.readStream(id, options)));
    return new Map(ids.map((id, i) => [id, read[i]!]));
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    const limit = options.limit ?? 1000;
    const from = after > 0 ? { commit: BigInt(after), prepare: BigInt(after) } : START;
    const out: RecordedEvent[] = [];
    for await (const resolved of this.client.readAll({
      direction: FORWARDS,
      fromPosition: from,
      maxCount: limit + 1,
      filter: excludeSystemEvents(),
    })) {
      const event = toRecorded(resolved);
      if (event && event.position > after) out.push(event);
      if (out.length >= limit) break;
    }
    return out;
  }

  async headPosition(): Promise<number> {
    for await (const resolved of this.client.readAll({
      direction: BACKWARDS,
      fromPosition: END,
      maxCount: 1,
      filter: excludeSystemEvents(),
    })) {
      const event = toRecorded(resolved);
      if (event) return event.position;
    }
    return 0;
  }

  subscribe(options: SubscribeOptions): Subscription {
    const subscription = pollingSubscription({
      ...options,
      read: (after, limit) => this.readAll({ after, limit }),
      pollIntervalMs: 100,
    });
    this.subscriptions.add(subscription);
    return subscription;
  }

  async deleteStream(streamId: string): Promise<void> {
    try {
      await this.client.deleteStream(streamId);
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.client.dispose();
  }
}
