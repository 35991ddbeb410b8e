// MySQL/MariaDB event store.
//
// Ordering: every append transaction first locks the single row of
// `es_position` and takes its positions from it, so positions are handed out
// in commit order and a transaction can only commit after every transaction
// holding smaller positions has. A reader that sees position N therefore sees
// every committed event below N: subscribers never skip an event, even with
// appenders in several processes (auto-increment ids would not give that).
//
// Throughput: appends queue in-process and one flusher writes each queued
// batch in a single transaction (group commit), so the global lock is taken
// once per batch, not once per append.
import { EventEmitter } from 'node:events';
import type { Pool, PoolConnection, RowDataPacket, ResultSetHeader } from 'mysql2/promise';
import { WrongExpectedVersionError } from './errors.ts';
import { validateEvent } from './validation.ts';
import { upcast } from './upcasting.ts';
import { completeMetadata } from './metadata.ts';
import { pollingSubscription } from './subscription.ts';
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

export interface MysqlEventStoreOptions {
  /** Most appends written in one transaction. */
  maxBatch?: number;
  /** How often subscribers look for events appended by other processes. */
  pollIntervalMs?: number;
}

interface PendingAppend {
  streamId: string;
  expected: ExpectedVersion;
  rows: { eventId: string; type: string; data: string; metadata: string; recordedAt: Date }[];
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

interface EventRow extends RowDataPacket {
  position: number | string;
  stream_id: string;
  stream_version: number;
  event_id: string;
  type: string;
  data: string | Record<string, unknown>;
  metadata: string | EventMetadata;
  recorded_at: Date;
}

export const mysqlEventStoreSchema = [
  `CREATE TABLE IF NOT EXISTS es_events (
    position BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    stream_id VARCHAR(255) NOT NULL,
    stream_version INT UNSIGNED NOT NULL,
    event_id CHAR(36) NOT NULL,
    type VARCHAR(128) NOT NULL,
    data LONGTEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_es_events_event_id (event_id),
    UNIQUE KEY uq_es_events_stream (stream_id, stream_version),
    KEY ix_es_events_type (type, position)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS es_position (
    id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    position BIGINT UNSIGNED NOT NULL
  ) ENGINE=InnoDB`,
  `INSERT IGNORE INTO es_position (id, position) VALUES (1, 0)`,
];

function parseJson<T>(value: string | T): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}

function toRecorded(row: EventRow): RecordedEvent {
  return upcast({
    eventId: row.event_id,
    type: row.type,
    data: parseJson<Record<string, unknown>>(row.data),
    metadata: parseJson<EventMetadata>(row.metadata),
    streamId: row.stream_id,
    streamVersion: Number(row.stream_version),
    position: Number(row.position),
    recordedAt: row.recorded_at,
  });
}

function versionMatches(expected: ExpectedVersion, current: number | undefined): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return current === undefined;
  if (expected === 'stream_exists') return current !== undefined;
  return current === expected;
}

const SELECT_EVENTS =
  'SELECT position, stream_id, stream_version, event_id, type, data, metadata, recorded_at FROM es_events';

export class MysqlEventStore implements EventStore {
  readonly name = 'mysql';
  private readonly pool: Pool;
  private readonly maxBatch: number;
  private readonly pollIntervalMs: number;
  private readonly queue: PendingAppend[] = [];
  private flushing = false;
  private closed = false;
  private readonly appended = new EventEmitter();
  private readonly subscriptions = new Set<Subscription>();

  private constructor(pool: Pool, options: MysqlEventStoreOptions) {
    this.pool = pool;
    this.maxBatch = options.maxBatch ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.appended.setMaxListeners(0);
  }

  static async create(pool: Pool, options: MysqlEventStoreOptions = {}): Promise<MysqlEventStore> {
    for (const statement of mysqlEventStoreSchema) await pool.query(statement);
    // Stores created before the type index existed get it now.
    const [index] = await pool.query<RowDataPacket[]>(
      `SELECT 1 FROM information_schema.statistics
        WHERE table_schema = DATABASE() AND table_name = 'es_events' AND index_name = 'ix_es_events_type'`,
    );
    if (index.length === 0) {
      await pool.query('ALTER TABLE es_events ADD KEY ix_es_events_type (type, position)');
    }
    return new MysqlEventStore(pool, options);
  }

  async append(
    streamId: string,
    events: NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    if (this.closed) throw new Error('event store is closed');
    if (events.length === 0) throw new Error('append needs at least one event');
    const now = new Date();
    const rows = events.map((event) => {
      validateEvent(event.type, event.data);
      const metadata = completeMetadata(event.metadata);
      return {
        eventId: metadata.eventId,
        type: event.type,
        data: JSON.stringify(event.data),
        metadata: JSON.stringify(metadata),
        recordedAt: now,
      };
    });
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ streamId, expected, rows, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.writeBatch(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Writes a batch in one transaction; a failing batch is retried one append at a time. */
  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    try {
      const outcomes = await this.transact(batch);
      let last = 0;
      batch.forEach((pending, i) => {
        const outcome = outcomes[i]!;
        if (outcome instanceof Error) pending.reject(outcome);
        else {
          pending.resolve(outcome);
          last = Math.max(last, outcome.position);
        }
      });
      if (last > 0) this.appended.emit('appended', last);
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      for (const pending of batch) await this.writeBatch([pending]);
    }
  }

  private async transact(batch: PendingAppend[]): Promise<(AppendResult | Error)[]> {
    const conn: PoolConnection = await this.pool.getConnection();
    try {
      // READ COMMITTED: the version read below must see what committed before we took the lock.
      await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await conn.beginTransaction();
      const [positionRows] = await conn.query<RowDataPacket[]>(
        'SELECT position FROM es_position WHERE id = 1 FOR UPDATE',
      );
      let position = Number(positionRows[0]?.position ?? 0);

      const streamIds = [...new Set(batch.map((p) => p.streamId))];
      const [versionRows] = await conn.query<RowDataPacket[]>(
        'SELECT stream_id, MAX(stream_version) AS version FROM es_events WHERE stream_id IN (?) GROUP BY stream_id',
        [streamIds],
      );
      const versions = new Map<string, number>();
      for (const row of versionRows) versions.set(String(row.stream_id), Number(row.version));

      const outcomes: (AppendResult | Error)[] = [];
      const values: unknown[][] = [];
      for (const pending of batch) {
        const current = versions.get(pending.streamId);
        if (!versionMatches(pending.expected, current)) {
          outcomes.push(
            new WrongExpectedVersionError(
              pending.streamId,
              pending.expected,
              current ?? 'no_stream',
            ),
          );
          continue;
        }
        let version = current ?? -1;
        for (const row of pending.rows) {
          version += 1;
          position += 1;
          values.push([
            position,
            pending.streamId,
            version,
            row.eventId,
            row.type,
            row.data,
            row.metadata,
            row.recordedAt,
          ]);
        }
        versions.set(pending.streamId, version);
        outcomes.push({ nextExpectedVersion: version, position });
      }

      if (values.length > 0) {
        await conn.query<ResultSetHeader>(
          'INSERT INTO es_events (position, stream_id, stream_version, event_id, type, data, metadata, recorded_at) VALUES ?',
          [values],
        );
        await conn.query('UPDATE es_position SET position = ? WHERE id = 1', [position]);
      }
      await conn.commit();
      return outcomes;
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const [rows] = await this.pool.query<EventRow[]>(
      `${SELECT_EVENTS} WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version LIMIT ?`,
      [streamId, options.fromVersion ?? 0, options.limit ?? 100_000],
    );
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const [rows] = await this.pool.query<EventRow[]>(
      `${SELECT_EVENTS} WHERE position > ? ORDER BY position LIMIT ?`,
      [options.after ?? 0, options.limit ?? 1000],
    );
    return rows.map(toRecorded);
  }

  /**
   * Events of the given types after `after`. Reads the head first: every
   * position up to it is committed (positions commit in order), so when the
   * page is not full the caller may move its checkpoint to the head.
   */
  async readTypes(
    after: number,
    limit: number,
    types: readonly string[],
  ): Promise<{ events: RecordedEvent[]; scannedTo: number }> {
    const head = await this.headPosition();
    if (head <= after) return { events: [], scannedTo: after };
    const [rows] = await this.pool.query<EventRow[]>(
      `${SELECT_EVENTS} WHERE position > ? AND position <= ? AND type IN (?) ORDER BY position LIMIT ?`,
      [after, head, types, limit],
    );
    const events = rows.map(toRecorded);
    const scannedTo = events.length >= limit ? events[events.length - 1]!.position : head;
    return { events, scannedTo };
  }

  async headPosition(): Promise<number> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      'SELECT position FROM es_position WHERE id = 1',
    );
    return Number(rows[0]?.position ?? 0);
  }

  subscribe(options: SubscribeOptions): Subscription {
    const subscription = pollingSubscription({
      ...options,
      read: (after, limit) => this.readAll({ after, limit }),
      readTypes: (after, limit, types) => this.readTypes(after, limit, types),
      pollIntervalMs: this.pollIntervalMs,
      notifier: this.appended,
    });
    this.subscriptions.add(subscription);
    return subscription;
  }

  async deleteStream(streamId: string): Promise<void> {
    await this.pool.query('DELETE FROM es_events WHERE stream_id = ?', [streamId]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
