// `streaming projections status`: each projection's position and lag, its
// state as the running processes report it (progressing, lagging, stalled,
// standby; "not running" when no live process reports it), the processors'
// states, and the parked (dead-letter) events.
import { readSharedPipeline, type SharedPartReport } from '../platform/health/index.ts';
import { parkedCounts, parkedEvents, type ParkedEvent } from './deadLetters.ts';
import { liveTarget, projectionId, type ProjectorDeps } from './types.ts';
import { projections } from './registry.ts';
import { redisPrefixOf } from '../platform/config/index.ts';

export interface ProjectionStatus {
  projection: string;
  store: string;
  position: number;
  head: number;
  lag: number;
  /** As reported by the process running it (absent: none reports it). */
  state: string;
  parked: number;
}

export interface SystemStatus {
  projections: ProjectionStatus[];
  /** Processors and other parts reported by running processes (not projections). */
  processors: SharedPartReport[];
  parked: ParkedEvent[];
}

export async function projectionsStatus(deps: ProjectorDeps): Promise<ProjectionStatus[]> {
  return (await systemStatus(deps)).projections;
}

export async function systemStatus(deps: ProjectorDeps): Promise<SystemStatus> {
  const head = await deps.eventStore.headPosition();
  const reported = await readSharedPipeline(deps.redis, redisPrefixOf(deps)).catch(() => []);
  const counts = await parkedCounts(deps.mysql);
  const rows: ProjectionStatus[] = [];
  for (const p of projections) {
    const id = projectionId(p);
    // a read model not created yet is at 0
    const position = await p.checkpoint(deps, liveTarget(p)).catch(() => 0);
    const live = reported.find((r) => r.name === id && r.state !== 'standby');
    const standby = reported.find((r) => r.name === id);
    rows.push({
      projection: id,
      store: p.store,
      position,
      head,
      lag: Math.max(0, head - position),
      state: live ? describe(live) : standby ? 'standby' : 'not running',
      parked: counts.get(id) ?? 0,
    });
  }
  return {
    projections: rows,
    processors: reported.filter((r) => r.kind === 'processor'),
    parked: await parkedEvents(deps.mysql),
  };
}

function describe(r: SharedPartReport): string {
  if (r.state === 'lagging') return `lagging (${r.lag ?? '?'} behind)`;
  if (r.state === 'stalled') return `stalled ${r.idleSeconds} s${r.error ? `: ${r.error}` : ''}`;
  return r.state;
}

function table(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** The status as a table for a terminal. */
export function formatStatus(rows: readonly ProjectionStatus[]): string {
  return table(
    ['projection', 'store', 'position', 'head', 'lag', 'state', 'parked'],
    rows.map((r) => [
      r.projection,
      r.store,
      String(r.position),
      String(r.head),
      String(r.lag),
      r.state,
      String(r.parked),
    ]),
  );
}

/** Projections, processors and parked events, as `streaming projections status` prints them. */
export function formatSystemStatus(status: SystemStatus): string {
  const parts = [formatStatus(status.projections)];
  if (status.processors.length > 0) {
    parts.push(
      '',
      table(
        ['processor', 'state', 'position', 'lag', 'pending', 'process'],
        status.processors.map((r) => [
          r.name,
          describe(r),
          r.position === undefined ? '' : String(r.position),
          r.lag === undefined ? '' : String(r.lag),
          r.pending === undefined ? '' : String(r.pending),
          `${r.process} (pid ${r.pid})`,
        ]),
      ),
    );
  }
  if (status.parked.length > 0) {
    parts.push(
      '',
      `parked events (re-apply with: streaming projections retry <projection>):`,
      table(
        ['projection', 'position', 'type', 'stream', 'error'],
        status.parked.map((p) => [
          p.projection,
          String(p.position),
          p.type,
          p.streamId,
          (p.error.split('\n')[0] ?? '').slice(0, 120),
        ]),
      ),
    );
  }
  return parts.join('\n');
}
