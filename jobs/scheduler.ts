// Runs each job on exactly one process at a time, however many processes run.
//
// On every cron tick each process:
//   1. tries the job's lock `lock:job:<name>` (fencing token + renewed lease);
//      if someone holds it, the tick is theirs or their run is still going;
//   2. claims the tick: SET NX `run:<name>:<tick>` — a second process that got
//      the lock after the first released it sees the claim and stands down,
//      so each scheduled tick runs exactly once;
//   3. records the run (start, end, result, holder, token) and runs the job
//      with the lock's AbortSignal: a process that loses its lease stops
//      between batches.
// `runJobOnce` (streaming jobs run <name>) takes the same lock without a tick.
import { Cron } from 'croner';
import { redisPrefixOf } from '../platform/config/index.ts';
import type { Redis } from 'ioredis';
import type { Logger } from '../platform/logger/index.ts';
import { defaultHolder, lockInfo, tryAcquireLock, type HeldLock } from '../platform/locks/index.ts';
import { counter, histogram, SLOW_BUCKETS } from '../platform/metrics/index.ts';
import {
  announceJobs,
  jobKeys,
  listJobRuns as listRuns,
  runHistory as history,
  type JobListing,
  type RunRecord,
} from '../platform/jobs/index.ts';

export type { JobListing, RunRecord, RunStatus } from '../platform/jobs/index.ts';
export { jobKeys } from '../platform/jobs/index.ts';

const jobRuns = counter({
  name: 'streaming_job_runs_total',
  help: 'Job runs that ended, by job and status (succeeded, failed, aborted)',
  labelNames: ['job', 'status'] as const,
});
const jobDuration = histogram({
  name: 'streaming_job_duration_seconds',
  help: 'How long job runs took, by job',
  labelNames: ['job'] as const,
  buckets: SLOW_BUCKETS,
});

export interface JobContext {
  /** Fires when the lease is lost; check it between batches (`signal.throwIfAborted()`). */
  readonly signal: AbortSignal;
  /** Fencing token of this run's lock. */
  readonly token: number;
  readonly lock: HeldLock;
  /** The scheduled tick, or the start time of a manual run. */
  readonly tick: Date;
  readonly logger: Logger;
}

export interface JobDefinition {
  readonly name: string;
  /** Cron expression (5 or 6 fields, UTC). */
  readonly schedule: string;
  /** Returns a small summary stored with the run. */
  run(ctx: JobContext): Promise<Record<string, unknown>>;
}

export interface SchedulerDeps {
  redis: Redis;
  logger: Logger;
  leaseMs: number;
  /** Prefix of every Redis key this scheduler writes (tests use their own). */
  keyPrefix?: string;
  holder?: string;
}

export type RunOutcome =
  | { status: 'ran'; record: RunRecord }
  | { status: 'skipped'; reason: 'locked' | 'already-run'; holder?: string };

const RUN_CLAIM_TTL_MS = 7 * 24 * 3600 * 1000;
const HISTORY = 100;

// Writes the last-run record only if no run with a higher fencing token wrote it since.
const RECORD = `
local current = redis.call('HGET', KEYS[1], 'token')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'record', ARGV[2])
if ARGV[3] == '1' then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
end
return 1`;

async function record(deps: SchedulerDeps, rec: RunRecord, final: boolean): Promise<void> {
  const keys = jobKeys(redisPrefixOf({ redisPrefix: deps.keyPrefix }), rec.job);
  await deps.redis.eval(
    RECORD,
    2,
    keys.last,
    keys.history,
    String(rec.token),
    JSON.stringify(rec),
    final ? '1' : '0',
    String(HISTORY),
  );
}

async function execute(
  deps: SchedulerDeps,
  job: JobDefinition,
  lock: HeldLock,
  tick: Date,
  trigger: RunRecord['trigger'],
): Promise<RunRecord> {
  const logger = deps.logger.child({ job: job.name, token: lock.token, tick: tick.toISOString() });
  const rec: RunRecord = {
    job: job.name,
    trigger,
    tick: tick.toISOString(),
    startedAt: new Date().toISOString(),
    status: 'running',
    holder: lock.holder,
    token: lock.token,
  };
  await record(deps, rec, false);
  logger.info('job started', { trigger });
  try {
    rec.result = await job.run({ signal: lock.signal, token: lock.token, lock, tick, logger });
    // A run whose lease was lost midway did not finish under the lock.
    rec.status = lock.signal.aborted && !(await lock.isCurrent()) ? 'aborted' : 'succeeded';
  } catch (err) {
    rec.status = lock.signal.aborted ? 'aborted' : 'failed';
    rec.error = err instanceof Error ? err.message : String(err);
    logger.warn('job did not finish', { status: rec.status, err: rec.error });
  }
  rec.endedAt = new Date().toISOString();
  jobRuns.inc({ job: job.name, status: rec.status });
  jobDuration.observe(
    { job: job.name },
    (Date.parse(rec.endedAt) - Date.parse(rec.startedAt)) / 1000,
  );
  await record(deps, rec, true).catch((err: unknown) =>
    logger.warn('could not record the job run', { err: String(err) }),
  );
  logger.info('job ended', { status: rec.status, result: rec.result });
  return rec;
}

/** One attempt at a scheduled tick: runs it here, or stands down if another process has it. */
export async function runTick(
  deps: SchedulerDeps,
  job: JobDefinition,
  tick: Date,
): Promise<RunOutcome> {
  const keys = jobKeys(redisPrefixOf({ redisPrefix: deps.keyPrefix }), job.name);
  const holder = deps.holder ?? defaultHolder();
  const lock = await tryAcquireLock(deps.redis, keys.lock, {
    leaseMs: deps.leaseMs,
    holder,
    onLost: (reason) => deps.logger.warn('job lock lost', { job: job.name, reason }),
  });
  if (!lock) {
    return {
      status: 'skipped',
      reason: 'locked',
      holder: (await lockInfo(deps.redis, keys.lock))?.holder,
    };
  }
  try {
    const claimed = await deps.redis.set(
      keys.run(tick),
      `${lock.token}|${holder}`,
      'PX',
      RUN_CLAIM_TTL_MS,
      'NX',
    );
    if (claimed !== 'OK') return { status: 'skipped', reason: 'already-run' };
    return { status: 'ran', record: await execute(deps, job, lock, tick, 'schedule') };
  } finally {
    await lock.release();
  }
}

/** Runs a job once now, by hand, under the same lock; skipped when a run holds it. */
export async function runJobOnce(deps: SchedulerDeps, job: JobDefinition): Promise<RunOutcome> {
  const keys = jobKeys(redisPrefixOf({ redisPrefix: deps.keyPrefix }), job.name);
  const lock = await tryAcquireLock(deps.redis, keys.lock, {
    leaseMs: deps.leaseMs,
    holder: deps.holder ?? defaultHolder(),
  });
  if (!lock) {
    return {
      status: 'skipped',
      reason: 'locked',
      holder: (await lockInfo(deps.redis, keys.lock))?.holder,
    };
  }
  try {
    return { status: 'ran', record: await execute(deps, job, lock, new Date(), 'manual') };
  } finally {
    await lock.release();
  }
}

export async function listJobRuns(
  deps: Pick<SchedulerDeps, 'redis' | 'keyPrefix'>,
  jobs: readonly JobDefinition[],
): Promise<JobListing[]> {
  return listRuns(deps.redis, redisPrefixOf({ redisPrefix: deps.keyPrefix }), jobs);
}

/** The last `limit` finished runs of a job, newest first. */
export async function runHistory(
  deps: Pick<SchedulerDeps, 'redis' | 'keyPrefix'>,
  name: string,
  limit = HISTORY,
): Promise<RunRecord[]> {
  return history(deps.redis, redisPrefixOf({ redisPrefix: deps.keyPrefix }), name, limit);
}

export interface Scheduler {
  close(): Promise<void>;
}

/** Starts one cron per job; close() stops the crons and waits for runs in progress. */
export function startScheduler(deps: SchedulerDeps, jobs: readonly JobDefinition[]): Scheduler {
  const holder = deps.holder ?? defaultHolder();
  const inFlight = new Set<Promise<unknown>>();
  const crons = jobs.map(
    (job) =>
      new Cron(job.schedule, { timezone: 'UTC', name: `job-${job.name}` }, (self: Cron) => {
        const current = self.currentRun() ?? new Date();
        const tick = new Date(Math.floor(current.getTime() / 1000) * 1000);
        const p = runTick({ ...deps, holder }, job, tick)
          .catch((err: unknown) =>
            deps.logger.error('job tick failed', { job: job.name, err: String(err) }),
          )
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }),
  );
  // the jobs and their schedules, for the admins' view in the query service
  void announceJobs(
    deps.redis,
    redisPrefixOf({ redisPrefix: deps.keyPrefix }),
    jobs.map((j) => ({ name: j.name, schedule: j.schedule })),
  ).catch((err: unknown) => deps.logger.warn('could not announce the jobs', { err: String(err) }));
  deps.logger.info('job scheduler started', {
    holder,
    jobs: jobs.map((j) => ({ name: j.name, schedule: j.schedule })),
  });
  return {
    async close() {
      for (const c of crons) c.stop();
      await Promise.allSettled([...inFlight]);
    },
  };
}
