// A job's Redis lock across a restart of Redis (a private Redis of this
// file's own: tests/support/privateStack.ts). The run that held the lock
// loses its lease and is told so; after the restart the lock is taken again
// with a greater fencing token; the stale holder, finishing late, writes
// nothing over the new holder's record and releases nothing of theirs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { createRedis } from '../../platform/clients/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { lockInfo, tryAcquireLock } from '../../platform/locks/index.ts';
import {
  listJobRuns,
  runJobOnce,
  type JobContext,
  type JobDefinition,
  type RunOutcome,
} from '../../jobs/index.ts';
import { privateStack, type PrivateStack } from '../support/privateStack.ts';

/** A port no other test file or helper uses. */
const REDIS_PORT = 6986;
const LEASE_MS = 1_000;
const logger = createLogger({ logLevel: 'error' }, { stream: process.stderr });

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined); // Redis may still be coming back
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('job locks across a Redis restart', () => {
  let stack: PrivateStack;
  let redis: Redis;
  const prefix = `t:${randomBytes(4).toString('hex')}:`;
  before(async () => {
    stack = await privateStack('redis-restart-test', { redis: REDIS_PORT }, ['redis']);
    // the client the services use, with its reconnect policy
    redis = createRedis({ redis: { url: stack.env.STREAMING_REDIS_URL! } } as never, logger);
  });
  after(async () => {
    redis?.disconnect();
    await stack?.down();
  });

  it('is lost by its holder, taken again with a greater token, and the stale holder is fenced', async () => {
    // A: a run that does not look at its signal, as a stale holder (paused, slow) would not
    let contextA: JobContext | undefined;
    let finishA!: () => void;
    const aMayFinish = new Promise<void>((r) => (finishA = r));
    const jobA: JobDefinition = {
      name: 'restart',
      schedule: '0 0 1 1 *',
      async run(ctx) {
        contextA = ctx;
        await aMayFinish;
        return { by: 'a' };
      },
    };
    const depsA = { redis, logger, leaseMs: LEASE_MS, keyPrefix: prefix, holder: 'a' };
    const runA = runJobOnce(depsA, jobA);
    await until('A holding the lock', async () =>
      contextA && (await lockInfo(redis, contextA.lock.key))?.holder === 'a' ? true : undefined,
    );
    const tokenA = contextA!.token;

    // Redis goes away for longer than the lease, then comes back (its data kept: appendonly)
    await stack.restart(['redis'], 2 * LEASE_MS);
    await until('A told it lost the lock', async () =>
      contextA!.signal.aborted ? true : undefined,
    );

    // B takes the lock again, with a token above A's, and runs
    const depsB = { ...depsA, holder: 'b' };
    const jobB: JobDefinition = { ...jobA, run: async () => ({ by: 'b' }) };
    const outcomeB = await until('B running the job', async () => {
      const o = await runJobOnce(depsB, jobB);
      return o.status === 'ran' ? o : undefined;
    });
    assert.equal(outcomeB.status, 'ran');
    const recordB = (outcomeB as Extract<RunOutcome, { status: 'ran' }>).record;
    assert.equal(recordB.status, 'succeeded');
    assert.ok(recordB.token > tokenA, `B's token ${recordB.token} > A's ${tokenA}`);

    // a third holder now; A, finishing late, is no longer current and touches nothing of C's
    const c = await until('C holding the lock', () =>
      tryAcquireLock(redis, contextA!.lock.key, { leaseMs: 30_000, holder: 'c' }),
    );
    assert.equal(await contextA!.lock.isCurrent(), false, 'A is no longer the holder');
    finishA();
    const outcomeA = await runA;
    assert.equal(outcomeA.status, 'ran');
    const recordA = (outcomeA as Extract<RunOutcome, { status: 'ran' }>).record;
    assert.equal(recordA.status, 'aborted', 'the stale run is recorded as aborted');
    assert.equal((await lockInfo(redis, c.key))?.holder, 'c');
    const [listing] = await listJobRuns({ redis, keyPrefix: prefix }, [jobA]);
    assert.equal(listing!.lastRun?.token, recordB.token, "the last run stays B's, not A's");
    assert.equal(listing!.holder, 'c');
    await c.release();
  });
});
