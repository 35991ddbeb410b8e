// The projectors: checkpointed subscriptions that build the read models, and
// their blue/green rebuilds.
import { projections } from './registry.ts';
import { runProjection, type RunnerOptions, type RunningProjection } from './runner.ts';
import type { ProjectorDeps } from './types.ts';

export { projections, projectionNamed } from './registry.ts';
export { runProjection, type RunnerOptions, type RunningProjection } from './runner.ts';
export {
  replayCommand,
  rebuildProjection,
  replayLimits,
  type ReplayOptions,
  type ReplayResult,
} from './replay.ts';
export {
  projectionsStatus,
  systemStatus,
  formatStatus,
  formatSystemStatus,
  type ProjectionStatus,
  type SystemStatus,
} from './status.ts';
export { retryParked, type RetryResult } from './retry.ts';
export { parkedEvents, parkEvent, parkedTable, type ParkedEvent } from './deadLetters.ts';
export { liveCollection, pointerCollection } from './mongoModels.ts';
export { maskPayload } from './masking.ts';
export type { Projection, ProjectorDeps, Target } from './types.ts';
export { projectionId, liveTarget, buildTarget } from './types.ts';

export interface RunningProjectors {
  projections: RunningProjection[];
  /** Resolves once every projection has applied `position` (false on timeout). */
  waitFor(position: number, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Starts every projection (or those named) in this process; each waits for its instance lock. */
export function startProjectors(
  deps: ProjectorDeps,
  options: RunnerOptions & { only?: readonly string[] } = {},
): RunningProjectors {
  const chosen = options.only
    ? projections.filter((p) => options.only!.includes(p.name))
    : projections;
  const running = chosen.map((p) => runProjection(p, deps, options));
  return {
    projections: running,
    async waitFor(position, timeoutMs) {
      const results = await Promise.all(running.map((r) => r.waitFor(position, timeoutMs)));
      return results.every(Boolean);
    },
    async close() {
      await Promise.all(running.map((r) => r.close()));
    },
  };
}
