// Everything the read side holds, for row-by-row and document-by-document comparison.
import type { Document } from 'mongodb';
import type { RowDataPacket } from 'mysql2/promise';
import { liveCollection, type ProjectorDeps } from '../../projectors/index.ts';
import { readModelDb, timelineCollections } from '../../platform/readModels/index.ts';

const tables = [
  ['message_history', 'message_id'],
  ['templates', 'template_id'],
  ['users', 'user_id'],
  ['inbound_messages', 'inbound_id'],
] as const;

export interface Snapshot {
  mysql: Record<string, RowDataPacket[]>;
  mongo: Record<string, unknown[]>;
  /** With mongoSince: audit records, and timelines of final messages, all of them. */
  mongoCounts?: Record<string, number>;
}

/**
 * The timelines as findTimeline answers them: a message's final document, or
 * else its latest open version (open versions carry messageId; those of final
 * messages wait for a bulk delete).
 */
export function readersView(docs: Document[]): Document[] {
  const final = new Map<string, Document>();
  const open = new Map<string, Document>();
  for (const doc of docs) {
    if (typeof doc.messageId !== 'string') final.set(String(doc._id), doc);
    else {
      const seen = open.get(doc.messageId);
      if (!seen || Number(seen.lastVersion) < Number(doc.lastVersion)) open.set(doc.messageId, doc);
    }
  }
  for (const [id, { messageId: _m, ...doc }] of open)
    if (!final.has(id)) final.set(id, { ...doc, _id: id });
  return [...final.values()];
}

/**
 * The live read models, or (with suffix) the build of that suffix. With
 * `mongoSince`, the Mongo documents are only those an event after that
 * position wrote (each audit record is one event's, each timeline names its
 * last event), and `mongoCounts` counts the audit records and the timelines
 * of final messages, all of them.
 */
export async function snapshot(
  deps: ProjectorDeps,
  suffix = '',
  options: { mongoSince?: number } = {},
): Promise<Snapshot> {
  const mysql: Snapshot['mysql'] = {};
  for (const [table, key] of tables) {
    const [rows] = await deps.mysql.query<RowDataPacket[]>(
      `SELECT * FROM \`${table}${suffix}\` ORDER BY \`${key}\``,
    );
    mysql[table] = rows.map((r) => ({ ...r }) as RowDataPacket);
  }
  const mongo: Snapshot['mongo'] = {};
  const counts: Record<string, number> = {};
  const since = options.mongoSince;
  for (const model of ['audit_log', 'message_timelines']) {
    const name = suffix === '' ? await liveCollection(deps.mongo.db, model) : `${model}${suffix}`;
    // a timeline sits in its open collection until the message is final
    const parts = model === 'message_timelines' ? timelineCollections(name) : [name];
    const home = readModelDb(deps.mongo.db, model);
    const docs = [];
    const filter =
      since === undefined
        ? {}
        : model === 'audit_log'
          ? { position: { $gt: since } }
          : { lastPosition: { $gt: since } };
    for (const part of parts) docs.push(...(await home.collection(part).find(filter).toArray()));
    // the last part is the model's own collection (timelines: the final ones)
    if (since !== undefined) {
      counts[model] = await home.collection(parts[parts.length - 1]!).countDocuments();
    }
    mongo[model] = (model === 'message_timelines' ? readersView(docs) : docs).sort((a, b) =>
      String(a._id) < String(b._id) ? -1 : 1,
    );
  }
  const out: Snapshot = { mysql, mongo };
  if (since !== undefined) out.mongoCounts = counts;
  return out;
}
