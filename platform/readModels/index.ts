// Where the Mongo read models live, shared by the projectors that write them
// and the services and jobs that read or trim them.
//
// A blue/green rebuild swaps a model by rewriting one pointer document
// ({_id: model, collection}) in `read_model_pointers`: FerretDB 1.24 has no
// renameCollection with dropTarget.
//
// message_timelines keeps one document per message once it is final
// (delivered, undelivered, failed, cancelled) in `<live>`, and while it is in
// flight one document per stream version in `<live>_open`
// (`_id: <messageId>:<version>`, `messageId`), each the whole timeline as of
// that version. On FerretDB 1.24 (SQLite) an insert and a find by `_id`
// equality are cheap, but every update, delete or `$in` reads and decodes
// the whole collection (measured: one updateOne by `_id` among 10,000
// documents 314 ms, a findOne 5 ms). So the projector only inserts while a
// message is in flight, inserts its final document once, and deletes the
// open versions of final messages in bulk every few seconds; a reader looks
// in the final collection first, then walks the open versions.
import type { Db, Document } from 'mongodb';
import { MESSAGE_TIMELINES } from '../../contracts/index.ts';

export const READ_MODEL_POINTERS = 'read_model_pointers';

// message_timelines has a database of its own, beside the configured one:
// FerretDB keeps each database in its own SQLite file, and SQLite lets one
// writer at a time into a file, so the two busy Mongo projections would
// otherwise queue behind each other's inserts (audit_log's p99 lag at 4,600
// sends/s was 1.2-1.6 s sharing a file, 0.4 s apart). Its pointer and
// checkpoint live with it.
const ownDatabase: Record<string, string> = { message_timelines: 'timelines' };

/** The database that holds a Mongo read model, its pointer and its checkpoint. */
export function readModelDb(db: Db, model: string): Db {
  const own = ownDatabase[model];
  return own === undefined ? db : db.client.db(`${db.databaseName}_${own}`);
}

/** Drops the configured database and the read models' own databases beside it. */
export async function dropReadModelDatabases(db: Db): Promise<void> {
  for (const model of Object.keys(ownDatabase)) await readModelDb(db, model).dropDatabase();
  await db.dropDatabase();
}

/** The collection that currently holds a model's live documents (db: the configured database). */
export async function liveCollection(db: Db, model: string): Promise<string> {
  const pointer = await readModelDb(db, model)
    .collection<{ _id: string; collection: string }>(READ_MODEL_POINTERS)
    .findOne({ _id: model });
  return pointer?.collection ?? model;
}

/** The companion collection of a timelines collection that holds messages still in flight. */
export const openTimelines = (collection: string): string => `${collection}_open`;

/** Both collections of a timelines collection: in flight, then final. */
export const timelineCollections = (collection: string): [string, string] => [
  openTimelines(collection),
  collection,
];

/** The id of a message's open timeline document as of a stream version. */
export const openTimelineId = (messageId: string, version: number): string =>
  `${messageId}:${version}`;

/** Open versions probed per round trip by findTimeline. */
const PROBE = 4;

/** A message's timeline document as the query side reads it. */
export interface TimelineDocument extends Document {
  _id: string;
  states?: unknown[];
  attempts?: unknown[];
}

/** An open version of it: `_id` is openTimelineId, `messageId` the message. */
interface OpenTimelineDocument extends Document {
  _id: string;
  messageId: string;
}

/** A message's timeline document, wherever it is now (db: the configured database). */
export async function findTimeline(
  db: Db,
  collection: string,
  messageId: string,
): Promise<TimelineDocument | null> {
  const home = readModelDb(db, MESSAGE_TIMELINES);
  const final = home.collection<TimelineDocument>(collection);
  const open = home.collection<OpenTimelineDocument>(openTimelines(collection));
  const inFinal = () => final.findOne({ _id: messageId });
  const done = await inFinal();
  if (done) return done;
  // the latest open version: versions 0, 1, … are contiguous until the message is final
  let latest: OpenTimelineDocument | null = null;
  for (let from = 0; ; from += PROBE) {
    const found = await Promise.all(
      Array.from({ length: PROBE }, (_, i) =>
        open.findOne({ _id: openTimelineId(messageId, from + i) }),
      ),
    );
    const gap = found.indexOf(null);
    const last = gap === -1 ? found[PROBE - 1] : found[gap - 1];
    if (last) latest = last;
    if (gap !== -1) break;
  }
  if (!latest) return inFinal(); // it may have just moved
  const { messageId: id, ...doc } = latest;
  return { ...doc, _id: id };
}

const indexUse = new WeakMap<Db, Promise<boolean>>();

/**
 * Whether the server's queries use secondary indexes. FerretDB 1.x does not:
 * its SQLite backend pushes down nothing but an _id equality (with an SQL
 * expression its own _id index does not match), and its PostgreSQL backend
 * answered _id look-ups just as slowly in our measurement. There an index
 * only slows every insert; MongoDB and FerretDB 2 use them.
 */
export function serverUsesIndexes(db: Db): Promise<boolean> {
  let known = indexUse.get(db);
  if (!known) {
    known = db
      .admin()
      .command({ buildInfo: 1 })
      .then((info) => !/^v?1\./.test(String(info.ferretdbVersion ?? '')))
      .catch(() => true);
    indexUse.set(db, known);
  }
  return known;
}
