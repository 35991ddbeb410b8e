// The Mongo read models: audit_log (one document per event) and
// message_timelines (one document per message). FerretDB has no
// multi-document transactions, so writes are guarded per document (an event
// id that exists, a stream version already seen) and the checkpoint document
// is written after the batch: a crash in between only means re-applying
// writes that are then no-ops.
//
// FerretDB 1.24 does not implement renameCollection with dropTarget, so the
// live collection of each model is named by a pointer document in
// `read_model_pointers` ({_id: model, collection}); a swap rewrites that one
// document. Without a pointer the collection has the model's own name.
import type { Collection, Db, Document, OptionalUnlessRequiredId } from 'mongodb';
import {
  isClosedStatus,
  isMessageStream,
  messageStream,
  statusOfEventType,
} from '../domain/messages/index.ts';
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import {
  READ_MODEL_POINTERS,
  liveCollection,
  openTimelineId,
  openTimelines,
  readModelDb,
  serverUsesIndexes,
  timelineCollections,
} from '../platform/readModels/index.ts';
import { maskPayload } from './masking.ts';
import type { Projection, ProjectorDeps, Target } from './types.ts';
import { AUDIT_LOG, MESSAGE_TIMELINES, MONGO_CHECKPOINT_COLLECTION } from '../contracts/index.ts';

export const pointerCollection = READ_MODEL_POINTERS;
export { liveCollection };
export const mongoCheckpointCollection = MONGO_CHECKPOINT_COLLECTION;

interface Pointer {
  _id: string;
  collection: string;
}
interface CheckpointDoc {
  _id: string;
  position: number;
}

/** base: the configured database (liveCollection finds the model's own). */
async function collectionOf(base: Db, model: string, target: Target): Promise<string> {
  return target.suffix === '' ? liveCollection(base, model) : `${model}${target.suffix}`;
}

const checkpointId = (id: string, collection: string) => `${id}:${collection}`;
/** Highest position a batch may have started writing (message_timelines, see below). */
const highWaterId = (id: string, collection: string) => `${id}:${collection}:written`;

async function readCheckpoint(db: Db, id: string, collection: string): Promise<number> {
  const doc = await db
    .collection<CheckpointDoc>(mongoCheckpointCollection)
    .findOne({ _id: checkpointId(id, collection) });
  return doc?.position ?? 0;
}

async function writeCheckpoint(db: Db, id: string, collection: string, position: number) {
  await db
    .collection<CheckpointDoc>(mongoCheckpointCollection)
    .updateOne({ _id: checkpointId(id, collection) }, { $set: { position } }, { upsert: true });
}

function isDuplicateOnly(err: unknown): boolean {
  const e = err as { code?: number; writeErrors?: { code?: number }[] | { code?: number } };
  if (e.writeErrors !== undefined) {
    const list = Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
    return list.length > 0 && list.every((w) => w.code === 11000);
  }
  return e.code === 11000;
}

interface MongoModel {
  name: string;
  version: number;
  /** For the queries of the read side; not built where the server would not use them. */
  indexes: { key: Record<string, 1 | -1>; name: string }[];
  /** Forgets what is remembered of a collection (a new active instance starts from the store). */
  reset?(db: Db, collection: string): void;
  /** The physical collections behind one logical collection (default: itself). */
  parts?(collection: string): string[];
  batchWindowMs?: number;
  /** Whether an event changes the model (default: every event does). */
  concerns?(event: RecordedEvent): boolean;
  applyDocs(
    db: Db,
    collection: string,
    events: RecordedEvent[],
    deps: ProjectorDeps,
  ): Promise<void>;
}

function mongoProjection(model: MongoModel): Projection {
  const id = `${model.name}@${model.version}`;
  const parts = (collection: string) => model.parts?.(collection) ?? [collection];
  // where the model, its pointer and its checkpoints live (platform/readModels)
  const home = (deps: ProjectorDeps): Db => readModelDb(deps.mongo.db, model.name);
  // The checkpoint this process last read or wrote, per database and
  // collection: one round trip less per batch (on FerretDB each query reads
  // the whole checkpoint collection). Forgotten at each prepare, i.e. each
  // time a runner becomes the active instance.
  const known = new Map<string, number>();
  const drop = async (db: Db, collection: string) => {
    for (const part of parts(collection)) {
      await db
        .collection(part)
        .drop()
        .catch(() => undefined);
    }
    await db
      .collection<CheckpointDoc>(mongoCheckpointCollection)
      .deleteMany({ _id: { $in: [checkpointId(id, collection), highWaterId(id, collection)] } });
  };
  return {
    name: model.name,
    version: model.version,
    store: 'mongo',
    ...(model.batchWindowMs === undefined ? {} : { batchWindowMs: model.batchWindowMs }),
    ...(model.concerns ? { concerns: model.concerns } : {}),
    async prepare(deps, target) {
      const collection = await collectionOf(deps.mongo.db, model.name, target);
      const db = home(deps);
      model.reset?.(db, collection);
      known.delete(cacheKey(db, collection));
      for (const part of parts(collection)) {
        const existing = await db.listCollections({ name: part }).toArray();
        if (existing.length === 0) await db.createCollection(part);
        if (!(await serverUsesIndexes(db))) continue;
        for (const index of model.indexes) {
          await db.collection(part).createIndex(index.key, { name: index.name });
        }
      }
    },
    async checkpoint(deps, target) {
      const collection = await collectionOf(deps.mongo.db, model.name, target);
      return readCheckpoint(home(deps), id, collection);
    },
    async apply(deps, target, events, upTo) {
      const collection = await collectionOf(deps.mongo.db, model.name, target);
      const db = home(deps);
      const key = cacheKey(db, collection);
      const checkpoint = known.get(key) ?? (await readCheckpoint(db, id, collection));
      if (upTo <= checkpoint) return;
      const fresh = events.filter((e) => e.position > checkpoint);
      try {
        if (fresh.length > 0) await model.applyDocs(db, collection, fresh, deps);
        await writeCheckpoint(db, id, collection, upTo);
      } catch (err) {
        known.delete(key); // unsure what is stored: read it again
        throw err;
      }
      known.set(key, upTo);
    },
    async swap(deps, build) {
      const old = await liveCollection(deps.mongo.db, model.name);
      const next = `${model.name}${build.suffix}`;
      await home(deps)
        .collection<Pointer>(pointerCollection)
        .updateOne({ _id: model.name }, { $set: { collection: next } }, { upsert: true });
      if (old !== next) await drop(home(deps), old);
    },
    async discard(deps, build) {
      await drop(home(deps), `${model.name}${build.suffix}`);
    },
  };
}

// audit_log ---------------------------------------------------------------
const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : undefined;

/** The tenant an event names itself: tenantId, or the user for user and key events. */
function directTenant(event: RecordedEvent): string | undefined {
  const d = event.data;
  return (
    text(d.tenantId) ?? (/^(user|username|apikey)\./.test(event.type) ? text(d.userId) : undefined)
  );
}

/** What an active instance remembers is per database and collection. */
const cacheKey = (db: Db, collection: string) => `${db.databaseName}.${collection}`;

// Tenant of each stream (from its first event), per collection, remembered between batches.
const streamTenants = new Map<string, Map<string, string | null>>();

async function resolveTenants(
  db: Db,
  collection: string,
  events: RecordedEvent[],
  eventStore: ProjectorDeps['eventStore'],
) {
  let known = streamTenants.get(cacheKey(db, collection));
  if (!known || known.size > 200_000) {
    known = new Map();
    streamTenants.set(cacheKey(db, collection), known);
  }
  const lookup = (e: RecordedEvent): string | undefined => {
    if (e.type === 'verification.issued.v1') return messageStream(String(e.data.messageId));
    return e.streamVersion === 0 ? undefined : e.streamId;
  };
  const missing = new Set<string>();
  for (const e of events) {
    if (directTenant(e) !== undefined) continue;
    const stream = lookup(e);
    if (stream !== undefined && !known.has(stream)) missing.add(stream);
  }
  // a stream first seen earlier in this batch needs no look-up
  for (const e of events) if (e.streamVersion === 0) missing.delete(e.streamId);
  // The tenant a stream's first event gave its record, from that event in the
  // store (one round trip by key), not a find in audit_log: FerretDB 1.x
  // answers a $in by decoding the whole collection. A first event that names
  // no tenant but a message (a verification) took its message's.
  if (missing.size > 0) {
    const viaMessage = new Map<string, string>(); // stream -> the message stream it takes after
    for (const [stream, [first]] of await eventStore.readStreams([...missing], { limit: 1 })) {
      if (!first) continue; // no such stream (any more): no tenant, as before
      const tenant = directTenant(first);
      const message = tenant === undefined ? lookup(first) : undefined;
      if (message === undefined) known.set(stream, tenant ?? null);
      else viaMessage.set(stream, message);
    }
    const messages = [...new Set(viaMessage.values())].filter((m) => !known.has(m));
    if (messages.length > 0) {
      for (const [m, [first]] of await eventStore.readStreams(messages, { limit: 1 })) {
        if (first) known.set(m, directTenant(first) ?? null);
      }
    }
    for (const [stream, m] of viaMessage) if (known.has(m)) known.set(stream, known.get(m)!);
  }
  return events.map((e) => {
    const stream = lookup(e);
    const tenant =
      directTenant(e) ?? (stream === undefined ? undefined : (known.get(stream) ?? undefined));
    if (e.streamVersion === 0) known.set(e.streamId, tenant ?? null);
    return tenant ?? null;
  });
}

export function auditDocument(event: RecordedEvent, tenantId: string | null): Document {
  return {
    _id: event.eventId,
    type: event.type,
    streamId: event.streamId,
    version: event.streamVersion,
    position: event.position,
    actor: event.metadata.actor,
    requestId: event.metadata.requestId,
    correlationId: event.metadata.correlationId,
    causationId: event.metadata.causationId,
    tenantId,
    at: event.metadata.timestamp,
    payload: maskPayload(event.type, event.data),
  };
}

export const auditLog = mongoProjection({
  name: AUDIT_LOG,
  version: 1,
  reset: (db, collection) => void streamTenants.delete(cacheKey(db, collection)),
  indexes: [
    { key: { position: 1 }, name: 'ix_position' },
    { key: { tenantId: 1, position: 1 }, name: 'ix_tenant_position' },
    { key: { streamId: 1, version: 1 }, name: 'ix_stream_version' },
  ],
  batchWindowMs: 150,
  async applyDocs(db, collection, events, deps) {
    const tenants = await resolveTenants(db, collection, events, deps.eventStore);
    const docs = events.map((e, i) => auditDocument(e, tenants[i] ?? null));
    // one insert per batch: the SQLite behind FerretDB takes one writer at a
    // time, so parallel inserts only wait on each other's locks
    await db
      .collection(collection)
      .insertMany(docs, { ordered: false })
      .catch((err: unknown) => {
        if (!isDuplicateOnly(err)) throw err; // an event already recorded: nothing to do
      });
  },
});

// message_timelines -------------------------------------------------------
const OUTCOME: Record<string, string> = {
  'sms.submitted.v1': 'submitted',
  'sms.failed-over.v1': 'rejected',
  'sms.retry-scheduled.v1': 'retry-scheduled',
  'sms.submission-uncertain.v1': 'uncertain',
  'sms.failed.v1': 'failed',
};

function attemptOf(e: RecordedEvent): Document | undefined {
  const d = e.data;
  const outcome = OUTCOME[e.type];
  const account = text(d.supplierAccount) ?? text(d.fromAccount);
  if (outcome === undefined || account === undefined) return undefined;
  const attempt: Document = {
    account,
    outcome,
    at: e.metadata.timestamp,
    version: e.streamVersion,
  };
  if (text(d.supplierMessageId)) attempt.supplierMessageId = d.supplierMessageId;
  if (typeof d.attempt === 'number') attempt.attempt = d.attempt;
  if (text(d.toAccount)) attempt.toAccount = d.toAccount;
  if (d.reason) attempt.reason = d.reason;
  if (typeof d.latencyMs === 'number') attempt.latencyMs = d.latencyMs;
  if (d.reconciled === true) attempt.reconciled = true;
  return attempt;
}

interface TimelineDoc {
  _id: string;
  tenantId: string;
  lastVersion: number;
  lastPosition: number;
  status: string;
  states: Document[];
  attempts: Document[];
}

/** The timeline after events (consecutive stream versions after doc.lastVersion). */
export function foldTimeline(
  doc: TimelineDoc | undefined,
  events: readonly RecordedEvent[],
): TimelineDoc | undefined {
  let out = doc ? { ...doc, states: [...doc.states], attempts: [...doc.attempts] } : undefined;
  for (const e of events) {
    const d = e.data;
    if (!out) {
      if (e.type !== 'sms.accepted.v1') continue;
      out = {
        _id: String(d.messageId),
        tenantId: String(d.tenantId),
        lastVersion: e.streamVersion,
        lastPosition: e.position,
        status: 'accepted',
        states: [],
        attempts: [],
      };
    }
    if (e.type === 'sms.accepted.v1' && out.states.length > 0) continue;
    const next = statusOfEventType[e.type];
    if (next !== undefined && !(out.states.length > 0 && isClosedStatus(out.status))) {
      out.status = next;
      out.states.push({
        status: next,
        at: e.metadata.timestamp,
        version: e.streamVersion,
        position: e.position,
      });
    }
    const attempt = attemptOf(e);
    if (attempt) out.attempts.push(attempt);
    out.lastVersion = e.streamVersion;
    out.lastPosition = e.position;
  }
  return out;
}

interface TimelineState {
  /** Events above this position cannot have been written by an earlier instance. */
  trustedAfter: number;
  /** What this instance wrote, and where: open (in flight) or final. */
  docs: Map<string, { doc: TimelineDoc; open: boolean }>;
  /** Open versions of messages now final, deleted in bulk (GARBAGE_EVERY_MS). */
  garbage: string[];
  garbageSince: number;
  /** The high-water mark stored: batches up to it write without moving it. */
  highWater: number;
}
const timelineStates = new Map<string, TimelineState>();
/** Garbage of a state forgotten (after a failed batch, a new term) before its sweep. */
const carriedGarbage = new Map<string, string[]>();
const forgetTimelines = (key: string) => {
  const state = timelineStates.get(key);
  if (state && state.garbage.length > 0) {
    carriedGarbage.set(key, [...(carriedGarbage.get(key) ?? []), ...state.garbage]);
  }
  timelineStates.delete(key);
};
const timelineId = 'message_timelines@1';
/** How long the open versions of final messages may wait for their bulk delete. */
export const GARBAGE_EVERY_MS = 60_000;
const GARBAGE_MAX = 5_000;
/**
 * How far past a batch the high-water mark is set: one write per that many
 * positions, not one per batch; an instance that takes over looks up (by _id)
 * the messages first seen up to the mark.
 */
const HIGH_WATER_AHEAD = 5_000;

// On FerretDB 1.24 (SQLite) an insert and a find by _id equality are cheap;
// every delete, update and $in decodes the whole collection
// (platform/readModels). So while a message is in flight each new stream
// version is inserted as a document of its own into the open collection
// (never updated), a final message's document is inserted once into the
// final collection, and the open versions of final messages are deleted in
// one deleteMany once GARBAGE_MAX of them are waiting, or after
// GARBAGE_EVERY_MS (a minute) when fewer come. That delete decodes every open
// document and compares it with every id (measured: 1.8-3.4 s of FerretDB CPU
// for 100-5,000 ids over 10,000 open documents), so it is cheapest when the
// open collection stays small: a larger bound let the collection grow with
// the waiting ids (with a bound of 50,000, FerretDB was 190% busy through
// the idle window after a 60 s load at 400/s), and never deleting them would
// keep every message's versions for the retention period (a year by default)
// on MongoDB too. Open documents a crash leaves behind are hidden from
// readers by the final document (and trimmed by retention).
//
// The single active instance (the projection lock) remembers what it wrote,
// so it reads a document only after a restart. Before a batch writes, it
// records how far it may have written (the high-water mark, set
// HIGH_WATER_AHEAD positions ahead so most batches skip it); a message first
// seen above the mark of the instance that came before cannot have a document
// yet, so a new message costs no read. A message seen before is found with
// two finds by _id (its final document, its open version just before the
// event); the stored lastVersion makes a redelivered event a no-op, and a
// document not found (a crash in the middle of a batch) is rebuilt from its
// stream.
async function timelineState(db: Db, collection: string): Promise<TimelineState> {
  let state = timelineStates.get(cacheKey(db, collection));
  if (!state) {
    const [written, checkpoint] = await Promise.all([
      db
        .collection<CheckpointDoc>(mongoCheckpointCollection)
        .findOne({ _id: highWaterId(timelineId, collection) }),
      readCheckpoint(db, timelineId, collection),
    ]);
    state = {
      trustedAfter: Math.max(written?.position ?? 0, checkpoint),
      docs: new Map(),
      garbage: carriedGarbage.get(cacheKey(db, collection)) ?? [],
      highWater: written?.position ?? 0,
      garbageSince: Date.now(),
    };
    carriedGarbage.delete(cacheKey(db, collection));
    timelineStates.set(cacheKey(db, collection), state);
  }
  return state;
}

type OpenDoc = Omit<TimelineDoc, '_id'> & { _id: string; messageId: string };
const openDoc = (doc: TimelineDoc): OpenDoc => ({
  ...doc,
  _id: openTimelineId(doc._id, doc.lastVersion),
  messageId: doc._id,
});
/** The open versions a message may have, up to (and with) its document's lastVersion. */
const openVersions = (doc: TimelineDoc): string[] => {
  const first = Number(doc.states[0]?.version ?? 0);
  return Array.from({ length: doc.lastVersion - first + 1 }, (_, i) =>
    openTimelineId(doc._id, first + i),
  );
};

async function insertIgnoringDuplicates<T extends Document>(
  coll: Collection<T>,
  docs: OptionalUnlessRequiredId<T>[],
): Promise<void> {
  if (docs.length === 0) return;
  await coll.insertMany(docs, { ordered: false }).catch((err: unknown) => {
    if (!isDuplicateOnly(err)) throw err; // written before a crash: the same document
  });
}

/** The document of a message this instance has not seen: final, or its open version before `version`. */
async function findBefore(
  open: Collection<OpenDoc>,
  final: Collection<TimelineDoc>,
  id: string,
  version: number,
): Promise<{ doc: TimelineDoc; open: boolean } | undefined> {
  const [done, before] = await Promise.all([
    final.findOne({ _id: id }),
    version > 0 ? open.findOne({ _id: openTimelineId(id, version - 1) }) : null,
  ]);
  if (done) return { doc: done, open: false };
  if (!before) return undefined;
  const { messageId, ...rest } = before;
  return { doc: { ...rest, _id: messageId }, open: true };
}

type Located = { doc: TimelineDoc; open: boolean };

/** The sms events of message streams, per message, in order. */
function eventsByMessage(events: RecordedEvent[]): Map<string, RecordedEvent[]> {
  const byMessage = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    if (!e.type.startsWith('sms.') || !isMessageStream(e.streamId)) continue;
    const id = String(e.data.messageId);
    const list = byMessage.get(id) ?? [];
    list.push(e);
    byMessage.set(id, list);
  }
  return byMessage;
}

/** 1. the documents these events change: remembered, known new, or found by _id */
async function existingTimelines(
  state: TimelineState,
  byMessage: Map<string, RecordedEvent[]>,
  open: Collection<OpenDoc>,
  final: Collection<TimelineDoc>,
): Promise<Map<string, Located>> {
  const existing = new Map<string, Located>();
  const unknown: [string, number][] = [];
  for (const [id, list] of byMessage) {
    const known = state.docs.get(id);
    if (known) existing.set(id, known);
    else if (!(list[0]!.streamVersion === 0 && list[0]!.position > state.trustedAfter)) {
      unknown.push([id, list[0]!.streamVersion]);
    }
  }
  for (let i = 0; i < unknown.length; i += 50) {
    const found = await Promise.all(
      unknown.slice(i, i + 50).map(([id, v]) => findBefore(open, final, id, v)),
    );
    found.forEach((f, j) => f && existing.set(unknown[i + j]![0], f));
  }
  return existing;
}

/** A message's versions after its new events (undefined: nothing new, or no timeline yet). */
async function foldMessage(
  id: string,
  list: RecordedEvent[],
  before: Located | undefined,
  deps: ProjectorDeps,
): Promise<{ last: TimelineDoc; versions: TimelineDoc[] } | undefined> {
  let seen = before?.doc.lastVersion ?? -1;
  const fresh = list.filter((e) => {
    if (e.streamVersion <= seen) return false; // seen before, or twice in this batch
    seen = e.streamVersion;
    return true;
  });
  if (fresh.length === 0) return undefined;
  let from = before?.doc;
  let steps = fresh;
  if (fresh[0]!.streamVersion !== (before?.doc.lastVersion ?? -1) + 1) {
    // a gap: rebuild this one document from its stream
    const last = fresh[fresh.length - 1]!.streamVersion;
    const stream = await deps.eventStore.readStream(messageStream(id), { limit: last + 1 });
    from = undefined;
    steps = stream.filter((e) => e.streamVersion <= last);
  }
  const versions: TimelineDoc[] = [];
  let next = from;
  for (const e of steps) {
    next = foldTimeline(next, [e]);
    if (next) versions.push(next);
  }
  return next ? { last: next, versions } : undefined;
}

interface TimelinePlan {
  writes: Located[];
  toOpen: OpenDoc[];
  toFinal: TimelineDoc[];
  /** Final documents replaced (an event after the end). */
  fromFinal: string[];
  /** Open versions of the messages now final. */
  garbage: string[];
}

/** 2. fold the new events in, one open version per event while in flight */
async function planTimelines(
  byMessage: Map<string, RecordedEvent[]>,
  existing: Map<string, Located>,
  deps: ProjectorDeps,
): Promise<TimelinePlan> {
  const plan: TimelinePlan = { writes: [], toOpen: [], toFinal: [], fromFinal: [], garbage: [] };
  for (const [id, list] of byMessage) {
    const before = existing.get(id);
    const folded = await foldMessage(id, list, before, deps);
    if (!folded) continue;
    const closed = isClosedStatus(folded.last.status);
    if (closed) {
      if (before && !before.open) plan.fromFinal.push(id);
      plan.toFinal.push(folded.last);
      plan.garbage.push(...openVersions(folded.last)); // what it had in the open collection
    } else {
      plan.toOpen.push(...folded.versions.map(openDoc));
    }
    plan.writes.push({ doc: folded.last, open: !closed });
  }
  return plan;
}

/** Says how far this batch may write (ahead of it, so that most batches need not move it). */
async function raiseHighWater(db: Db, collection: string, state: TimelineState, upTo: number) {
  if (upTo <= state.highWater) return;
  const mark = upTo + HIGH_WATER_AHEAD;
  await db
    .collection<CheckpointDoc>(mongoCheckpointCollection)
    .updateOne(
      { _id: highWaterId(timelineId, collection) },
      { $max: { position: mark } },
      { upsert: true },
    );
  state.highWater = mark;
}

/**
 * 3. say how far this batch may write, then write: finals replaced (rare: an
 * event after the end) are deleted first, so a crash leaves a document
 * missing (rebuilt later), never two of them
 */
async function writeTimelines(
  db: Db,
  collection: string,
  state: TimelineState,
  plan: TimelinePlan,
  upTo: number,
) {
  const open = db.collection<OpenDoc>(openTimelines(collection));
  const final = db.collection<TimelineDoc>(collection);
  const sweep =
    state.garbage.length + plan.garbage.length >= GARBAGE_MAX ||
    Date.now() - state.garbageSince >= GARBAGE_EVERY_MS;
  await raiseHighWater(db, collection, state, upTo);
  // one delete by _id each: FerretDB 1.x filters a $in by decoding every final document
  if (plan.fromFinal.length > 0) {
    await final.bulkWrite(
      plan.fromFinal.map((id) => ({ deleteOne: { filter: { _id: id } } })),
      { ordered: false },
    );
  }
  await Promise.all([
    insertIgnoringDuplicates(open, plan.toOpen),
    insertIgnoringDuplicates(final, plan.toFinal),
  ]);
  // the open versions of final messages, once their final documents are in
  state.garbage.push(...plan.garbage);
  if (sweep && state.garbage.length > 0) {
    await open.deleteMany({ _id: { $in: state.garbage } });
    state.garbage = [];
    state.garbageSince = Date.now();
  }
}

export const messageTimelines = mongoProjection({
  name: MESSAGE_TIMELINES,
  version: 1,
  indexes: [{ key: { tenantId: 1 }, name: 'ix_tenant' }],
  batchWindowMs: 150,
  parts: timelineCollections,
  concerns: (e) => e.type.startsWith('sms.') && isMessageStream(e.streamId),
  reset: (db, collection) => forgetTimelines(cacheKey(db, collection)),
  async applyDocs(db, collection, events, deps) {
    const byMessage = eventsByMessage(events);
    if (byMessage.size === 0) return;
    const open = db.collection<OpenDoc>(openTimelines(collection));
    const final = db.collection<TimelineDoc>(collection);
    const state = await timelineState(db, collection);
    if (state.docs.size > 100_000) state.docs.clear();
    const existing = await existingTimelines(state, byMessage, open, final);
    const plan = await planTimelines(byMessage, existing, deps);
    if (plan.writes.length === 0) return;
    try {
      await writeTimelines(db, collection, state, plan, events[events.length - 1]!.position);
    } catch (err) {
      // unsure what is stored now: forget, and let the retry read the documents
      forgetTimelines(cacheKey(db, collection));
      throw err;
    }
    for (const w of plan.writes) {
      if (w.open) state.docs.set(w.doc._id, w);
      else state.docs.delete(w.doc._id); // final: rarely touched again, read if it is
    }
  },
});
