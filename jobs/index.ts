// Scheduled jobs under a Redis lock: history retention (callback deliveries included) and the sweeper.
// The CLI calls startJobs (`streaming start jobs`), listJobs (`streaming jobs
// list`) and runJob (`streaming jobs run <name>`).
import type { Redis } from 'ioredis';
import type { Config } from '../platform/config/index.ts';
import type { MongoHandle, MysqlPool } from '../platform/clients/index.ts';
import type { EventStore } from '../platform/eventStore/index.ts';
import type { Logger } from '../platform/logger/index.ts';
import { AppError } from '../platform/errors/index.ts';
import { ensureJobTables } from './indexes.ts';
import { applyRetention } from './retention.ts';
import { pruneCallbackTables } from './callbackRetention.ts';
import { runSweeper } from './sweeper.ts';
import {
  listJobRuns,
  runJobOnce,
  startScheduler,
  type JobDefinition,
  type JobListing,
  type RunOutcome,
  type SchedulerDeps,
} from './scheduler.ts';
import { redisPrefixOf } from '../platform/config/index.ts';

export type {
  JobContext,
  JobDefinition,
  JobListing,
  RunOutcome,
  RunRecord,
  Scheduler,
  SchedulerDeps,
} from './scheduler.ts';
export { startScheduler, runTick, runJobOnce, listJobRuns, runHistory } from './scheduler.ts';
export { applyRetention, setTenantRetention, supplierLookupKey } from './retention.ts';
export type { RetentionResult } from './retention.ts';
export { pruneCallbackTables } from './callbackRetention.ts';
export type { CallbackRetentionResult } from './callbackRetention.ts';
export { runSweeper, SWEPT_STALE } from './sweeper.ts';
export type { SweeperResult } from './sweeper.ts';
export { ensureJobTables, catchUpIndex } from './indexes.ts';

export interface JobsDeps {
  config: Config;
  logger: Logger;
  eventStore: EventStore;
  mysql: MysqlPool;
  redis: Redis;
  mongo: MongoHandle;
  /** Prefix of the scheduler's Redis keys (locks, tick claims, run records; default: Config redis.prefix); tests use their own. */
  keyPrefix?: string;
  /** Lock holder name (default host:pid:random). */
  holder?: string;
  /** Prefix of the dispatcher's Redis look-ups that retention removes (default: Config redis.prefix). */
  redisPrefix?: string;
}

export const JOB_NAMES = ['retention', 'sweeper'] as const;
export type JobName = (typeof JOB_NAMES)[number];

/** The job table: name, schedule from config, and what a run does. */
export function jobDefinitions(deps: JobsDeps): JobDefinition[] {
  return [
    {
      name: 'retention',
      schedule: deps.config.jobs.retentionCron,
      run: async ({ signal, lock }) => {
        const stillHolder = () => lock.isCurrent();
        const result = await applyRetention(
          {
            pool: deps.mysql,
            eventStore: deps.eventStore,
            redis: deps.redis,
            mongo: deps.mongo.db,
            logger: deps.logger,
            defaultDays: deps.config.retention.days,
            redisPrefix: redisPrefixOf(deps),
          },
          { signal, stillHolder },
        );
        // the callback sender's finished deliveries, on a retention of their own
        const callbacks = await pruneCallbackTables(deps.mysql, {
          days: deps.config.retention.callbackDays,
          signal,
          stillHolder,
        });
        return { ...result, callbacks };
      },
    },
    {
      name: 'sweeper',
      schedule: deps.config.jobs.sweeperCron,
      run: ({ signal, lock }) =>
        runSweeper(
          {
            pool: deps.mysql,
            eventStore: deps.eventStore,
            logger: deps.logger,
            deadlineSeconds: deps.config.jobs.sweeperDeadlineSeconds,
          },
          { signal, stillHolder: () => lock.isCurrent() },
        ),
    },
  ];
}

function schedulerDeps(deps: JobsDeps): SchedulerDeps {
  return {
    redis: deps.redis,
    logger: deps.logger,
    leaseMs: deps.config.jobs.lockLeaseMs,
    keyPrefix: deps.keyPrefix ?? redisPrefixOf({ config: deps.config }),
    holder: deps.holder,
  };
}

/** Creates the jobs' tables and schedules every job; close() stops and waits for runs in progress. */
export async function startJobs(deps: JobsDeps): Promise<{ close(): Promise<void> }> {
  await ensureJobTables(deps.mysql);
  return startScheduler(schedulerDeps(deps), jobDefinitions(deps));
}

/** Each job with its schedule, next run, last run (result, holder, token) and current holder. */
export async function listJobs(deps: JobsDeps): Promise<JobListing[]> {
  return listJobRuns(schedulerDeps(deps), jobDefinitions(deps));
}

/**
 * Runs one job once, now, under the same lock as scheduled runs. Unknown name
 * → NOT_FOUND; a run in progress elsewhere → { status: 'skipped', reason: 'locked', holder }.
 */
export async function runJob(deps: JobsDeps, name: string): Promise<RunOutcome> {
  const job = jobDefinitions(deps).find((j) => j.name === name);
  if (!job) {
    throw new AppError('NOT_FOUND', `No job named "${name}" (jobs: ${JOB_NAMES.join(', ')}).`, {
      jobs: [...JOB_NAMES],
    });
  }
  await ensureJobTables(deps.mysql);
  return runJobOnce(schedulerDeps(deps), job);
}
