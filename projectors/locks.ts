// The projectors' MySQL named locks (platform/locks takes and releases them): one active
// instance per projection across processes, held on a dedicated connection, and a second,
// short lock per batch that lets a replay pause the live projector while it swaps read
// models. Both are scoped to the database whose read models they guard.
import { DATABASE_SCOPED_NAME_SQL, type MysqlLockName } from '../platform/locks/index.ts';

const scoped = (name: string): MysqlLockName => ({
  nameSql: DATABASE_SCOPED_NAME_SQL,
  params: [name],
});

export const instanceLock = (id: string): MysqlLockName => scoped(`projection:${id}`);
export const applyLock = (id: string): MysqlLockName => scoped(`projection-apply:${id}`);
