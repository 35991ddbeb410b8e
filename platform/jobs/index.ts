// Where the job scheduler (jobs/scheduler.ts) keeps its locks, tick claims
// and run records in Redis, and the catalogue of jobs it schedules, so that
// the query service can show admins every job with its last runs without
// importing jobs/. Both sides build the keys here.
import { Cron } from 'croner';
import type { Redis } from 'ioredis';
import { lockInfo } from '../locks/index.ts';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'aborted';

export interface RunRecord {
  job: string;
  trigger: 'schedule' | 'manual';
  tick: string;
  startedAt: string;
  endedAt?: string;
  status: RunStatus;
  holder: string;
  token: number;
  result?: Record<string, unknown>;
  error?: string;
}

export interface JobListing {
  name: string;
  schedule: string;
  nextRun: string | null;
  lastRun: RunRecord | null;
  /** Who holds the job's lock right now (a run in progress), if anyone. */
  holder: string | null;
}

export function jobKeys(prefix: string, name: string) {
  return {
    lock: `${prefix}lock:job:${name}`,
    run: (tick: Date) => `${prefix}run:${name}:${tick.toISOString()}`,
    last: `${prefix}job:last:${name}`,
    history: `${prefix}job:runs:${name}`,
  };
}

/** `<prefix>job:schedules`: hash of job name → cron schedule, written by each scheduler at start. */
export const jobCatalogueKey = (prefix: string): string => `${prefix}job:schedules`;

/** Notes the jobs a scheduler runs (name → schedule), for readers that do not know them. */
export async function announceJobs(
  redis: Redis,
  prefix: string,
  jobs: readonly { name: string; schedule: string }[],
): Promise<void> {
  if (jobs.length === 0) return;
  await redis.hset(jobCatalogueKey(prefix), ...jobs.flatMap((j) => [j.name, j.schedule]));
}

/** Each job with its schedule, next run, last run and current lock holder. */
export async function listJobRuns(
  redis: Redis,
  prefix: string,
  jobs: readonly { name: string; schedule: string }[],
): Promise<JobListing[]> {
  return Promise.all(
    jobs.map(async (job) => {
      const keys = jobKeys(prefix, job.name);
      const [last, lock] = await Promise.all([
        redis.hget(keys.last, 'record'),
        lockInfo(redis, keys.lock),
      ]);
      let next: Date | null;
      try {
        next = new Cron(job.schedule, { timezone: 'UTC', paused: true }).nextRun();
      } catch {
        next = null; // a schedule this version cannot parse: no next run to show
      }
      return {
        name: job.name,
        schedule: job.schedule,
        nextRun: next ? next.toISOString() : null,
        lastRun: last ? (JSON.parse(last) as RunRecord) : null,
        holder: lock?.holder ?? null,
      };
    }),
  );
}

/** The last `limit` finished runs of a job, newest first. */
export async function runHistory(
  redis: Redis,
  prefix: string,
  name: string,
  limit: number,
): Promise<RunRecord[]> {
  const rows = await redis.lrange(jobKeys(prefix, name).history, 0, limit - 1);
  return rows.map((r) => JSON.parse(r) as RunRecord);
}

/** Every job a scheduler announced, with its last runs (newest first, at most `limit`). */
export async function readJobs(
  redis: Redis,
  prefix: string,
  limit: number,
): Promise<(JobListing & { runs: RunRecord[] })[]> {
  const catalogue = await redis.hgetall(jobCatalogueKey(prefix));
  const jobs = Object.entries(catalogue)
    .map(([name, schedule]) => ({ name, schedule }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const listed = await listJobRuns(redis, prefix, jobs);
  return Promise.all(
    listed.map(async (j) => ({ ...j, runs: await runHistory(redis, prefix, j.name, limit) })),
  );
}
