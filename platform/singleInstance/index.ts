// One active instance across processes: a loop that takes a MySQL named lock
// (platform/locks, on a connection of its own) and, while it holds it, runs
// one term of the work; the processors (processors/singleton.ts) and the
// projections (projectors/runner.ts) run on it.
//
// Leadership is a loop, not a one-off: when the lock is lost (its connection
// failed, e.g. MariaDB restarted), the term is told (`ended`), stops, and the
// lock is taken again with backoff; the next term resumes from the saved
// checkpoint. One line is logged when the lock is lost and one when it is
// back (lockOutage); a term that fails (it throws) is retried with backoff and
// logged through termOutage. A standby instance tries the lock every
// `standbyRetryMs`. close() ends the term in progress and the loop.
import { setTimeout as sleep } from 'node:timers/promises';
import type { MysqlPool } from '../clients/index.ts';
import { backoffMs, type Outage, type Part } from '../health/index.ts';
import { tryMysqlLock, type MysqlLockName, type MysqlLockSession } from '../locks/index.ts';

export interface Term {
  readonly lock: MysqlLockSession;
  /** Resolves when the term must end: with the reason when the lock is lost, undefined on close(). */
  readonly ended: Promise<string | undefined>;
  /** True once close() was called or the lock is lost. */
  isEnded(): boolean;
  /** Resolves on close() (for sleeps that must end with it). */
  readonly closing: Promise<void>;
}

export interface SingleInstanceWork {
  mysql: MysqlPool;
  lock: MysqlLockName;
  /** How long GET_LOCK waits on each try, in seconds (0: try once). */
  lockWaitSeconds: number;
  /** How long a standby instance waits before it tries the lock again. */
  standbyRetryMs: number;
  /** Logs the lock's (MySQL's) outages. */
  lockOutage: Outage;
  /** Logs the failures of a term (it threw). */
  termOutage: Outage;
  /** The pipeline part told of each failure. */
  part?: Part | undefined;
  /** Runs before each try of the lock; a failure counts as the lock's (e.g. creating tables). */
  beforeLock?(): Promise<void>;
  /**
   * One term as the active instance. It must end once `term.ended` resolves
   * (cleaning up as it goes); the lock is released after it. It may end
   * earlier, with a reason (logged as the start of an outage) or without.
   */
  term(term: Term): Promise<string | undefined>;
}

export interface RunningInstance {
  close(): Promise<void>;
}

export function runSingleInstance(work: SingleInstanceWork): RunningInstance {
  let closed = false;
  let wakeClosed: () => void = () => undefined;
  const closing = new Promise<void>((resolve) => (wakeClosed = resolve));
  const pause = (ms: number) => Promise.race([sleep(ms), closing]);

  /** Takes the lock once: the session, undefined when another instance holds it, or the error. */
  async function tryLock(): Promise<MysqlLockSession | undefined | Error> {
    try {
      await work.beforeLock?.();
      const held = await tryMysqlLock(work.mysql, {
        ...work.lock,
        waitSeconds: work.lockWaitSeconds,
      });
      work.lockOutage.ok();
      return held;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** One term under the lock; true when it ended without throwing. */
  async function lead(lock: MysqlLockSession): Promise<boolean> {
    let termDone = false;
    const ended = Promise.race([lock.lost, closing.then(() => undefined)]);
    // logged once, at once, as the start of an outage; the next lock taken ends it
    void ended.then((why) => {
      if (why !== undefined && !closed && !termDone) work.lockOutage.failed(new Error(why));
    });
    try {
      const why = await work.term({ lock, ended, closing, isEnded: () => closed || !lock.held });
      termDone = true;
      if (why !== undefined && !closed) work.lockOutage.failed(new Error(why));
      return true;
    } catch (err) {
      termDone = true;
      if (!closed) {
        work.termOutage.failed(err);
        work.part?.failed(err);
      }
      return false;
    } finally {
      await lock.release();
    }
  }

  const main = (async () => {
    let failures = 0;
    while (!closed) {
      const lock = await tryLock();
      if (lock instanceof Error) {
        if (closed) break;
        work.lockOutage.failed(lock);
        work.part?.failed(lock);
        await pause(backoffMs(failures++));
        continue;
      }
      if (!lock) {
        failures = 0;
        await pause(work.standbyRetryMs);
        continue;
      }
      if (closed) {
        await lock.release();
        break;
      }
      if (await lead(lock)) failures = 0;
      else if (!closed) await pause(backoffMs(failures++));
    }
  })();

  return {
    async close() {
      closed = true;
      wakeClosed();
      await main;
    },
  };
}
