/**
 * Callers waiting for a position to be reached. The owner calls settle()
 * after its position moves and cancelAll() when it stops.
 */
export function positionWaiters(current: () => number) {
  const waiters = new Set<{ target: number; resolve: (ok: boolean) => void }>();
  return {
    settle(): void {
      for (const waiter of waiters) {
        if (current() >= waiter.target) {
          waiters.delete(waiter);
          waiter.resolve(true);
        }
      }
    },
    /** True once the position reaches target; false after timeoutMs or on cancelAll(). */
    waitFor(target: number, timeoutMs: number): Promise<boolean> {
      if (current() >= target) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const waiter = {
          target,
          resolve: (ok: boolean) => {
            clearTimeout(timer);
            resolve(ok);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          resolve(false);
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    cancelAll(): void {
      for (const waiter of waiters) waiter.resolve(false);
      waiters.clear();
    },
  };
}
