// What an operator looks at besides the suppliers (admins only, 403 for
// members):
//   GET /v1/pipeline  every processor and projection of every process, as
//                     each process last published it to Redis (state, position,
//                     lag in events and in seconds, pending work, parked events);
//   GET /v1/jobs      every scheduled job with its schedule, next run, lock
//                     holder and its last runs.
// Both read what the other processes publish (platform/health/shared.ts,
// platform/jobs), never the processes themselves.
import { Router } from 'express';
import { requireAdmin } from '../../platform/auth/index.ts';
import { readSharedPipeline } from '../../platform/health/index.ts';
import { validateQuery, validatedQuery } from '../../platform/http/index.ts';
import { readJobs } from '../../platform/jobs/index.ts';
import { jobsQuery, pipelineQuery } from '../../schemas/openapi/query.ts';
import type { QueryDeps } from '../readModels.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';

/** The scheduler's and the pipeline's key prefix: the system's (they ignore a test's redisPrefix). */
const systemPrefix = (deps: QueryDeps) => redisPrefixOf({ config: deps.config });

async function pipeline(deps: QueryDeps) {
  const head = await deps.eventStore.headPosition();
  const local = deps.pipeline
    ? deps.pipeline.report(head).map((r) => ({ ...r, process: 'query', pid: process.pid }))
    : [];
  // this process's own parts are in `local` already
  const mine = new Set(local.map((r) => r.name));
  const shared = (await readSharedPipeline(deps.redis, systemPrefix(deps))).filter(
    (r) => !(r.pid === process.pid && mine.has(r.name)),
  );
  // seconds behind: the age of the first event a part has not handled yet
  const ageAfter = new Map<number, number>();
  const secondsBehind = async (position: number | undefined, lag: number | undefined) => {
    if (position === undefined || !lag) return 0;
    if (!ageAfter.has(position)) {
      const [next] = await deps.eventStore.readAll({ after: position, limit: 1 });
      ageAfter.set(position, next ? Math.max(0, Date.now() - next.recordedAt.getTime()) / 1000 : 0);
    }
    return ageAfter.get(position)!;
  };
  const parts = await Promise.all(
    [...local, ...shared].map(async (r) => ({
      name: r.name,
      kind: r.kind,
      state: r.state,
      process: r.process,
      pid: r.pid,
      position: r.position ?? null,
      lag: r.lag ?? null,
      lagSeconds: await secondsBehind(r.position, r.lag),
      pending: r.pending ?? null,
      idleSeconds: r.idleSeconds,
      parked: r.parked ?? null,
      error: r.error ?? null,
    })),
  );
  return { head, at: new Date().toISOString(), parts };
}

export function operationsRouter(deps: QueryDeps): Router {
  const router = Router();
  router.get('/v1/pipeline', requireAdmin, validateQuery(pipelineQuery), async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(await pipeline(deps));
  });
  router.get('/v1/jobs', requireAdmin, validateQuery(jobsQuery), async (req, res) => {
    const q = validatedQuery<{ runs: number }>(req);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ items: await readJobs(deps.redis, systemPrefix(deps), q.runs) });
  });
  return router;
}
