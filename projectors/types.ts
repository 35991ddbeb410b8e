// What every projection is: a named, versioned read model over the event
// store, with its checkpoint in the same store as its rows.
import type { Redis } from 'ioredis';
import type { Config } from '../platform/config/index.ts';
import type { MongoHandle, MysqlPool } from '../platform/clients/index.ts';
import type { EventStore, RecordedEvent } from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import type { Pipeline } from '../platform/health/index.ts';

export interface ProjectorDeps {
  config: Config;
  logger: Logger;
  eventStore: EventStore;
  mysql: MysqlPool;
  redis: Redis;
  mongo: MongoHandle;
  /** Prefix of every Redis key written here (default: Config redis.prefix); tests use their own. */
  redisPrefix?: string;
  /** Where each projection reports its progress for readiness (none: not reported). */
  pipeline?: Pipeline;
}

/**
 * Where a build writes: the live read model (suffix '') or a blue/green build
 * (suffix `__b<id>`), and the name its checkpoint is kept under.
 */
export interface Target {
  suffix: string;
  checkpoint: string;
}

export interface Projection {
  /** e.g. `message_history` */
  name: string;
  version: number;
  store: 'mysql' | 'mongo';
  /** How long the live runner gathers events into one batch, when it should differ from the default. */
  batchWindowMs?: number;
  /**
   * Whether an event changes this read model (default: every event may). A
   * batch with none of them only moves the checkpoint, and the live runner
   * writes that at most every few hundred milliseconds.
   */
  concerns?(event: RecordedEvent): boolean;
  /** Creates the tables, collections and indexes of a target (idempotent). */
  prepare(deps: ProjectorDeps, target: Target): Promise<void>;
  /** Position the target has applied up to. */
  checkpoint(deps: ProjectorDeps, target: Target): Promise<number>;
  /**
   * Applies a batch in global order and moves the checkpoint to `upTo` (the
   * last position read, even when no event in the batch concerns this
   * projection), atomically for its store. Events at or below the checkpoint
   * are ignored, so a redelivery changes nothing.
   */
  apply(deps: ProjectorDeps, target: Target, events: RecordedEvent[], upTo: number): Promise<void>;
  /** Makes a finished build the live read model and drops the old one. */
  swap(deps: ProjectorDeps, build: Target): Promise<void>;
  /** Removes an unfinished build. */
  discard(deps: ProjectorDeps, build: Target): Promise<void>;
}

export const projectionId = (p: Pick<Projection, 'name' | 'version'>): string =>
  `${p.name}@${p.version}`;

export const liveTarget = (p: Projection): Target => ({ suffix: '', checkpoint: projectionId(p) });

export function buildTarget(p: Projection, buildId: string): Target {
  return { suffix: `__b${buildId}`, checkpoint: `${projectionId(p)}#${buildId}` };
}
