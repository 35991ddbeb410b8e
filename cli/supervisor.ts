// Runs streaming's parts as child processes of one foreground command, so
// that every core serves and a busy projector never delays an accept. Each
// child is `streaming serve …` (or the simulator) with the terminal as its
// stdout/stderr; a child that exits without being asked to is logged and
// restarted with a growing delay. stop() asks every child to stop (SIGTERM),
// waits for it, and SIGKILLs what does not stop in time. A child whose
// supervisor disappears (even by SIGKILL) notices through its IPC channel
// and stops by itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { counter } from '../platform/metrics/index.ts';

const mainScript = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface ChildSpec {
  /** Name in the supervisor's log lines. */
  name: string;
  /** Arguments of the `streaming` command, e.g. ['serve', 'command']. */
  args: string[];
  /**
   * Work nobody waits on at the other end of a socket (dispatch, projections,
   * callbacks, the simulator): it runs at the supervisor's background
   * niceness, so that when the cores are busy the APIs are served first and
   * this work catches up afterwards (Kafka and the event store hold it).
   */
  background?: boolean;
}

export interface SuperviseOptions {
  /** Niceness of the background children (0: none, as the APIs). */
  backgroundNice?: number;
  log?: (line: string) => void;
}

/** The parts `npm start` runs, one process each (stopped in reverse order). */
export const startChildren: ChildSpec[] = [
  { name: 'simulator', args: ['simulator'], background: true },
  { name: 'command', args: ['serve', 'command'] },
  { name: 'query', args: ['serve', 'query'] },
  { name: 'grpc', args: ['serve', 'grpc'] },
  { name: 'processors', args: ['serve', 'processors'], background: true },
  { name: 'callbacks', args: ['serve', 'callbacks'], background: true },
  { name: 'projectors', args: ['serve', 'projectors', 'jobs', 'pump'], background: true },
];

/** The message a child sends on its IPC channel once it serves. */
export const READY_MESSAGE = 'streaming:ready';

const restartsTotal = counter({
  name: 'streaming_child_restarts_total',
  help: 'Children of npm start that exited unasked and were restarted, by child',
  labelNames: ['child'] as const,
});

const STOP_GRACE_MS = 15_000;
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A child that ran this long before dying restarts without delay growth. */
const HEALTHY_RUN_MS = 60_000;

interface Slot {
  spec: ChildSpec;
  child?: ChildProcess;
  startedAt: number;
  restarts: number;
  delayMs: number;
  timer?: NodeJS.Timeout;
  ready: Promise<void>;
  markReady: () => void;
}

export interface Supervisor {
  /** Resolves once every child said it serves (first start only). */
  ready: Promise<void>;
  /** The pid of each running child, by name. */
  pids(): Record<string, number | undefined>;
  /** The running children (for the aggregated /metrics). */
  children(): ChildProcess[];
  stop(): Promise<void>;
}

export function supervise(specs: ChildSpec[], options: SuperviseOptions = {}): Supervisor {
  const log = options.log ?? ((line: string) => console.log(line));
  const backgroundNice = options.backgroundNice ?? 0;
  let stopping = false;
  const slots: Slot[] = specs.map((spec) => {
    let markReady = () => undefined as void;
    const ready = new Promise<void>((r) => (markReady = r));
    return { spec, startedAt: 0, restarts: 0, delayMs: RESTART_MIN_MS, ready, markReady };
  });

  const launch = (slot: Slot): void => {
    slot.timer = undefined;
    slot.startedAt = Date.now();
    const child = spawn(process.execPath, [mainScript, ...slot.spec.args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // its own process group: a Ctrl-C on the terminal reaches the supervisor
      // only, which then stops the children in order
      detached: true,
      env: { ...process.env, STREAMING_SUPERVISED: '1' },
    });
    slot.child = child;
    const nice = slot.spec.background ? lower(child, backgroundNice, log) : 0;
    log(
      `streaming: started ${slot.spec.name} (pid ${child.pid})${nice > 0 ? ` at nice ${nice}` : ''}`,
    );
    child.on('message', (m) => {
      if (m === READY_MESSAGE) slot.markReady();
    });
    child.on('error', (err) => log(`streaming: ${slot.spec.name}: ${String(err)}`));
    child.on('exit', (code, signal) => {
      if (slot.child === child) slot.child = undefined;
      if (stopping) return;
      const ranMs = Date.now() - slot.startedAt;
      if (ranMs >= HEALTHY_RUN_MS) slot.delayMs = RESTART_MIN_MS;
      const delay = slot.delayMs;
      slot.delayMs = Math.min(RESTART_MAX_MS, slot.delayMs * 2);
      slot.restarts++;
      restartsTotal.inc({ child: slot.spec.name });
      log(
        `streaming: ${slot.spec.name} (pid ${child.pid}) exited (${signal ?? `code ${code}`}) after ${Math.round(ranMs / 1000)} s; restarting in ${delay} ms (restart ${slot.restarts})`,
      );
      slot.timer = setTimeout(() => launch(slot), delay);
    });
  };

  for (const slot of slots) launch(slot);

  return {
    ready: Promise.all(slots.map((s) => s.ready)).then(() => undefined),
    pids: () => Object.fromEntries(slots.map((s) => [s.spec.name, s.child?.pid])),
    children: () => slots.flatMap((s) => (s.child ? [s.child] : [])),
    async stop() {
      stopping = true;
      for (const slot of slots) if (slot.timer) clearTimeout(slot.timer);
      await Promise.all(
        [...slots].reverse().map(async (slot) => {
          const child = slot.child;
          if (!child || child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => {
            log(`streaming: ${slot.spec.name} did not stop in ${STOP_GRACE_MS} ms; killing it`);
            child.kill('SIGKILL');
          }, STOP_GRACE_MS);
          await exited;
          clearTimeout(timer);
        }),
      );
    },
  };
}

/**
 * Lowers a child `nice` steps below the supervisor and returns its niceness;
 * a system that refuses leaves it as it is (logged).
 */
function lower(child: ChildProcess, nice: number, log: (line: string) => void): number {
  if (nice <= 0 || child.pid === undefined) return 0;
  try {
    return lowerThreads(child.pid, nice).target;
  } catch (err) {
    log(`streaming: could not lower the priority of pid ${child.pid}: ${String(err)}`);
    return 0;
  }
}

/**
 * Lowers a running process that serves only background work (a stack service
 * such as Kafka or FerretDB) `nice` steps below the supervisor. Returns what
 * puts it back where it was (a system that refuses either step is logged and
 * left as it is).
 */
export function lowerRunning(
  name: string,
  pid: number,
  nice: number,
  log: (line: string) => void = (line) => console.log(line),
): () => void {
  if (nice <= 0) return () => undefined;
  try {
    const { target, restore } = lowerThreads(pid, nice);
    log(`streaming: ${name} (pid ${pid}): no send waits on it, lowered to nice ${target}`);
    return () => {
      try {
        restore();
      } catch (err) {
        log(`streaming: could not restore the priority of ${name} (pid ${pid}): ${String(err)}`);
      }
    };
  } catch (err) {
    log(`streaming: could not lower the priority of ${name} (pid ${pid}): ${String(err)}`);
    return () => undefined;
  }
}

/**
 * Lowers every thread of a process `nice` steps below the supervisor (at
 * most to 19): a thread's niceness is its own on Linux, and threads started
 * later inherit their starter's. Throws when the process itself refuses (a
 * thread that ends meanwhile does not count); restore() puts every thread
 * back and throws likewise.
 */
function lowerThreads(pid: number, nice: number): { target: number; restore: () => void } {
  const target = Math.min(19, getPriority() + nice);
  const threads = (): number[] => {
    try {
      return readdirSync(`/proc/${pid}/task`).map(Number);
    } catch {
      return [pid]; // no /proc: the main thread alone
    }
  };
  const each = (set: (tid: number) => void) => {
    let refused: unknown;
    for (const tid of threads()) {
      try {
        set(tid);
      } catch (err) {
        if (tid === pid) refused = err;
      }
    }
    if (refused !== undefined) throw refused;
  };
  const before = new Map<number, number>();
  // twice: a thread started by one not yet lowered is caught the second time
  for (let pass = 0; pass < 2; pass++) {
    each((tid) => {
      if (before.has(tid)) return;
      const was = getPriority(tid);
      setPriority(tid, Math.max(was, target));
      before.set(tid, was);
    });
  }
  const was = before.get(pid)!;
  return { target, restore: () => each((tid) => setPriority(tid, before.get(tid) ?? was)) };
}

/** What a supervised child does when its supervisor goes away (see watchSupervisor). */
let onSupervisorGone: () => void = () => process.exit(1);

/**
 * In a supervised child, first thing: a supervisor that goes away while the
 * child still starts (it failed to start itself, or was killed) ends the
 * child at once; from reportToSupervisor on, it stops the child as SIGTERM
 * does. Without this a child that was still starting missed the disconnect
 * and ran on, unsupervised, until it crashed on its ready message.
 */
export function watchSupervisor(): void {
  if (!process.send) return;
  // gone before this ran (the disconnect event came and went)
  if (!process.connected) onSupervisorGone();
  process.once('disconnect', () => onSupervisorGone());
}

/**
 * In a supervised child: tell the supervisor it serves, and stop (as on
 * SIGTERM) when the supervisor goes away, or now if it is already gone.
 */
export function reportToSupervisor(stop: () => void): void {
  if (!process.send) return;
  if (!process.connected) {
    stop();
    return;
  }
  onSupervisorGone = stop;
  process.send(READY_MESSAGE);
}
