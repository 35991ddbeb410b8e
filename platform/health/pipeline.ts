// What each long-running part of this process (a processor, a projection)
// is doing, for /readyz, /healthz/pipeline and `streaming projections
// status`: progressing, lagging (how far), stalled (no progress for 30 s
// while there is work) or standby (another instance holds its lock).
export type PartState = 'progressing' | 'lagging' | 'stalled' | 'standby' | 'starting';

export interface PartReport {
  name: string;
  kind: 'processor' | 'projection';
  state: PartState;
  /** Event-store position it has handled up to (undefined: not a subscriber). */
  position?: number;
  /** Events between its position and the head (undefined when the head is unknown). */
  lag?: number;
  /** Work waiting that is not measured in positions (e.g. messages in flight). */
  pending?: number;
  /** Seconds since its position (or pending work) last moved. */
  idleSeconds: number;
  /** The dependency or error that holds it, while one does. */
  error?: string;
  /** Events parked after failing every attempt (projections). */
  parked?: number;
}

export interface PartProbe {
  /** The position handled so far. */
  position?: () => number;
  /** Work waiting that is not measured by the position. */
  pending?: () => number;
  /** Completed units of that work so far (a counter that moves when it progresses). */
  completed?: () => number;
  parked?: () => number;
}

export interface Part {
  /** This instance holds the lock and works (false: standby or not started yet). */
  setActive(active: boolean): void;
  /** Something it needs failed; cleared by ok(). */
  failed(err: unknown): void;
  ok(): void;
  close(): void;
}

export interface PipelineOptions {
  /** No progress for this long while there is work: stalled (default 30 s). */
  stallMs?: number;
  /** Behind the head for this long straight: lagging (default 5 s). */
  lagMs?: number;
}

export interface Pipeline {
  register(name: string, kind: PartReport['kind'], probe: PartProbe): Part;
  /** Every part, given the event store's head (undefined when it cannot be read). */
  report(head: number | undefined): PartReport[];
  /** Names of the stalled parts. */
  stalled(head: number | undefined): string[];
  /** How many parts are registered (a process with none has nothing to report). */
  size(): number;
}

interface Entry {
  name: string;
  kind: PartReport['kind'];
  probe: PartProbe;
  active: boolean;
  error: string | undefined;
  errorSince: number | undefined;
  lastPosition: number | undefined;
  lastCompleted: number | undefined;
  lastProgressAt: number;
  behindSince: number | undefined;
}

function text(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200);
}

/** Notes the time of the part's last progress (its position or completed count moved). */
function sample(e: Entry, now: number): void {
  const position = e.probe.position?.();
  const completed = e.probe.completed?.();
  if (position !== e.lastPosition || completed !== e.lastCompleted) {
    e.lastPosition = position;
    e.lastCompleted = completed;
    e.lastProgressAt = now;
  }
}

/** One part's state: standby, starting, stalled, lagging or progressing. */
function reportOne(
  e: Entry,
  head: number | undefined,
  now: number,
  { stallMs, lagMs }: { stallMs: number; lagMs: number },
): PartReport {
  sample(e, now);
  const position = e.lastPosition;
  const pending = e.probe.pending?.();
  const lag =
    position !== undefined && head !== undefined ? Math.max(0, head - position) : undefined;
  const hasWork = (lag ?? 0) > 0 || (pending ?? 0) > 0 || e.error !== undefined;
  if (!hasWork) {
    e.lastProgressAt = now;
    e.behindSince = undefined;
  } else {
    e.behindSince ??= now;
  }
  const idle = now - e.lastProgressAt;
  let state: PartState;
  if (!e.active && e.error === undefined)
    state = e.lastPosition === undefined ? 'starting' : 'standby';
  else if (hasWork && idle >= stallMs) state = 'stalled';
  else if (!e.active) state = 'starting';
  else if (hasWork && e.behindSince !== undefined && now - e.behindSince >= lagMs)
    state = 'lagging';
  else state = 'progressing';
  const report: PartReport = {
    name: e.name,
    kind: e.kind,
    state,
    idleSeconds: Math.round(idle / 1000),
  };
  if (position !== undefined) report.position = position;
  if (lag !== undefined) report.lag = lag;
  if (pending !== undefined) report.pending = pending;
  if (e.error !== undefined) report.error = e.error;
  const parked = e.probe.parked?.();
  if (parked !== undefined) report.parked = parked;
  return report;
}

export function createPipeline(options: PipelineOptions = {}): Pipeline {
  const stallMs = options.stallMs ?? 30_000;
  const lagMs = options.lagMs ?? 5_000;
  const entries = new Set<Entry>();

  // Progress is sampled every second, so a report reads how long since it last
  // moved; only while parts are registered (a process without any, such as an
  // API, keeps no timer for it).
  let timer: NodeJS.Timeout | undefined;
  const sampling = () => {
    if (entries.size > 0 && !timer) {
      timer = setInterval(() => {
        const now = Date.now();
        for (const e of entries) sample(e, now);
      }, 1_000);
      timer.unref();
    } else if (entries.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    register(name, kind, probe) {
      const entry: Entry = {
        name,
        kind,
        probe,
        active: false,
        error: undefined,
        errorSince: undefined,
        lastPosition: undefined,
        lastCompleted: undefined,
        lastProgressAt: Date.now(),
        behindSince: undefined,
      };
      entries.add(entry);
      sampling();
      return {
        setActive(active) {
          if (active !== entry.active) entry.lastProgressAt = Date.now();
          entry.active = active;
        },
        failed(err) {
          entry.error = text(err);
          entry.errorSince ??= Date.now();
        },
        ok() {
          entry.error = undefined;
          entry.errorSince = undefined;
        },
        close() {
          entries.delete(entry);
          sampling();
        },
      };
    },
    report(head) {
      const now = Date.now();
      return [...entries].map((e) => reportOne(e, head, now, { stallMs, lagMs }));
    },
    stalled(head) {
      return this.report(head)
        .filter((r) => r.state === 'stalled')
        .map((r) => r.name);
    },
    size() {
      return entries.size;
    },
  };
}
