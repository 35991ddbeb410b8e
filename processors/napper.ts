// The sleep of a background loop that polls a table or an index of due work
// (parked receipts, callback deliveries, timers): the loop sleeps until the
// earliest thing it knows is due, at most a fallback interval (work made
// elsewhere that nobody announces), and whoever adds work in this process
// wakes it at once. A wake that comes while the loop is busy cuts its next
// sleep short: its round may have read before that work was committed.

/** The longest an idle loop sleeps when nothing is due (work made elsewhere shows by then). */
export const IDLE_FALLBACK_MS = 5_000;

export interface Napper {
  /** Sleeps ms, or less when woken (or woken already since the last nap). */
  nap(ms: number): Promise<void>;
  wake(): void;
}

export function napper(): Napper {
  let wakeNow: (() => void) | undefined;
  let kicked = false;
  return {
    nap(ms: number): Promise<void> {
      if (kicked) {
        kicked = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wakeNow = undefined;
          resolve();
        }
        wakeNow = done;
      });
    },
    wake(): void {
      if (wakeNow) wakeNow();
      else kicked = true;
    },
  };
}

/** How long to sleep for something due at `dueMs` (undefined: nothing known), within [minMs, fallback]. */
export function sleepUntil(dueMs: number | undefined, minMs: number, now = Date.now()): number {
  if (dueMs === undefined) return IDLE_FALLBACK_MS;
  return Math.min(IDLE_FALLBACK_MS, Math.max(minMs, dueMs - now));
}
