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
import type { Db, Document } from 'mongodb';
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import { maskPayload } from './masking.ts';
import type { Projection, ProjectorDeps, Target } from './types.ts';

export const pointerCollection = 'read_model_pointers';
export const mongoCheckpointCollection = 'projection_checkpoints';

type Data = Record<string, unknown>;
interface Pointer {
  _id: string;
  collection: string;
}
interface CheckpointDoc {
  _id: string;
  position: number;
}

/** The collection that currently holds a model's live documents. */
export async function liveCollection(db: Db, model: string): Promise<string> {
  const pointer = await db.collection<Pointer>(pointerCollection).findOne({ _id: model });
  return pointer?.collection ?? model;
}

async function collectionOf(db: Db, model: string, target: Target): Promise<string> {
  return target.suffix === '' ? liveCollection(db, model) : `${model}${target.suffix}`;
}

const checkpointId = (id: string, collection: string) => `${id}:${collection}`;

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
  indexes: { key: Record<string, 1 | -1>; name: string }[];
  /** Forgets what is remembered of a collection (a new active instance starts from the store). */
  reset?(collection: string): void;
  batchWindowMs?: number;
  applyDocs(
    db: Db,
    collection: string,
    events: RecordedEvent[],
    deps: ProjectorDeps,
  ): Promise<void>;
}

function mongoProjection(model: MongoModel): Projection {
  const id = `${model.name}@${model.version}`;
  return {
    name: model.name,
    version: model.version,
    store: 'mongo',
    ...(model.batchWindowMs === undefined ? {} : { batchWindowMs: model.batchWindowMs }),
    async prepare(deps, target) {
      const collection = await collectionOf(deps.mongo.db, model.name, target);
      model.reset?.(collection);
      const existing = await deps.mongo.db.listCollections({ name: collection }).toArray();
      if (existing.length === 0) await deps.mongo.db.createCollection(collection);
      for (const index of model.indexes) {
        await deps.mongo.db.collection(collection).createIndex(index.key, { name: index.name });
      }
    },
    async checkpoint(deps, target) {
      const collection = await collectionOf(deps.mongo.db, model.name, target);
      return readCheckpoint(deps.mongo.db, id, collection);
    },
    async apply(deps, target, events, upTo) {
      const db = deps.mongo.db;
      const collection = await collectionOf(db, model.name, target);
      const checkpoint = await readCheckpoint(db, id, collection);
      if (upTo <= checkpoint) return;
      const fresh = events.filter((e) => e.position > checkpoint);
      if (fresh.length > 0) await model.applyDocs(db, collection, fresh, deps);
      await writeCheckpoint(db, id, collection, upTo);
    },
    async swap(deps, build) {
      const db = deps.mongo.db;
      const old = await liveCollection(db, model.name);
      const next = `${model.name}${build.suffix}`;
      await db
        .collection<Pointer>(pointerCollection)
        .updateOne({ _id: model.name }, { $set: { collection: next } }, { upsert: true });
      if (old !== next) {
        await db
          .collection(old)
          .drop()
          .catch(() => undefined);
        await db
          .collection<CheckpointDoc>(mongoCheckpointCollection)
          .deleteOne({ _id: checkpointId(id, old) });
      }
    },
    async discard(deps, build) {
      const collection = `${model.name}${build.suffix}`;
      await deps.mongo.db
        .collection(collection)
        .drop()
        .catch(() => undefined);
      await deps.mongo.db
        .collection<CheckpointDoc>(mongoCheckpointCollection)
        .deleteOne({ _id: checkpointId(id, collection) });
    },
  };
}

// audit_log ---------------------------------------------------------------
const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : undefined;

/** The tenant an event names itself: tenantId, or the user for user and key events. */
function directTenant(event: RecordedEvent): string | undefined {
  const d = event.data as Data;
  return (
    text(d.tenantId) ?? (/^(user|username|apikey)\./.test(event.type) ? text(d.userId) : undefined)
  );
}

// Tenant of each stream (from its first event), per collection, remembered between batches.
const streamTenants = new Map<string, Map<string, string | null>>();

async function resolveTenants(db: Db, collection: string, events: RecordedEvent[]) {
  let known = streamTenants.get(collection);
  if (!known || known.size > 200_000) {
    known = new Map();
    streamTenants.set(collection, known);
  }
  const lookup = (e: RecordedEvent): string | undefined => {
    if (e.type === 'verification.issued.v1') return `message-${String((e.data as Data).messageId)}`;
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
  if (missing.size > 0) {
    const docs = await db
      .collection(collection)
      .find(
        { streamId: { $in: [...missing] }, version: 0 },
        { projection: { streamId: 1, tenantId: 1 } },
      )
      .toArray();
    for (const doc of docs) known.set(String(doc.streamId), text(doc.tenantId) ?? null);
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
  name: 'audit_log',
  version: 1,
  reset: (collection) => void streamTenants.delete(collection),
  indexes: [
    { key: { position: 1 }, name: 'ix_position' },
    { key: { tenantId: 1, position: 1 }, name: 'ix_tenant_position' },
    { key: { streamId: 1, version: 1 }, name: 'ix_stream_version' },
  ],
  async applyDocs(db, collection, events) {
    const tenants = await resolveTenants(db, collection, events);
    const docs = events.map((e, i) => auditDocument(e, tenants[i] ?? null));
    // independent documents: written in parallel chunks, the checkpoint after all of them
    const chunk = Math.max(250, Math.ceil(docs.length / 4));
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < docs.length; i += chunk) {
      writes.push(
        db
          .collection(collection)
          .insertMany(docs.slice(i, i + chunk), { ordered: false })
          .catch((err: unknown) => {
            if (!isDuplicateOnly(err)) throw err; // an event already recorded: nothing to do
          }),
      );
    }
    await Promise.all(writes);
  },
});

// message_timelines -------------------------------------------------------
const FINAL = new Set(['delivered', 'undelivered', 'failed']);
const STATUS: Record<string, string> = {
  'sms.accepted.v1': 'accepted',
  'sms.submitted.v1': 'submitted',
  'sms.submission-uncertain.v1': 'uncertain',
  'sms.failed.v1': 'failed',
  'sms.delivered.v1': 'delivered',
  'sms.undelivered.v1': 'undelivered',
};
const OUTCOME: Record<string, string> = {
  'sms.submitted.v1': 'submitted',
  'sms.failed-over.v1': 'rejected',
  'sms.retry-scheduled.v1': 'retry-scheduled',
  'sms.submission-uncertain.v1': 'uncertain',
  'sms.failed.v1': 'failed',
};

function attemptOf(e: RecordedEvent): Document | undefined {
  const d = e.data as Data;
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
    const d = e.data as Data;
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
    const next = STATUS[e.type];
    if (next !== undefined && !(out.states.length > 0 && FINAL.has(out.status))) {
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

const timelineCache = new Map<string, Map<string, TimelineDoc>>();

// FerretDB 1.24 (SQLite) applies an update in ~10 ms and a batch of updates
// far slower, while deleting and inserting 200 documents takes ~100 ms. So a
// batch reads the documents it touches, folds the new events in memory, and
// replaces them with one deleteMany and one insertMany. The single active
// instance (the projection lock) makes the read-then-write safe; the stored
// lastVersion makes a redelivered event a no-op; and a document found missing
// or behind (a crash between the delete and the insert) is rebuilt from its
// stream in the event store.
export const messageTimelines = mongoProjection({
  name: 'message_timelines',
  version: 1,
  indexes: [{ key: { tenantId: 1 }, name: 'ix_tenant' }],
  // each batch costs a scan on FerretDB: gather more events per batch
  batchWindowMs: 250,
  reset: (collection) => void timelineCache.delete(collection),
  async applyDocs(db, collection, events, deps) {
    const byMessage = new Map<string, RecordedEvent[]>();
    for (const e of events) {
      if (!e.type.startsWith('sms.') || !e.streamId.startsWith('message-')) continue;
      const id = String((e.data as Data).messageId);
      const list = byMessage.get(id) ?? [];
      list.push(e);
      byMessage.set(id, list);
    }
    if (byMessage.size === 0) return;
    const coll = db.collection<TimelineDoc>(collection);
    // documents this (single active) instance wrote are remembered: no read before the write
    let cache = timelineCache.get(collection);
    if (!cache || cache.size > 100_000) {
      cache = new Map();
      timelineCache.set(collection, cache);
    }
    const existing = new Map<string, TimelineDoc>();
    const unknown: string[] = [];
    for (const id of byMessage.keys()) {
      const cached = cache.get(id);
      if (cached) existing.set(id, cached);
      else unknown.push(id);
    }
    if (unknown.length > 0) {
      for (const doc of await coll.find({ _id: { $in: unknown } }).toArray())
        existing.set(doc._id, doc);
    }
    const replaced: string[] = [];
    const writes: TimelineDoc[] = [];
    for (const [id, list] of byMessage) {
      const doc = existing.get(id);
      let seen = doc?.lastVersion ?? -1;
      const fresh = list.filter((e) => {
        if (e.streamVersion <= seen) return false; // seen before, or twice in this batch
        seen = e.streamVersion;
        return true;
      });
      if (fresh.length === 0) continue;
      let next: TimelineDoc | undefined;
      if (fresh[0]!.streamVersion === (doc?.lastVersion ?? -1) + 1) {
        next = foldTimeline(doc, fresh);
      } else {
        // a gap: rebuild this one document from its stream
        const last = fresh[fresh.length - 1]!.streamVersion;
        const stream = await deps.eventStore.readStream(`message-${id}`, { limit: last + 1 });
        next = foldTimeline(
          undefined,
          stream.filter((e) => e.streamVersion <= last),
        );
      }
      if (!next) continue;
      if (doc) replaced.push(id);
      writes.push(next);
    }
    try {
      if (replaced.length > 0) await coll.deleteMany({ _id: { $in: replaced } });
      if (writes.length > 0) await coll.insertMany(writes, { ordered: false });
    } catch (err) {
      // unsure what is stored now: forget, and let the batch be retried from the documents
      timelineCache.delete(collection);
      throw err;
    }
    for (const doc of writes) cache.set(doc._id, doc);
  },
});
