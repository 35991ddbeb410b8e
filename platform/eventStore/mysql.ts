// MySQL/MariaDB event store.
//
// Ordering: every append transaction takes its positions from the single row
// of `es_position` and holds that row's lock until it commits, so positions
// are handed out in commit order and a transaction can only commit after
// every transaction holding smaller positions has. A reader that sees
// position N therefore sees every committed event below N: subscribers never
// skip an event, even with appenders in several processes (auto-increment ids
// would not give that).
//
// Throughput: appends queue in-process and one flusher writes each queued
// batch in a single transaction (group commit), so the global lock is taken
// once per batch, not once per append. That transaction is one round trip:
// stream versions are read before it, and the lock is taken, the rows
// inserted and the transaction committed in one multi-statement packet on a
// connection of the store's own, so the lock is held for the server's work
// only, never while an appending process's busy event loop gets round to the
// next statement (see transact()).
//
// Subscriptions of one process share what they read at the tail: the newest
// events read (up to TAIL_MAX of them, a contiguous range: a read after P
// that returned events up to Q holds every committed event in (P, Q], since
// positions commit in order) are kept, and a subscription after a position
// inside that range is served from memory, without a query or a JSON parse.
// One that is caught up asks MySQL only when nobody in this process asked in
// the last poll interval (the longest idle poll interval once the tail was
// found unchanged), and a read that finds new events wakes the others. The
// nine projections of the projectors process thus read each event once, and
// an idle process polls a few times a second, not a few times per
// subscription.
//
// With wakes (wakes.ts, what openEventStore gives it), a commit tells the
// other processes at once through Redis, and a caught-up process asks MySQL
// only on a wake or every fallbackPollMs: an idle system does not query the
// event store a few times a second per process, and a commit elsewhere is
// seen as soon as without wakes. While the wakes are down it polls as above.
//
// Stream heads: MariaDB answers `MAX(stream_version) … WHERE stream_id IN
// (…) GROUP BY stream_id` by reading every index entry of each stream named
// (no loose index scan on this key), so a stream that only grows (a supplier
// account's receipts inbox, one version per receipt) made each append to it
// cost more than the last: 7.6 ms at 35,000 versions, and MariaDB ran a whole
// core to append 100 receipts a second. The head of a stream seen with
// LONG_STREAM versions or more is read on its own, `MAX(…) WHERE stream_id =
// ?`, which MariaDB answers from the index's last entry (0.1 ms at any
// length); the others stay in the IN list, which costs less per stream for
// the many short message streams of a batch.
import { EventEmitter } from 'node:events';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { WrongExpectedVersionError } from './errors.ts';
import { validateEvent } from './validation.ts';
import { upcast } from './upcasting.ts';
import { completeMetadata } from './metadata.ts';
import { pollingSubscription } from './subscription.ts';
import { MultiStatementConnection } from './multiStatementConnection.ts';
import type { AppendWakes } from './wakes.ts';
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
  /** The longest a caught-up subscription sleeps between polls (default 400 ms). */
  idlePollMaxMs?: number;
  /**
   * Commits of other processes announced through Redis (owned: closed with
   * the store). While they are live, caught-up subscriptions poll only every
   * fallbackPollMs.
   */
  wakes?: AppendWakes;
  /**
   * The slow poll that covers a lost wake (default 15 s). A wake is lost only
   * when a PUBLISH fails while the subscriber's connection stays up (a
   * dropped subscriber connection wakes everything and polls as without
   * wakes until it is back), so this bounds a rare delay; idle, it is each
   * subscription's only timer and each process's only event-store query.
   */
  fallbackPollMs?: number;
}

/** What the append path did since the store was created (counts, for benches and metrics). */
export interface AppendStats {
  /** Appends answered (committed or refused). */
  appends: number;
  /** Write transactions tried (one per group-committed batch, retries included). */
  transactions: number;
  /** Round trips to MySQL made for appends (one per statement or multi-statement packet). */
  roundTrips: number;
  /** Of those, the ones that start while this process holds the position lock or take it. */
  lockRoundTrips: number;
  /** Client-observed ms from sending the statement that takes the position lock to the commit's answer (an upper bound of the hold, waits included). */
  lockMs: number;
  /** Batches written again because a stream's version moved after it was read. */
  retries: number;
}

/** Most events the shared tail keeps. */
const TAIL_MAX = 4_000;
/** Least a tail read asks for, whatever the subscription's batch: others may want the rest. */
const TAIL_READ = 1_000;

/** The newest events read: every committed event in (from, to], in order. */
interface Tail {
  from: number;
  to: number;
  events: RecordedEvent[];
  /** When a read last found nothing after `to` (0: not since it grew). */
  checkedAt: number;
  /** Consecutive reads that found nothing new: the tail is idle. */
  quiet: number;
}

/** Index of the first event after `position` (events in position order). */
function firstAfter(events: readonly RecordedEvent[], position: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.position <= position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

/** A stream seen with this many versions has its head read on its own (see the top). */
export const LONG_STREAM = 64;
/** Most long streams remembered (forgotten all at once beyond: they are learnt again). */
const LONG_STREAMS_MAX = 10_000;

interface PlannedRow {
  streamId: string;
  version: number;
  eventId: string;
  type: string;
  data: string;
  metadata: string;
  recordedAt: Date;
}

/** Per append: refused, or its next expected version and the offset (1-based) of its last row. */
type PlannedOutcome = Error | { nextExpectedVersion: number; offset: number };

/**
 * Checks each append against the stream versions known (absent: no stream)
 * and the appends before it in the batch; the rows to insert, in order.
 */
export function planBatch(
  batch: readonly Pick<PendingAppend, 'streamId' | 'expected' | 'rows'>[],
  known: ReadonlyMap<string, number>,
): { outcomes: PlannedOutcome[]; rows: PlannedRow[] } {
  const versions = new Map(known);
  const outcomes: PlannedOutcome[] = [];
  const rows: PlannedRow[] = [];
  for (const pending of batch) {
    const current = versions.get(pending.streamId);
    if (!versionMatches(pending.expected, current)) {
      outcomes.push(
        new WrongExpectedVersionError(pending.streamId, pending.expected, current ?? 'no_stream'),
      );
      continue;
    }
    let version = current ?? -1;
    for (const row of pending.rows) {
      version += 1;
      rows.push({ streamId: pending.streamId, version, ...row });
    }
    versions.set(pending.streamId, version);
    outcomes.push({ nextExpectedVersion: version, offset: rows.length });
  }
  return { outcomes, rows };
}

/** The appends' results, the batch's last row at position `last`. */
function outcomesAt(
  plan: { outcomes: PlannedOutcome[]; rows: PlannedRow[] },
  last: number,
): (AppendResult | Error)[] {
  const before = last - plan.rows.length;
  return plan.outcomes.map((o) =>
    o instanceof Error
      ? o
      : { nextExpectedVersion: o.nextExpectedVersion, position: before + o.offset },
  );
}

/** The INSERT met a row of the same stream and version: the stream moved since its version was read. */
function isStreamVersionRace(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === 'ER_DUP_ENTRY' && String(e.message).includes('uq_es_events_stream');
}

/** Most stream ids in one readStreams query. */
const READ_STREAMS_MAX = 1_000;

const SELECT_EVENTS =
  'SELECT position, stream_id, stream_version, event_id, type, data, metadata, recorded_at FROM es_events';

export class MysqlEventStore implements EventStore {
  readonly name = 'mysql';
  private readonly pool: Pool;
  /** The connection appends are written on: one transaction at a time, one round trip each. */
  private readonly writer: MultiStatementConnection;
  private readonly maxBatch: number;
  private readonly pollIntervalMs: number;
  private readonly idlePollMaxMs: number;
  private tail: Tail = { from: 0, to: 0, events: [], checkedAt: 0, quiet: 0 };
  private tailRead: { after: number; read: Promise<RecordedEvent[]>; commits: number } | undefined;
  private readonly queue: PendingAppend[] = [];
  private flushing = false;
  /** When the packet that took the position lock was sent (for stats.lockMs). */
  private lockFrom = 0;
  private closed = false;
  private readonly appended = new EventEmitter();
  private readonly subscriptions = new Set<Subscription>();
  /** Streams seen with LONG_STREAM versions or more (their heads are read one by one). */
  private readonly longStreams = new Set<string>();
  private readonly stats: AppendStats = {
    appends: 0,
    transactions: 0,
    roundTrips: 0,
    lockRoundTrips: 0,
    lockMs: 0,
    retries: 0,
  };
  private readonly wakes: AppendWakes | undefined;
  private readonly fallbackPollMs: number;
  private listening = false;
  /**
   * Moves on every commit, here or announced by a wake: a tail read that
   * started before it must not mark the tail as checked.
   */
  private commits = 0;

  private constructor(pool: Pool, options: MysqlEventStoreOptions) {
    this.pool = pool;
    this.writer = new MultiStatementConnection(pool);
    this.maxBatch = options.maxBatch ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.idlePollMaxMs = Math.max(this.pollIntervalMs, options.idlePollMaxMs ?? 400);
    this.wakes = options.wakes;
    this.fallbackPollMs = Math.max(this.idlePollMaxMs, options.fallbackPollMs ?? 15_000);
    this.appended.setMaxListeners(0);
  }

  /** The longest a caught-up subscription sleeps: long while wakes arrive, else the idle poll. */
  private idleMax(): number {
    return this.wakes?.live ? this.fallbackPollMs : this.idlePollMaxMs;
  }

  /** Another process committed up to `position` (Infinity: maybe, after an outage). */
  private woken(position: number): void {
    if (position <= this.tail.to) return; // read already
    this.commits++;
    this.tail.checkedAt = 0;
    this.tail.quiet = 0;
    this.appended.emit('appended', position);
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
    const committed = new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ streamId, expected, rows, resolve, reject });
      if (!this.flushing) void this.flush();
    });
    return committed.then((result) => {
      this.commits++;
      this.wakes?.committed(result.position);
      return result;
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      // appends made in the same turn of the event loop (a batch send's) go
      // into one transaction, not the first alone and the rest after it
      await Promise.resolve();
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
      if (last > 0) {
        this.tail.checkedAt = 0; // there is something new: the next tail read asks MySQL
        this.tail.quiet = 0;
        this.appended.emit('appended', last);
      }
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      for (const pending of batch) await this.writeBatch([pending]);
    }
  }

  /** A copy of the append counters. */
  appendStats(): AppendStats {
    return { ...this.stats };
  }

  /**
   * Writes a batch in one transaction; the outcome of each append.
   *
   * 1. Before the lock: the current version of every stream the batch appends
   *    to with an expected version other than no_stream (a new stream starts
   *    at version 0: if it exists after all, the unique key on (stream,
   *    version) refuses its row). Appends whose expectation fails are refused
   *    here, each alone.
   * 2. One packet: take the position lock (the UPDATE of es_position), insert
   *    every row at the positions that follow it, commit. The lock is held
   *    only while the server runs those statements, not across a round trip.
   *    Positions are still taken under the lock and committed with it, so
   *    they commit in position order.
   * 3. Rarely, a stream moved between 1 and 2 (another process appended to
   *    it, or no_stream met a stream that exists): the INSERT fails on that
   *    key and is rolled back. The batch is then written the way that cannot
   *    race: versions read under the lock (two round trips under it), so the
   *    appends that no longer hold are refused alone and the rest commit.
   */
  private async transact(batch: PendingAppend[]): Promise<(AppendResult | Error)[]> {
    const read = [
      ...new Set(batch.filter((p) => p.expected !== 'no_stream').map((p) => p.streamId)),
    ];
    const plan = planBatch(batch, await this.readVersions(read));
    let last: number;
    try {
      last = plan.rows.length > 0 ? await this.insertOptimistic(plan.rows) : 0;
    } catch (err) {
      if (!isStreamVersionRace(err)) throw err;
      this.stats.retries += 1;
      return this.transactLocked(batch);
    }
    this.stats.appends += batch.length;
    return outcomesAt(plan, last);
  }

  /** The highest version of each stream (absent: no stream); one round trip, outside any lock. */
  private async readVersions(streamIds: string[]): Promise<Map<string, number>> {
    if (streamIds.length === 0) return new Map();
    this.stats.roundTrips += 1;
    const [rows] = await this.pool.query<RowDataPacket[]>(this.versionsQuery(streamIds));
    return this.versionsOf(rows);
  }

  /** The heads of these streams, in one statement: long streams one by one, the others in an IN list. */
  private versionsQuery(streamIds: string[]): string {
    const long = streamIds.filter((id) => this.longStreams.has(id));
    const short = streamIds.filter((id) => !this.longStreams.has(id));
    const parts = long.map((id) =>
      this.pool.format(
        'SELECT ? AS stream_id, MAX(stream_version) AS version FROM es_events WHERE stream_id = ?',
        [id, id],
      ),
    );
    if (short.length > 0) {
      parts.unshift(
        this.pool.format(
          'SELECT stream_id, MAX(stream_version) AS version FROM es_events' +
            ' WHERE stream_id IN (?) GROUP BY stream_id',
          [short],
        ),
      );
    }
    return parts.length === 1 ? parts[0]! : parts.map((q) => `(${q})`).join(' UNION ALL ');
  }

  /** The versions of the rows that versionsQuery returned (no row, or a NULL head: no stream); learns long streams. */
  private versionsOf(rows: RowDataPacket[]): Map<string, number> {
    const versions = new Map<string, number>();
    for (const row of rows) {
      if (row.version === null || row.version === undefined) continue;
      const id = String(row.stream_id);
      const version = Number(row.version);
      versions.set(id, version);
      if (version + 1 >= LONG_STREAM && !this.longStreams.has(id)) {
        if (this.longStreams.size >= LONG_STREAMS_MAX) this.longStreams.clear();
        this.longStreams.add(id);
      }
    }
    return versions;
  }

  /** Takes the position lock, inserts and commits in one round trip; the last position. */
  private async insertOptimistic(rows: PlannedRow[]): Promise<number> {
    const n = rows.length;
    const results = await this.write(
      'START TRANSACTION;' +
        ` UPDATE es_position SET position = LAST_INSERT_ID(position + ${n}) WHERE id = 1;` +
        // LAST_INSERT_ID() is the new head the UPDATE took: row i sits n-1-i below it
        this.insertStatement(rows, (i) => `LAST_INSERT_ID() - ${n - 1 - i}`) +
        ' COMMIT',
    );
    const taken = results[1] as ResultSetHeader | undefined;
    if (taken?.affectedRows !== 1) throw new Error('es_position has no row 1');
    return Number(taken.insertId);
  }

  /** Versions read under the position lock, then insert and commit: two round trips under it. */
  private async transactLocked(batch: PendingAppend[]): Promise<(AppendResult | Error)[]> {
    const streamIds = [...new Set(batch.map((p) => p.streamId))];
    // READ COMMITTED: the versions read must be what committed before the lock was ours
    const results = await this.write(
      'SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION;' +
        ' SELECT position FROM es_position WHERE id = 1 FOR UPDATE;' +
        ` ${this.versionsQuery(streamIds)}`,
      { opens: true },
    );
    let head: number;
    let plan: ReturnType<typeof planBatch>;
    let sql: string;
    try {
      head = Number((results[2] as RowDataPacket[])[0]?.position ?? 0);
      plan = planBatch(batch, this.versionsOf(results[3] as RowDataPacket[]));
      const n = plan.rows.length;
      sql =
        n === 0
          ? 'COMMIT'
          : this.insertStatement(plan.rows, (i) => String(head + 1 + i)) +
            ` UPDATE es_position SET position = ${head + n} WHERE id = 1; COMMIT`;
    } catch (err) {
      await this.writer.query('ROLLBACK').catch(() => this.writer.destroy());
      throw err;
    }
    await this.write(sql, { locked: true });
    const n = plan.rows.length;
    this.stats.appends += batch.length;
    return outcomesAt(plan, head + n);
  }

  /**
   * `INSERT … VALUES …;` of the rows, row i at the position `positionOf(i)`
   * (SQL). Each value is escaped as the pool's format() would, without
   * format()'s scan of the whole statement for seven placeholders a row
   * (about 60 ms of CPU for a batch of 1,000 sends).
   */
  private insertStatement(rows: PlannedRow[], positionOf: (i: number) => string): string {
    const e = (v: unknown) => this.pool.escape(v);
    const tuples = rows.map(
      (row, i) =>
        `(${positionOf(i)}, ${e(row.streamId)}, ${e(row.version)}, ${e(row.eventId)}, ${e(row.type)}, ${e(row.data)}, ${e(row.metadata)}, ${e(row.recordedAt)})`,
    );
    return ` INSERT INTO es_events (position, stream_id, stream_version, event_id, type, data, metadata, recorded_at) VALUES ${tuples.join(', ')};`;
  }

  /**
   * One packet on the writer connection; every packet takes or holds the
   * position lock. `opens`: it leaves the transaction open (the lock held)
   * on success; `locked`: it runs inside such a transaction. A failure rolls
   * the transaction back (and frees the lock) before it is thrown.
   */
  private async write(sql: string, mode: { opens?: boolean; locked?: boolean } = {}) {
    const stats = this.stats;
    if (!mode.locked) stats.transactions += 1;
    stats.roundTrips += 1;
    stats.lockRoundTrips += 1;
    const sent = performance.now();
    if (!mode.locked) this.lockFrom = sent;
    let ok = false;
    try {
      const results = await this.writer.query(sql);
      ok = true;
      return results;
    } catch (err) {
      // a failed statement leaves its transaction open, the lock held: end it now
      stats.roundTrips += 1;
      stats.lockRoundTrips += 1;
      await this.writer.query('ROLLBACK').catch(() => this.writer.destroy());
      throw err;
    } finally {
      if (!(ok && mode.opens)) stats.lockMs += performance.now() - this.lockFrom;
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const [rows] = await this.pool.query<EventRow[]>(
      `${SELECT_EVENTS} WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version LIMIT ?`,
      [streamId, options.fromVersion ?? 0, options.limit ?? 100_000],
    );
    return rows.map(toRecorded);
  }

  async readStreams(
    streamIds: readonly string[],
    options: ReadStreamOptions = {},
  ): Promise<Map<string, RecordedEvent[]>> {
    const out = new Map<string, RecordedEvent[]>();
    const ids = [...new Set(streamIds)];
    for (const id of ids) out.set(id, []);
    if (ids.length === 0) return out;
    const from = options.fromVersion ?? 0;
    // a stream's versions run 0, 1, 2… without gaps, so a limit is a version range
    const below = options.limit === undefined ? 2 ** 32 : from + options.limit;
    for (let i = 0; i < ids.length; i += READ_STREAMS_MAX) {
      const [rows] = await this.pool.query<EventRow[]>(
        `${SELECT_EVENTS} WHERE stream_id IN (?) AND stream_version >= ? AND stream_version < ? ORDER BY stream_id, stream_version`,
        [ids.slice(i, i + READ_STREAMS_MAX), from, below],
      );
      for (const row of rows) out.get(row.stream_id)?.push(toRecorded(row));
    }
    return out;
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

  /** A subscription's read: from the shared tail when it covers `after`, else from MySQL. */
  private async readShared(after: number, limit: number): Promise<RecordedEvent[]> {
    const t = this.tail;
    if (after >= t.from && after < t.to) {
      const i = firstAfter(t.events, after);
      return t.events.slice(i, i + limit);
    }
    if (t.to > 0 && after >= t.to) return (await this.readTail(after)).slice(0, limit);
    // behind what the tail keeps (a catch-up), or nothing kept yet
    const asked = Math.max(limit, TAIL_READ);
    const events = await this.readAll({ after, limit: asked });
    this.remember(after, events, asked);
    return events.slice(0, limit);
  }

  /** At the tail (after ≥ tail.to): one query for the whole process, or none when one just ran. */
  private async readTail(after: number): Promise<RecordedEvent[]> {
    const t = this.tail;
    const freshFor = t.quiet > 2 ? this.idleMax() : this.pollIntervalMs;
    if (after === t.to && t.checkedAt > 0 && Date.now() - t.checkedAt < freshFor) return [];
    const commits = this.commits;
    if (this.tailRead?.after === after && this.tailRead.commits === commits) {
      return this.tailRead.read;
    }
    const read = this.readAll({ after, limit: TAIL_READ });
    this.tailRead = { after, read, commits };
    try {
      const events = await read;
      this.remember(after, events, TAIL_READ);
      // a commit came while it read: the next read asks MySQL again
      if (this.commits !== commits) this.tail.checkedAt = 0;
      return events;
    } finally {
      if (this.tailRead?.read === read) this.tailRead = undefined;
    }
  }

  /** Keeps what a read after `after` returned, when it extends (or restarts) the tail. */
  private remember(after: number, events: RecordedEvent[], asked: number): void {
    const t = this.tail;
    const complete = events.length < asked; // it reached the head as it was then
    if (events.length === 0) {
      if (after === t.to) {
        t.checkedAt = Date.now();
        t.quiet++;
      } else if (after > t.to) {
        this.tail = { from: after, to: after, events: [], checkedAt: Date.now(), quiet: 1 };
      }
      return;
    }
    const last = events[events.length - 1]!.position;
    if (last <= t.to) return; // nothing the tail lacks
    if (after >= t.from && after <= t.to) {
      const i = firstAfter(events, t.to);
      for (let k = i; k < events.length; k++) t.events.push(events[k]!);
      t.to = last;
    } else {
      this.tail = { from: after, to: last, events: [...events], checkedAt: 0, quiet: 0 };
    }
    const now = this.tail;
    now.checkedAt = complete ? Date.now() : 0;
    now.quiet = 0;
    if (now.events.length > TAIL_MAX) {
      const drop = now.events.length - TAIL_MAX;
      now.from = now.events[drop - 1]!.position;
      now.events = now.events.slice(drop);
    }
    // the other subscriptions of this process find them in memory now
    this.appended.emit('appended', last);
  }

  /** readTypes for a subscription: filtered from the shared tail when it covers `after`. */
  private async readTypesShared(
    after: number,
    limit: number,
    types: readonly string[],
  ): Promise<{ events: RecordedEvent[]; scannedTo: number }> {
    const t = this.tail;
    if (t.to > 0 && after >= t.from) {
      if (after >= t.to) await this.readTail(after);
      const now = this.tail;
      if (after >= now.from && after <= now.to) {
        const wanted = new Set(types);
        const events: RecordedEvent[] = [];
        for (let i = firstAfter(now.events, after); i < now.events.length; i++) {
          const e = now.events[i]!;
          if (!wanted.has(e.type)) continue;
          events.push(e);
          if (events.length >= limit) return { events, scannedTo: e.position };
        }
        return { events, scannedTo: now.to };
      }
    }
    // behind the tail (a catch-up) or nothing kept yet: the type index, not every event
    const page = await this.readTypes(after, limit, types);
    if (page.events.length < limit && page.scannedTo > this.tail.to) {
      // it reached the head: (head, head] is a tail, empty, that the next reads share
      const at = page.scannedTo;
      this.tail = { from: at, to: at, events: [], checkedAt: Date.now(), quiet: 0 };
    }
    return page;
  }

  subscribe(options: SubscribeOptions): Subscription {
    if (this.wakes && !this.listening) {
      this.listening = true; // the process's one subscriber connection, opened by its first subscription
      this.wakes.onWake((position) => this.woken(position));
    }
    const subscription = pollingSubscription({
      ...options,
      read: (after, limit) => this.readShared(after, limit),
      readTypes: (after, limit, types) => this.readTypesShared(after, limit, types),
      pollIntervalMs: this.pollIntervalMs,
      idlePollMaxMs: () => this.idleMax(),
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
    await this.writer.end();
    await this.wakes?.close();
  }
}
