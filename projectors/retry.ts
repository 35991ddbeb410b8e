// `streaming projections retry <name>`: re-applies the parked events of a
// projection (once the bug or the data that made it fail is fixed). A read
// model is a fold over every event in order, so an old event cannot be
// applied on its own after the newer ones: the projection is rebuilt blue/
// green (every event again, the parked ones in their place), and the parked
// events it applied are cleared. If one still fails, the rebuild stops, the
// live model stays as it was and the events stay parked.
import { clearParked, parkedEvents } from './deadLetters.ts';
import { projectionNamed } from './registry.ts';
import { rebuildProjection } from './replay.ts';
import { projectionId, type ProjectorDeps } from './types.ts';

export interface RetryResult {
  projection: string;
  /** Parked before the retry. */
  parked: number;
  /** Cleared because the rebuild applied them. */
  cleared: number;
  position: number;
}

export async function retryParked(
  deps: ProjectorDeps,
  name: string,
  options: { progress?: boolean } = {},
): Promise<RetryResult> {
  const projection = projectionNamed(name);
  if (!projection) throw new Error(`unknown projection "${name}"`);
  const id = projectionId(projection);
  const parked = await parkedEvents(deps.mysql, id);
  if (parked.length === 0) return { projection: id, parked: 0, cleared: 0, position: 0 };
  let position: number;
  try {
    ({ position } = await rebuildProjection(deps, projection, {
      progress: options.progress === true,
    }));
  } catch (err) {
    throw new Error(
      `${id}: the rebuild failed, so the ${parked.length} parked event(s) stay parked: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const cleared = await clearParked(deps.mysql, id, position);
  return { projection: id, parked: parked.length, cleared, position };
}
