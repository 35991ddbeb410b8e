// What the query service reads and how far each read model has got. The
// projectors (another process, another folder) own these names; they are
// repeated here because the query side may only import schemas and platform.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Config } from '../platform/config/index.ts';
import type { MongoHandle, MysqlPool } from '../platform/clients/index.ts';
import { readCheckpoints } from '../platform/checkpoints/index.ts';
import { AppError } from '../platform/errors/index.ts';
import type { EventStore } from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import type { Pipeline } from '../platform/health/index.ts';
import {
  liveCollection as liveMongoCollection,
  readModelDb,
} from '../platform/readModels/index.ts';
import {
  MONGO_CHECKPOINT_COLLECTION,
  MYSQL_READ_MODELS,
  type ReadModel,
} from '../contracts/index.ts';

export interface QueryDeps {
  config: Config;
  logger: Logger;
  eventStore: EventStore;
  mysql: MysqlPool;
  redis: Redis;
  mongo: MongoHandle;
  /** Prefix of the command service's Redis keys (the session copies). Default: Config redis.prefix. */
  redisPrefix?: string | undefined;
  /** The processors and projections of this process, reported by /readyz and /healthz/pipeline. */
  pipeline?: Pipeline;
}

export type { ReadModel };

const mysqlModels = new Set<ReadModel>(MYSQL_READ_MODELS);
const version: Record<ReadModel, number> = {
  message_history: 1,
  templates: 1,
  signatures: 1,
  users: 1,
  inbound_messages: 1,
  tenants: 1,
  opt_outs: 1,
  audit_log: 1,
  message_timelines: 1,
};

/** The Mongo collection holding a model now (a rebuild swaps a pointer document). */
export const liveCollection = (db: Db, model: ReadModel): Promise<string> =>
  liveMongoCollection(db, model);

/** Checkpoint of each read model: the position of the last event it has applied. */
export async function readModelPositions(
  deps: Pick<QueryDeps, 'mysql' | 'mongo'>,
  models: readonly ReadModel[],
): Promise<Map<ReadModel, number>> {
  const out = new Map<ReadModel, number>();
  const inMysql = models.filter((m) => mysqlModels.has(m));
  if (inMysql.length > 0) {
    const names = inMysql.map((m) => `${m}@${version[m]}`);
    const positions = await readCheckpoints(deps.mysql, names).catch((err: { code?: string }) => {
      if (err.code === 'ER_NO_SUCH_TABLE') return new Map<string, number>();
      throw err;
    });
    for (const m of inMysql) out.set(m, positions.get(`${m}@${version[m]}`) ?? 0);
  }
  for (const m of models.filter((x) => !mysqlModels.has(x))) {
    const collection = await liveCollection(deps.mongo.db, m);
    const doc = await readModelDb(deps.mongo.db, m)
      .collection<{ _id: string; position: number }>(MONGO_CHECKPOINT_COLLECTION)
      .findOne({ _id: `${m}@${version[m]}:${collection}` });
    out.set(m, doc?.position ?? 0);
  }
  return out;
}

/**
 * Read-your-writes: waits until every model has applied `after` (the position
 * the command API returned), at most config.query.readWaitMs; then fails
 * with 503 READ_MODEL_LAGGING and Retry-After. A position beyond the event
 * store's head answers 400 POSITION_AHEAD_OF_STORE at once.
 */
export async function waitForReadModels(
  deps: Pick<QueryDeps, 'mysql' | 'mongo' | 'config' | 'eventStore'>,
  models: readonly ReadModel[],
  after: number | undefined,
): Promise<void> {
  if (after === undefined || after <= 0) return;
  const deadline = Date.now() + deps.config.query.readWaitMs;
  let headChecked = false;
  for (;;) {
    const positions = await readModelPositions(deps, models);
    const behind = [...positions].filter(([, p]) => p < after);
    if (behind.length === 0) return;
    if (!headChecked) {
      // a position the event store has not reached is a caller's mistake: no read model ever gets there
      const head = await deps.eventStore.headPosition();
      if (after > head) {
        throw new AppError(
          'POSITION_AHEAD_OF_STORE',
          `after=${after} is beyond the event store's last position (${head}); pass a position the command API returned.`,
          { after, head },
        );
      }
      headChecked = true;
    }
    if (Date.now() >= deadline) {
      throw new AppError(
        'READ_MODEL_LAGGING',
        `The read model has not reached position ${after} yet (it is at ${Math.min(...behind.map(([, p]) => p))}); retry shortly.`,
        { after, positions: Object.fromEntries(positions) },
        { 'Retry-After': '1' },
      );
    }
    await sleep(Math.min(25, Math.max(1, deadline - Date.now())));
  }
}
