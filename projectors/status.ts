// `streaming projections status`: each projection's position and lag.
import { liveTarget, projectionId, type ProjectorDeps } from './types.ts';
import { projections } from './registry.ts';

export interface ProjectionStatus {
  projection: string;
  store: string;
  position: number;
  head: number;
  lag: number;
}

export async function projectionsStatus(deps: ProjectorDeps): Promise<ProjectionStatus[]> {
  const head = await deps.eventStore.headPosition();
  const rows: ProjectionStatus[] = [];
  for (const p of projections) {
    // a read model not created yet is at 0
    const position = await p.checkpoint(deps, liveTarget(p)).catch(() => 0);
    rows.push({
      projection: projectionId(p),
      store: p.store,
      position,
      head,
      lag: Math.max(0, head - position),
    });
  }
  return rows;
}

/** The status as a table for a terminal. */
export function formatStatus(rows: readonly ProjectionStatus[]): string {
  const header = ['projection', 'store', 'position', 'head', 'lag'];
  const lines = rows.map((r) => [
    r.projection,
    r.store,
    String(r.position),
    String(r.head),
    String(r.lag),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
