export type * from './types.ts';
export { WrongExpectedVersionError, InvalidEventError } from './errors.ts';
export { LONG_STREAM, MysqlEventStore, mysqlEventStoreSchema, type AppendStats } from './mysql.ts';
export { KurrentDbEventStore } from './kurrentdb.ts';
export { completeMetadata } from './metadata.ts';
export { validateEvent } from './validation.ts';
export { openEventStore } from './open.ts';
export { redisAppendWakes, wakeChannel, type AppendWakes } from './wakes.ts';
export { positionWaiters } from './positionWaiters.ts';
export {
  aggregateStream,
  readStream,
  readStreams,
  recorded,
  type Aggregated,
  type Recorded,
} from './typed.ts';
