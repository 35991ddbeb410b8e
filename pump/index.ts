// The tracking pump: a Kafka consumer group on `streaming.tracking` that
// validates each event, enriches it (supplier vendor from the configured
// accounts), stores it raw in Mongo `tracking_events` (_id = event id, so a
// redelivery is a no-op; expiry on `at`), and recomputes the per-minute
// aggregates in `tracking_minutes` of every minute a batch touched from the
// raw events of those minutes — exact, and a redelivered batch changes
// nothing. A minute document is only replaced by one computed from at least as
// many raw events, so two pumps racing on a minute cannot roll it back.
// Malformed events go to `tracking_deadletter` with the reason and the raw
// value (_id = hash of the raw value), and the pump goes on.
//
// The running pump recomputes minutes at most every RECOMPUTE_EVERY_MS (or
// five times as long as its last round took, when the server is slow), not
// after every batch: on FerretDB 1.x the recompute reads the whole raw
// collection, which after a few minutes of sending was the largest single
// cost of the system. A batch marks the minutes it touched in
// `tracking_dirty` (durably, before its offsets are committed); the recompute
// clears a mark only if no batch marked the minute again meanwhile, and a
// pump that starts recomputes what is marked, so a crash loses nothing.
//
// A running pump also tallies what it wrote into each recent minute
// (MinuteTallies), so that a round costs no read of the raw events: before a
// pump first writes into a minute's collection it records itself as a writer
// of that minute (`tracking_writers`), and a minute whose only writer is this
// pump is aggregated from its tally, which holds exactly the events its
// inserts added. A minute another pump (or an earlier run of this one) wrote
// into, or one whose insert failed halfway, is read back from its collection.
import { createHash, randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { Kafka } from 'kafkajs';
import type { Db, MongoClient } from 'mongodb';
import type { Config } from '../platform/config/index.ts';
import { createKafka } from '../platform/clients/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import {
  TRACKING_TOPIC,
  trackingEventSchema,
  type TrackingEvent,
} from '../platform/tracking/index.ts';
import { ensureTopics, runSupervisedConsumer } from '../platform/kafka/index.ts';
import {
  addToMinute,
  aggregateMinute,
  floorMinute,
  minuteKey,
  minuteOf,
  newMinuteTally,
  type MinuteTally,
  type RawTracking,
} from './aggregate.ts';

export * from './aggregate.ts';

export const TRACKING_EVENTS = 'tracking_events';
export const TRACKING_MINUTES = 'tracking_minutes';
export const TRACKING_DEADLETTER = 'tracking_deadletter';
export const TRACKING_DIRTY = 'tracking_dirty';
/** Which pumps wrote into a recent minute's collection: {_id: `<minute>|<writer>`, minute, writer}. */
export const TRACKING_WRITERS = 'tracking_writers';
/** Longest a touched minute waits for its aggregate in the running pump. */
export const RECOMPUTE_EVERY_MS = 2_000;
export const PUMP_GROUP = 'streaming-pump';
/**
 * Raw events of a recent minute are also kept in a collection of that minute
 * alone (`tracking_recent_<minute>`), which the recompute reads whole instead
 * of filtering tracking_events: FerretDB 1.x filters by reading and decoding
 * every document of a collection, so a recompute from tracking_events cost
 * more the longer the system had run. A minute this recent (by the pump's
 * clock) is recomputed from its own collection; an older one (a late event)
 * from tracking_events, and its events are not copied.
 */
export const RECENT_MINUTES_MS = 10 * 60_000;
/** Minute collections are dropped this long after their minute (past RECENT_MINUTES_MS: clocks differ). */
export const RECENT_DROP_MS = 15 * 60_000;
const RECENT_PREFIX = 'tracking_recent_';
export const recentCollection = (minute: Date): string =>
  `${RECENT_PREFIX}${minute.toISOString().slice(0, 16).replace(/[-:]/g, '')}`;
const isRecent = (minute: Date, now: number) => minute.getTime() >= now - RECENT_MINUTES_MS;

/** Drops the minute collections older than RECENT_DROP_MS. */
export async function dropOldMinutes(db: Db, now = Date.now()): Promise<number> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).filter((c) =>
    c.name.startsWith(RECENT_PREFIX),
  );
  const cutoff = recentCollection(new Date(now - RECENT_DROP_MS));
  let dropped = 0;
  for (const { name } of names) {
    if (name >= cutoff) continue; // the names sort as their minutes
    await db
      .collection(name)
      .drop()
      .catch(() => undefined);
    dropped++;
  }
  await db
    .collection(TRACKING_WRITERS)
    .deleteMany({ minute: { $lt: new Date(now - RECENT_DROP_MS) } });
  return dropped;
}

/**
 * What one pump wrote into each recent minute's collection, tallied as it
 * wrote (null: not known exactly, read the collection). `writer` names this
 * pump in TRACKING_WRITERS; a new pump (a restart) is a new writer.
 */
export interface MinuteTallies {
  writer: string;
  minutes: Map<string, { minute: Date; tally: MinuteTally | null }>;
}

export const minuteTallies = (): MinuteTallies => ({ writer: randomUUID(), minutes: new Map() });

/** Forgets the tallies of minutes no longer recent (those are read from tracking_events). */
function pruneTallies(tallies: MinuteTallies, now: number): void {
  for (const [key, entry] of tallies.minutes) {
    if (!isRecent(entry.minute, now)) tallies.minutes.delete(key);
  }
}

export interface PumpDeps {
  config: Pick<Config, 'kafka' | 'suppliers' | 'tracking'>;
  logger: Logger;
  mongo: { client: MongoClient; db: Db };
  /** Default: a client from config.kafka. */
  kafka?: Kafka;
  /** Default STREAMING_KAFKA_TRACKING_TOPIC (`streaming.tracking`); tests use their own. */
  topic?: string;
  /** Default STREAMING_KAFKA_PUMP_GROUP (`streaming-pump`). */
  groupId?: string;
  /** Read the topic from its start when the group has no offsets (default true). */
  fromBeginning?: boolean;
}

export interface RawMessage {
  value: Buffer | string | null;
  topic?: string;
  partition?: number;
  offset?: string;
}

export interface BatchResult {
  stored: number;
  deadLettered: number;
  minutes: string[];
  /** The minutes as dates (recomputed already unless deferred). */
  minuteDates: Date[];
}

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats.default(ajv, ['date-time']);
const validate = ajv.compile<TrackingEvent>(trackingEventSchema);

type Parsed = { ok: true; event: TrackingEvent } | { ok: false; reason: string };

export function parseTracking(value: Buffer | string | null): Parsed {
  if (value === null) return { ok: false, reason: 'empty message' };
  let json: unknown;
  try {
    json = JSON.parse(value.toString());
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (!validate(json)) {
    const first = validate.errors?.[0];
    const where = first?.instancePath || '/';
    return { ok: false, reason: `schema: ${where} ${first?.message ?? 'is invalid'}` };
  }
  if (Number.isNaN(Date.parse(json.at))) return { ok: false, reason: 'schema: /at is not a time' };
  return { ok: true, event: json };
}

/**
 * Indexes of the pump's collections. Raw events expire after ttlDays through a
 * TTL index on `at`; a server without TTL indexes (FerretDB 1.x answers
 * NotImplemented) gets none, and the pump purges expired raw events itself
 * (purgeExpired, on start and every 10 minutes). Returns whether TTL is native.
 */
export async function ensureTrackingCollections(db: Db, ttlDays: number): Promise<boolean> {
  const events = db.collection(TRACKING_EVENTS);
  let nativeTtl = true;
  try {
    await events.createIndex({ at: 1 }, { name: 'ttl_at', expireAfterSeconds: ttlDays * 86_400 });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 238 || code === 115) {
      nativeTtl = false; // NotImplemented / CommandNotSupported
      await events.createIndex({ at: 1 }, { name: 'at' });
    } else if (code === 85 || code === 86) {
      // the TTL changed: replace the index
      await events.dropIndex('ttl_at');
      await events.createIndex({ at: 1 }, { name: 'ttl_at', expireAfterSeconds: ttlDays * 86_400 });
    } else {
      throw err;
    }
  }
  await events.createIndex({ minute: 1 }, { name: 'minute' });
  await db.collection(TRACKING_MINUTES).createIndex({ minute: 1 }, { name: 'minute' });
  await db.collection(TRACKING_DEADLETTER).createIndex({ receivedAt: 1 }, { name: 'receivedAt' });
  return nativeTtl;
}

/** Deletes raw events older than ttlDays (where the server has no TTL indexes). */
export async function purgeExpired(db: Db, ttlDays: number, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - ttlDays * 86_400_000);
  const res = await db.collection(TRACKING_EVENTS).deleteMany({ at: { $lt: before } });
  return res.deletedCount;
}

function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 11000;
}

/**
 * Inserts the documents whose _id is not there yet; existing ones (a
 * redelivery) are left as they are. Unordered, so one duplicate does not stop
 * the rest; only duplicate-key errors are expected.
 */
async function insertNew(
  db: Db,
  collection: string,
  docs: readonly { _id: string }[],
): Promise<Set<number>> {
  const duplicates = new Set<number>();
  if (docs.length === 0) return duplicates;
  try {
    await db.collection<{ _id: string }>(collection).insertMany(docs, { ordered: false });
  } catch (err) {
    const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
    const list = Array.isArray(writeErrors)
      ? (writeErrors as { code?: unknown; index?: unknown }[])
      : writeErrors === undefined
        ? undefined
        : [writeErrors as { code?: unknown; index?: unknown }];
    if (!list || list.length === 0 || !list.every((e) => e.code === 11000)) throw err;
    for (const e of list) duplicates.add(Number(e.index));
  }
  return duplicates;
}

/** What the aggregate reads of a raw event besides `type` and `minute` (each may be absent). */
const OPTIONAL_RAW_FIELDS = [
  'supplierAccount',
  'vendor',
  'outcome',
  'code',
  'rule',
  'kind',
  'latencyMs',
] as const satisfies readonly (keyof RawTracking)[];
const RAW_FIELDS = {
  _id: 0,
  type: 1,
  minute: 1,
  ...Object.fromEntries(OPTIONAL_RAW_FIELDS.map((field) => [field, 1])),
};

/** Recent minutes whose only writer is this pump (tallies), of those given. */
async function ownMinutes(
  db: Db,
  tallies: MinuteTallies,
  recent: readonly Date[],
): Promise<Set<string>> {
  const candidates = recent.filter((m) => tallies.minutes.get(minuteKey(m))?.tally);
  const own = new Set<string>();
  if (candidates.length === 0) return own;
  const writers = new Map<string, Set<string>>();
  const marks = await db
    .collection<{ _id: string; minute: Date; writer: string }>(TRACKING_WRITERS)
    .find({ minute: { $in: candidates } })
    .toArray();
  for (const mark of marks) {
    const key = minuteKey(mark.minute);
    writers.set(key, (writers.get(key) ?? new Set()).add(mark.writer));
  }
  for (const minute of candidates) {
    const w = writers.get(minuteKey(minute));
    if (w?.size === 1 && w.has(tallies.writer)) own.add(minuteKey(minute));
  }
  return own;
}

/**
 * Recomputes the aggregate documents of these minutes from their raw events:
 * this pump's tally of a recent minute only it wrote, a recent minute's own
 * collection, or tracking_events (served by the `minute` index on MongoDB;
 * FerretDB 1.x scans).
 */
export async function recomputeMinutes(
  db: Db,
  minutes: readonly Date[],
  tallies?: MinuteTallies,
): Promise<void> {
  if (minutes.length === 0) return;
  const now = Date.now();
  if (tallies) pruneTallies(tallies, now);
  const recent = minutes.filter((m) => isRecent(m, now));
  const older = minutes.filter((m) => !isRecent(m, now));
  // read the writers before the tallies: a writer records itself before it inserts
  const own = tallies ? await ownMinutes(db, tallies, recent) : new Set<string>();
  const tallied = new Map<string, MinuteTally>();
  const raw: RawTracking[] = [];
  for (const minute of recent) {
    const tally = own.has(minuteKey(minute))
      ? tallies?.minutes.get(minuteKey(minute))?.tally
      : undefined;
    if (tally) {
      tallied.set(minuteKey(minute), tally);
      continue;
    }
    // the copies hold only the aggregated fields (and _id): no projection to apply
    raw.push(...(await db.collection<RawTracking>(recentCollection(minute)).find().toArray()));
  }
  if (older.length > 0) {
    raw.push(
      ...(await db
        .collection<RawTracking & { _id: string }>(TRACKING_EVENTS)
        .find({ minute: { $in: older } }, { projection: RAW_FIELDS })
        .toArray()),
    );
  }
  const byMinute = new Map<string, RawTracking[]>(minutes.map((m) => [minuteKey(m), []]));
  for (const e of raw) byMinute.get(minuteKey(e.minute))?.push(e);
  const coll = db.collection<{ _id: string; total: number }>(TRACKING_MINUTES);
  for (const minute of minutes) {
    const tally = tallied.get(minuteKey(minute));
    const agg = tally
      ? minuteOf(minute, tally)
      : aggregateMinute(minute, byMinute.get(minuteKey(minute)) ?? []);
    if (agg.total === 0) continue;
    const { _id, ...fields } = agg;
    try {
      await coll.updateOne(
        { _id, total: { $lte: agg.total } },
        { $set: { ...fields, computedAt: new Date() } },
        { upsert: true },
      );
    } catch (err) {
      // A document from more raw events exists (raw only grows until the TTL removes it).
      if (!isDuplicateKey(err)) throw err;
    }
  }
}

/** A raw event as stored in tracking_events. */
type StoredTracking = Omit<TrackingEvent, 'at'> & {
  _id: string;
  at: Date;
  minute: Date;
  receivedAt: Date;
};
/** A recent minute's copy of a raw event: only what the aggregate reads. */
type RecentCopy = RawTracking & { _id: string };
interface DeadLetter {
  _id: string;
  reason: string;
  raw: string | null;
  topic: string | null;
  partition: number | null;
  offset: string | null;
  receivedAt: Date;
}

function deadLetter(m: RawMessage, reason: string, receivedAt: Date): DeadLetter {
  const text = m.value === null ? null : m.value.toString();
  return {
    _id: createHash('sha256')
      .update(text ?? '\u0000null')
      .digest('hex'),
    reason,
    raw: text === null ? null : text.slice(0, 16_384),
    topic: m.topic ?? null,
    partition: m.partition ?? null,
    offset: m.offset ?? null,
    receivedAt,
  };
}

/** Parses a batch: the valid events once each (by id, enriched with the vendor), and the rest. */
function sortBatch(
  suppliers: Config['suppliers'],
  messages: readonly RawMessage[],
  receivedAt: Date,
): { raws: Map<string, StoredTracking>; dead: Map<string, DeadLetter> } {
  const vendors = new Map(suppliers.map((s) => [s.id, s.vendor]));
  const raws = new Map<string, StoredTracking>();
  const dead = new Map<string, DeadLetter>();
  for (const m of messages) {
    const parsed = parseTracking(m.value);
    if (!parsed.ok) {
      const letter = deadLetter(m, parsed.reason, receivedAt);
      dead.set(letter._id, letter);
      continue;
    }
    const e = parsed.event;
    if (raws.has(e.id)) continue;
    const at = new Date(e.at);
    const vendor = e.vendor ?? (e.supplierAccount ? vendors.get(e.supplierAccount) : undefined);
    raws.set(e.id, {
      ...e,
      _id: e.id,
      at,
      minute: floorMinute(at),
      ...(vendor ? { vendor } : {}),
      receivedAt,
    });
  }
  return { raws, dead };
}

function recentCopy(doc: StoredTracking): RecentCopy {
  const copy: RecentCopy = { _id: doc._id, type: doc.type, minute: doc.minute };
  // absent stays absent (the driver would store an undefined field as null)
  for (const field of OPTIONAL_RAW_FIELDS) {
    if (doc[field] !== undefined) Object.assign(copy, { [field]: doc[field] });
  }
  return copy;
}

type RecentGroups = Map<string, { minute: Date; docs: RecentCopy[] }>;

/** The copies of the recent events, by their minute's collection. */
function recentCopies(raws: Iterable<StoredTracking>, now: number): RecentGroups {
  const groups: RecentGroups = new Map();
  for (const doc of raws) {
    if (!isRecent(doc.minute, now)) continue;
    const name = recentCollection(doc.minute);
    const group = groups.get(name) ?? { minute: doc.minute, docs: [] };
    group.docs.push(recentCopy(doc));
    groups.set(name, group);
  }
  return groups;
}

/** This pump becomes a writer of a minute before its first insert there. */
async function claimMinutes(db: Db, tallies: MinuteTallies, groups: RecentGroups): Promise<void> {
  const first = [...groups.values()].filter((g) => !tallies.minutes.has(minuteKey(g.minute)));
  await insertNew(
    db,
    TRACKING_WRITERS,
    first.map(({ minute }) => ({
      _id: `${minuteKey(minute)}|${tallies.writer}`,
      minute,
      writer: tallies.writer,
    })),
  );
  for (const { minute } of first) {
    tallies.minutes.set(minuteKey(minute), { minute, tally: newMinuteTally() });
  }
}

/** Inserts the copies and tallies what each insert added. */
async function insertCopies(db: Db, groups: RecentGroups, tallies?: MinuteTallies): Promise<void> {
  for (const [name, { minute, docs }] of groups) {
    const entry = tallies?.minutes.get(minuteKey(minute));
    let duplicates: Set<number>;
    try {
      duplicates = await insertNew(db, name, docs);
    } catch (err) {
      if (entry) entry.tally = null; // some may be in: no longer known exactly
      throw err;
    }
    // what this insert added (a duplicate was there before, written by whoever recorded it)
    const tally = entry?.tally;
    if (tally) docs.forEach((d, i) => duplicates.has(i) || addToMinute(tally, d));
  }
}

/**
 * Stores one batch: raw events, dead letters, then the touched minutes'
 * aggregates (left to the caller with deferMinutes).
 */
export async function processBatch(
  db: Db,
  suppliers: Config['suppliers'],
  messages: readonly RawMessage[],
  options: { deferMinutes?: boolean; tallies?: MinuteTallies } = {},
): Promise<BatchResult> {
  const { tallies } = options;
  const { raws, dead } = sortBatch(suppliers, messages, new Date());
  await insertNew(db, TRACKING_EVENTS, [...raws.values()]);
  // and each recent minute's copy, which its recompute reads
  const groups = recentCopies(raws.values(), Date.now());
  if (tallies) await claimMinutes(db, tallies, groups);
  await insertCopies(db, groups, tallies);
  await insertNew(db, TRACKING_DEADLETTER, [...dead.values()]);
  const minutes = new Map<string, Date>();
  for (const doc of raws.values()) minutes.set(minuteKey(doc.minute), doc.minute);
  if (!options.deferMinutes) await recomputeMinutes(db, [...minutes.values()], tallies);
  return {
    stored: raws.size,
    deadLettered: dead.size,
    minutes: [...minutes.keys()],
    minuteDates: [...minutes.values()],
  };
}

interface DirtyMinute {
  _id: string;
  minute: Date;
  seq: number;
}

/** Marks minutes whose aggregate must be recomputed (before the batch's offsets commit). */
export async function markDirty(db: Db, minutes: readonly Date[]): Promise<void> {
  if (minutes.length === 0) return;
  await db.collection<DirtyMinute>(TRACKING_DIRTY).bulkWrite(
    minutes.map((minute) => ({
      updateOne: {
        filter: { _id: minuteKey(minute) },
        update: { $set: { minute }, $inc: { seq: 1 } },
        upsert: true,
      },
    })),
    { ordered: false },
  );
}

/** Recomputes every marked minute; a mark set again meanwhile stays for the next round. */
export async function recomputeDirty(db: Db, tallies?: MinuteTallies): Promise<number> {
  const dirty = db.collection<DirtyMinute>(TRACKING_DIRTY);
  const marks = await dirty.find().toArray();
  if (marks.length === 0) return 0;
  await recomputeMinutes(
    db,
    marks.map((m) => m.minute),
    tallies,
  );
  await dirty.deleteMany({ $or: marks.map((m) => ({ _id: m._id, seq: m.seq })) });
  return marks.length;
}

export interface Pump {
  close(): Promise<void>;
}

/** Where the server has no TTL indexes: purges expired raw events now and every 10 minutes. */
function startPurger(deps: PumpDeps, ttlDays: number): NodeJS.Timeout {
  const purge = () =>
    purgeExpired(deps.mongo.db, ttlDays).catch((err: unknown) =>
      deps.logger.warn('tracking purge failed', { err: String(err) }),
    );
  void purge();
  const purger = setInterval(() => void purge(), 600_000);
  purger.unref();
  return purger;
}

interface Recomputer {
  /** A batch touched minutes: the next round has work. */
  mark(): void;
  /** Stops the rounds and finishes the last one. */
  close(): Promise<void>;
}

/**
 * Recomputes the marked minutes every RECOMPUTE_EVERY_MS, or after five times
 * as long as the last round took (a busy server spends at most a sixth of its
 * time on it). Starts with a round: minutes marked by a pump that stopped
 * before recomputing them.
 */
function startRecomputer(deps: PumpDeps, tallies: MinuteTallies): Recomputer {
  let recomputing: Promise<void> = Promise.resolve();
  let marked = true;
  const recompute = () => {
    if (!marked) return recomputing; // nothing touched since the last round: no query
    marked = false;
    recomputing = recomputing
      .then(() => recomputeDirty(deps.mongo.db, tallies))
      .then(
        () => undefined,
        (err: unknown) => {
          marked = true; // try again next round
          deps.logger.warn('tracking minutes not recomputed', { err: String(err) });
        },
      );
    return recomputing;
  };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const round = () => {
    const started = Date.now();
    void recompute().then(() => schedule(Date.now() - started));
  };
  const schedule = (lastMs: number) => {
    if (stopped) return;
    timer = setTimeout(round, Math.max(RECOMPUTE_EVERY_MS, 5 * lastMs));
    timer.unref();
  };
  round();
  return {
    mark: () => {
      marked = true;
    },
    async close() {
      stopped = true;
      clearTimeout(timer);
      await recompute();
    },
  };
}

/** Drops the old minute collections every minute. */
function startDropper(deps: PumpDeps): NodeJS.Timeout {
  const dropper = setInterval(
    () =>
      void dropOldMinutes(deps.mongo.db).catch((err: unknown) =>
        deps.logger.warn('old tracking minute collections not dropped', { err: String(err) }),
      ),
    60_000,
  );
  dropper.unref();
  return dropper;
}

/** Starts the consumer group; offsets are committed only after a batch is in Mongo. */
export async function startPump(deps: PumpDeps): Promise<Pump> {
  const topic = deps.topic ?? deps.config.kafka.trackingTopic ?? TRACKING_TOPIC;
  const groupId = deps.groupId ?? deps.config.kafka.pumpGroup ?? PUMP_GROUP;
  const kafka = deps.kafka ?? createKafka(deps.config, deps.logger);
  const ttlDays = deps.config.tracking.ttlDays;
  const nativeTtl = await ensureTrackingCollections(deps.mongo.db, ttlDays);
  const purger = nativeTtl ? undefined : startPurger(deps, ttlDays);
  // On a new broker nobody may have published yet: subscribing to a missing topic fails.
  await ensureTopics(kafka, [{ topic }]);
  const tallies = minuteTallies();
  const recomputer = startRecomputer(deps, tallies);
  const dropper = startDropper(deps);
  const consumer = await runSupervisedConsumer({
    name: 'pump',
    logger: deps.logger,
    create: async () => {
      const c = kafka.consumer({
        groupId,
        sessionTimeout: 30_000,
        maxBytesPerPartition: 1_048_576,
        // bounds how long a fetch (and so a stop) waits when the topic is quiet;
        // a fetch answers as soon as a record comes, so a longer wait costs no
        // latency, only fewer empty fetches while idle (as the dispatcher's)
        maxWaitTimeInMs: 2_000,
      });
      await c.connect();
      return c;
    },
    subscribe: { topics: [topic], fromBeginning: deps.fromBeginning ?? true },
    run: {
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat }) => {
        const result = await processBatch(
          deps.mongo.db,
          deps.config.suppliers,
          batch.messages.map((m) => ({
            value: m.value,
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
          })),
          { deferMinutes: true, tallies },
        );
        await markDirty(deps.mongo.db, result.minuteDates);
        recomputer.mark();
        if (result.deadLettered) {
          deps.logger.warn('malformed tracking events set aside', {
            count: result.deadLettered,
            partition: batch.partition,
          });
        }
        await heartbeat();
      },
    },
  });
  deps.logger.info('pump started', { topic, groupId });
  return {
    async close() {
      clearInterval(purger);
      clearInterval(dropper);
      await consumer.stop();
      await recomputer.close();
    },
  };
}
