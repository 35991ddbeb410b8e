// Projection lag at scrape time, in events (head − checkpoint) and in
// seconds (the age of the oldest event a projection has not applied yet).
import { collectedGauge, dropCollectors } from '../platform/metrics/index.ts';
import { parkedCounts } from './deadLetters.ts';
import { projectionsStatus } from './status.ts';
import type { ProjectorDeps } from './types.ts';

const NAMES = [
  'streaming_projection_lag_events',
  'streaming_projection_lag_seconds',
  'streaming_projection_dead_letters',
];

export function watchProjectionLag(deps: ProjectorDeps): { close(): void } {
  let last: Promise<{ projection: string; lag: number; seconds: number }[]> | undefined;
  let lastAt = 0;
  // both gauges are collected in one scrape: work it out once per second
  const status = () => {
    if (!last || Date.now() - lastAt > 1_000) {
      lastAt = Date.now();
      last = projectionsStatus(deps).then((rows) =>
        Promise.all(
          rows.map(async (r) => {
            if (r.lag === 0) return { projection: r.projection, lag: 0, seconds: 0 };
            const [next] = await deps.eventStore.readAll({ after: r.position, limit: 1 });
            const seconds = next ? Math.max(0, Date.now() - next.recordedAt.getTime()) / 1000 : 0;
            return { projection: r.projection, lag: r.lag, seconds };
          }),
        ),
      );
    }
    return last;
  };
  collectedGauge(
    {
      name: NAMES[0]!,
      help: 'Events in the event store a projection has not applied yet',
      labelNames: ['projection'] as const,
    },
    async (g) => {
      for (const r of await status()) g.set({ projection: r.projection }, r.lag);
    },
  );
  collectedGauge(
    {
      name: NAMES[1]!,
      help: 'Age in seconds of the oldest event a projection has not applied yet (0 when caught up)',
      labelNames: ['projection'] as const,
    },
    async (g) => {
      for (const r of await status()) g.set({ projection: r.projection }, r.seconds);
    },
  );
  collectedGauge(
    {
      name: NAMES[2]!,
      help: 'Events a projection could not apply and parked (dead-lettered), by projection',
      labelNames: ['projection'] as const,
    },
    async (g) => {
      // every projection, 0 when nothing is parked, so that a dashboard shows it
      const [parked, rows] = await Promise.all([parkedCounts(deps.mysql), status()]);
      for (const r of rows) g.set({ projection: r.projection }, parked.get(r.projection) ?? 0);
      for (const [projection, n] of parked) g.set({ projection }, n);
    },
  );
  return { close: () => dropCollectors(NAMES) };
}
