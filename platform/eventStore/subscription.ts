import type { EventEmitter } from 'node:events';
import { positionWaiters } from './positionWaiters.ts';
import type { RecordedEvent, SubscribeOptions, Subscription } from './types.ts';

export interface PollingSource extends SubscribeOptions {
  read: (after: number, limit: number) => Promise<RecordedEvent[]>;
  /**
   * Reads only events of `types` after `after`, and says how far it looked:
   * every event up to `scannedTo` that is not returned is of another type.
   * Lets a filtered subscriber skip foreign events without reading them.
   */
  readTypes?: (
    after: number,
    limit: number,
    types: readonly string[],
  ) => Promise<{ events: RecordedEvent[]; scannedTo: number }>;
  pollIntervalMs: number;
  /**
   * The longest a caught-up subscription sleeps between polls: the interval
   * grows from pollIntervalMs towards it while nothing new comes (default
   * 400 ms), and drops back at the first new event or local append. An idle
   * system then polls a few times a second instead of twenty.
   */
  idlePollMaxMs?: number | (() => number);
  /** Emits 'appended' when this process commits, so local subscribers wake at once. */
  notifier?: EventEmitter;
}

/**
 * Catch-up then live subscription over readAll: reads batches after the
 * checkpoint, hands each to the handler in order, and polls (or wakes on a
 * local append) when it has caught up. A handler error is reported and the
 * batch is retried after a pause that grows while the failures go on, so
 * nothing is skipped.
 */
export function pollingSubscription(source: PollingSource): Subscription {
  const batchSize = source.batchSize ?? 500;
  const types = source.types ? new Set(source.types) : undefined;
  let position = source.after;
  let stopped = false;
  const waiters = positionWaiters(() => position);
  const idleMax = () => idleMaxOf(source);
  let idleMs = source.pollIntervalMs;
  const waker = appendWaker(source.notifier);

  let failures = 0;
  const recovered = () => {
    if (failures === 0) return;
    failures = 0;
    source.onRecovered?.();
  };

  const loop = (async () => {
    while (!stopped) {
      waker.forget(); // this read sees everything committed so far
      try {
        const { wanted, reached } = await readPage(source, types, position, batchSize);
        if (stopped) break;
        if (reached <= position) {
          recovered();
          const woken = await waker.wait(idleMs);
          idleMs = woken ? source.pollIntervalMs : Math.min(idleMax(), idleMs * 1.5);
          continue;
        }
        idleMs = source.pollIntervalMs;
        if (wanted.length > 0) await source.onEvents(wanted);
        position = reached;
        waiters.settle();
        recovered();
      } catch (err) {
        failures++;
        source.onError?.(err);
        // backoff: 250 ms doubling up to 5 s while the failures go on
        const pause = Math.min(5_000, 250 * 2 ** Math.min(failures - 1, 5));
        if (!stopped) await waker.wait(Math.max(pause, source.pollIntervalMs));
      }
    }
  })();

  return {
    get position() {
      return position;
    },
    async stop() {
      stopped = true;
      waker.stop();
      await loop;
      waiters.cancelAll();
    },
    waitFor: waiters.waitFor,
  };
}

/** The next page after `position`: the events wanted, and how far it looked. */
async function readPage(
  source: PollingSource,
  types: ReadonlySet<string> | undefined,
  position: number,
  batchSize: number,
): Promise<{ wanted: RecordedEvent[]; reached: number }> {
  if (types && source.readTypes) {
    const page = await source.readTypes(position, batchSize, [...types]);
    return { wanted: page.events, reached: page.scannedTo };
  }
  const events = await source.read(position, batchSize);
  return {
    wanted: types ? events.filter((e) => types.has(e.type)) : events,
    reached: events.length > 0 ? events[events.length - 1]!.position : position,
  };
}

/** The longest a caught-up subscription sleeps (idlePollMaxMs, never below pollIntervalMs). */
function idleMaxOf(source: PollingSource): number {
  const configured = source.idlePollMaxMs ?? 400;
  return Math.max(
    source.pollIntervalMs,
    typeof configured === 'function' ? configured() : configured,
  );
}

/**
 * Sleeps that a local append (or stop) cuts short. A notice that comes while
 * the subscription reads is kept for its next wait: the read may have started
 * before that commit.
 */
function appendWaker(notifier: EventEmitter | undefined) {
  let wake: (() => void) | undefined;
  let kicked = false;
  let stopped = false;
  const onAppended = () => {
    if (wake) wake();
    else kicked = true;
  };
  notifier?.on('appended', onAppended);
  return {
    /** Drops a notice kept so far (a read is starting). */
    forget(): void {
      kicked = false;
    },
    /** Resolves true when woken by a local append (or stop), false after ms. */
    wait(ms: number): Promise<boolean> {
      return new Promise<boolean>((resolve) => {
        if (kicked || stopped) {
          kicked = false;
          resolve(true);
          return;
        }
        const timer = setTimeout(() => done(false), ms);
        function done(woken: boolean) {
          clearTimeout(timer);
          wake = undefined;
          resolve(woken);
        }
        wake = () => done(true);
      });
    },
    stop(): void {
      stopped = true;
      wake?.();
      notifier?.off('appended', onAppended);
    },
  };
}
