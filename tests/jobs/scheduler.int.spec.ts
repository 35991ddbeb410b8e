// Two runner processes on a one-second cron: each tick runs exactly once; a
// SIGKILLed lock holder is replaced within one lease; a run that loses its
// lease stops; runs are recorded for `streaming jobs list`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createLogger } from '../../platform/logger/index.ts';
import { lockInfo, tryAcquireLock } from '../../platform/locks/index.ts';
import {
  listJobRuns,
  runHistory,
  runJobOnce,
  runTick,
  type JobDefinition,
} from '../../jobs/index.ts';

const REDIS_URL = 'redis://127.0.0.1:6379/4';
const runner = path.join(import.meta.dirname, 'support', 'runner.ts');
const logger = createLogger({ logLevel: 'error' }, { stream: process.stderr });

function startRunner(
  prefix: string,
  leaseMs: number,
  mode: 'fast' | 'slow',
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [runner, prefix, String(leaseMs), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`runner exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('job scheduler under a Redis lock', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const children: ChildProcess[] = [];
  const newPrefix = () => {
    const p = `t:${randomBytes(4).toString('hex')}:`;
    prefixes.push(p);
    return p;
  };

  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    await Promise.all(children.map((c) => stop(c, 'SIGKILL')));
    for (const p of prefixes) {
      const keys = await redis.keys(`${p}*`);
      if (keys.length) await redis.del(...keys);
    }
    await redis.quit();
  });

  it('two runners started together run each scheduled tick exactly once', async () => {
    const prefix = newPrefix();
    const [a, b] = await Promise.all([
      startRunner(prefix, 2000, 'fast'),
      startRunner(prefix, 2000, 'fast'),
    ]);
    children.push(a, b);
    await sleep(5_500);
    await Promise.all([stop(a), stop(b)]);

    const executions = await redis.lrange(`${prefix}executions`, 0, -1);
    const ticks = executions.map((e) => e.split('|')[0]!);
    assert.ok(ticks.length >= 4, `expected at least 4 runs in 5.5 s, got ${ticks.length}`);
    assert.equal(new Set(ticks).size, ticks.length, `a tick ran twice: ${ticks.join(', ')}`);
    // ticks are whole seconds; at most one may be lost to a machine too busy to fire it
    const times = ticks.map((t) => Date.parse(t)).sort((x, y) => x - y);
    assert.ok(times.every((t) => t % 1000 === 0));
    const span = (times[times.length - 1]! - times[0]!) / 1000 + 1;
    assert.ok(times.length >= span - 1, `${times.length} runs over ${span} ticks`);
    // each run has its claim key and a finished record
    for (const t of ticks) assert.equal(await redis.exists(`${prefix}run:probe:${t}`), 1);
    const history = await runHistory({ redis, keyPrefix: prefix }, 'probe');
    assert.equal(history.length, ticks.length);
    assert.ok(history.every((r) => r.status === 'succeeded'));
    const holders = new Set(executions.map((e) => e.split('|')[1]));
    assert.ok([...holders].every((h) => h === `child-${a.pid}` || h === `child-${b.pid}`));
  });

  it('killing the lock holder lets the other runner take the job within one lease', async () => {
    const prefix = newPrefix();
    const leaseMs = 2000;
    const [a, b] = await Promise.all([
      startRunner(prefix, leaseMs, 'slow'),
      startRunner(prefix, leaseMs, 'slow'),
    ]);
    children.push(a, b);
    const first = await until(
      'a first run',
      async () => (await redis.lindex(`${prefix}started`, 0)) ?? undefined,
    );
    const [holder, token] = first.split('|');
    const victim = holder === `child-${a.pid}` ? a : b;
    const survivor = victim === a ? b : a;
    // the holder keeps renewing: the lock outlives its lease while it is alive
    await sleep(leaseMs + 500);
    assert.equal((await lockInfo(redis, `${prefix}lock:job:probe`))?.holder, holder);
    assert.equal(await redis.llen(`${prefix}started`), 1, 'nobody else ran while the holder lived');

    await stop(victim, 'SIGKILL');
    const killedAt = Date.now();
    const second = await until(
      'a takeover',
      async () => (await redis.lindex(`${prefix}started`, 1)) ?? undefined,
    );
    const [newHolder, newToken, startedAt] = second.split('|');
    assert.equal(newHolder, `child-${survivor.pid}`);
    assert.ok(Number(newToken) > Number(token), 'the fencing token increases');
    // When the lease runs out after the kill depends on when the victim last
    // renewed it, and the survivor's next tick on the machine's load: the wait
    // above bounds the takeover; no timing is asserted.
    assert.ok(Number(startedAt) >= killedAt - leaseMs, 'the takeover came after the kill');
  });

  it('a run that loses its lease is aborted and recorded so', async () => {
    const prefix = newPrefix();
    let batches = 0;
    const job: JobDefinition = {
      name: 'losing',
      schedule: '0 3 * * *',
      async run({ signal, lock }) {
        // someone else takes the key over (as after an expiry)
        await redis.set(lock.key, '999999|intruder', 'PX', 5000);
        for (let i = 0; i < 100; i++) {
          signal.throwIfAborted();
          batches++;
          await sleep(50);
        }
        return {};
      },
    };
    const outcome = await runJobOnce({ redis, logger, leaseMs: 600, keyPrefix: prefix }, job);
    assert.equal(outcome.status, 'ran');
    assert.equal(outcome.status === 'ran' && outcome.record.status, 'aborted');
    assert.ok(batches < 100, 'the job stopped between batches');
    // release did not delete the intruder's lock
    assert.equal((await lockInfo(redis, `${prefix}lock:job:losing`))?.holder, 'intruder');
  });

  it('a held lock makes a tick and a manual run stand down; list shows last run and holder', async () => {
    const prefix = newPrefix();
    const job: JobDefinition = {
      name: 'listed',
      schedule: '*/5 * * * *',
      run: async () => ({ ok: 1 }),
    };
    const deps = { redis, logger, leaseMs: 5000, keyPrefix: prefix };
    const tick = new Date('2026-01-01T00:05:00Z');
    const ran = await runTick({ ...deps, holder: 'h1' }, job, tick);
    assert.equal(ran.status, 'ran');
    const again = await runTick({ ...deps, holder: 'h2' }, job, tick);
    assert.deepEqual(again, { status: 'skipped', reason: 'already-run' });

    const held = await tryAcquireLock(redis, `${prefix}lock:job:listed`, {
      leaseMs: 5000,
      holder: 'h3',
    });
    assert.ok(held);
    const manual = await runJobOnce({ ...deps, holder: 'h4' }, job);
    assert.deepEqual(manual, { status: 'skipped', reason: 'locked', holder: 'h3' });
    const [listing] = await listJobRuns(deps, [job]);
    assert.equal(listing?.name, 'listed');
    assert.equal(listing?.schedule, '*/5 * * * *');
    assert.equal(listing?.holder, 'h3');
    assert.equal(listing?.lastRun?.status, 'succeeded');
    assert.equal(listing?.lastRun?.holder, 'h1');
    assert.deepEqual(listing?.lastRun?.result, { ok: 1 });
    assert.ok(listing?.nextRun);
    await held.release();
    assert.equal((await listJobRuns(deps, [job]))[0]?.holder, null);
  });
});
