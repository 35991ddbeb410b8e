// Blue/green rebuilds: replay the event store into new tables or collections
// (suffix __b<build id>) while the running system keeps serving the old read
// model, then, holding the projection's apply lock (the live projector pauses
// between batches), catch up the last events and swap atomically.
import { randomBytes } from 'node:crypto';
import cliProgress from 'cli-progress';
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import { createLimitReplay } from '../platform/rateLimits/index.ts';
import { withMysqlLock } from '../platform/locks/index.ts';
import { applyLock } from './locks.ts';
import { projectionNamed, projections } from './registry.ts';
import {
  buildTarget,
  projectionId,
  type Projection,
  type ProjectorDeps,
  type Target,
} from './types.ts';

export interface ReplayOptions {
  /** A projection name, `all`, or `limits` (the rate-limit counters). */
  projection: string;
  /** Events after this position only (default 0: a full rebuild). */
  from?: number;
  /** Show a progress bar on stderr. */
  progress?: boolean;
  /** Events read per page (default 5000). */
  pageSize?: number;
  /** Build but do not swap (tests compare the build with the live model). */
  swap?: boolean;
  /** The build's id (default: time and random); the build lives in `<table>__b<id>`. */
  buildId?: string;
}

export interface ReplayResult {
  projection: string;
  events: number;
  position: number;
  ms: number;
  eventsPerSecond: number;
  /** Set when swap: false: the build left in place. */
  build?: Target;
}

function bar(name: string, total: number, enabled: boolean) {
  if (!enabled) return undefined;
  const b = new cliProgress.SingleBar(
    {
      format: `${name.padEnd(18)} [{bar}] {percentage}% | {value}/{total} events | {speed} events/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  b.start(Math.max(total, 1), 0, { speed: 0 });
  return b;
}

/** Applies every event after `after` up to the head to target; returns events read and last position. */
async function catchUp(
  deps: ProjectorDeps,
  projection: Projection,
  target: Target,
  after: number,
  pageSize: number,
  onProgress: (events: number) => void,
): Promise<{ events: number; position: number }> {
  let position = after;
  let events = 0;
  let next: Promise<RecordedEvent[]> = deps.eventStore.readAll({
    after: position,
    limit: pageSize,
  });
  for (;;) {
    const page = await next;
    if (page.length === 0) return { events, position };
    const last = page[page.length - 1]!.position;
    // read the next page while this one is written
    next = deps.eventStore.readAll({ after: last, limit: pageSize });
    await projection.apply(deps, target, page, last);
    position = last;
    events += page.length;
    onProgress(events);
  }
}

/** Rebuilds one projection blue/green. */
export async function rebuildProjection(
  deps: ProjectorDeps,
  projection: Projection,
  options: Omit<ReplayOptions, 'projection'> = {},
): Promise<ReplayResult> {
  const from = options.from ?? 0;
  const pageSize = options.pageSize ?? 5000;
  const id = projectionId(projection);
  const build = buildTarget(
    projection,
    options.buildId ?? `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`,
  );
  const started = performance.now();
  const head = await deps.eventStore.headPosition();
  const progress = bar(projection.name, head - from, options.progress === true);
  const report = (n: number) => {
    const s = (performance.now() - started) / 1000;
    progress?.update(Math.min(n, progress.getTotal()), {
      speed: Math.round(n / Math.max(s, 0.001)),
    });
  };
  await projection.prepare(deps, build);
  try {
    // the bulk, while the live model keeps serving
    const first = await catchUp(deps, projection, build, from, pageSize, report);
    let events = first.events;
    let position = first.position;
    if (options.swap === false) {
      progress?.stop();
      const ms = performance.now() - started;
      return { projection: id, events, position, ms, eventsPerSecond: events / (ms / 1000), build };
    }
    // the tail and the swap, with the live projector paused between batches
    await withMysqlLock(deps.mysql, { ...applyLock(id), waitSeconds: 60 }, async () => {
      const rest = await catchUp(deps, projection, build, position, pageSize, (n) =>
        report(events + n),
      );
      events += rest.events;
      position = rest.position;
      await projection.swap(deps, build);
    });
    progress?.update(progress.getTotal());
    progress?.stop();
    const ms = performance.now() - started;
    deps.logger.info('projection rebuilt', {
      projection: id,
      events,
      position,
      ms: Math.round(ms),
    });
    return { projection: id, events, position, ms, eventsPerSecond: events / (ms / 1000) };
  } catch (err) {
    progress?.stop();
    await projection.discard(deps, build).catch(() => undefined);
    throw err;
  }
}

/**
 * `streaming replay <projection|all|limits> [--from <position>]`.
 * `limits` re-applies the rate-limit counters of the current windows from sms.accepted events.
 */
export async function replayCommand(
  deps: ProjectorDeps,
  options: ReplayOptions & { limitsPrefix?: string },
): Promise<ReplayResult[]> {
  if (options.projection === 'limits') return [await replayLimits(deps, options)];
  const chosen =
    options.projection === 'all' ? [...projections] : [projectionNamed(options.projection)];
  if (chosen.some((p) => p === undefined)) {
    // lookups: the dispatcher's Redis look-ups, rebuilt by the CLI itself
    const names = ['all', 'limits', 'lookups', ...projections.map((p) => p.name)].join(', ');
    throw new Error(`unknown projection "${options.projection}"; choose one of: ${names}`);
  }
  const results: ReplayResult[] = [];
  for (const p of chosen as Projection[]) results.push(await rebuildProjection(deps, p, options));
  return results;
}

/** Rebuilds the Redis rate-limit counters of the current windows from sms.accepted events. */
export async function replayLimits(
  deps: ProjectorDeps,
  options: Omit<ReplayOptions, 'projection'> & { now?: number; limitsPrefix?: string } = {},
): Promise<ReplayResult> {
  const started = performance.now();
  const replay = createLimitReplay(options.now ?? Date.now(), {
    ...(options.limitsPrefix === undefined ? {} : { prefix: options.limitsPrefix }),
  });
  const head = await deps.eventStore.headPosition();
  const from = options.from ?? 0;
  const progress = bar('limits', head - from, options.progress === true);
  let position = from;
  let events = 0;
  for (;;) {
    const page = await deps.eventStore.readAll({
      after: position,
      limit: options.pageSize ?? 5000,
    });
    if (page.length === 0) break;
    replay.add(page);
    position = page[page.length - 1]!.position;
    events += page.length;
    progress?.update(Math.min(events, progress.getTotal()), {
      speed: Math.round(events / ((performance.now() - started) / 1000)),
    });
  }
  // counters are raised to the replayed counts, never added to: safe to run again
  await replay.apply(deps.redis);
  progress?.stop();
  const ms = performance.now() - started;
  return { projection: 'limits', events, position, ms, eventsPerSecond: events / (ms / 1000) };
}
