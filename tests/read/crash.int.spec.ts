// Must hold: a projector killed in the middle of a batch and restarted leaves
// read models equal to a clean rebuild. Also: one active instance per projection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { projections, replayCommand, startProjectors } from '../../projectors/index.ts';
import {
  appendWorkload,
  readSide,
  REDIS_URL,
  type ReadSide,
  type Workload,
} from '../../testing/readSide.ts';
import { snapshot } from './snapshot.ts';

const child = fileURLToPath(new URL('./projectorChild.ts', import.meta.url));

describe('a projector killed mid-batch', () => {
  let side: ReadSide;
  let workload: Workload;

  before(async () => {
    side = await readSide('crash');
    workload = await appendWorkload(side.deps.eventStore, { tenants: 3, messages: 40 });
  });
  after(async () => {
    await side.drop();
  });

  it('restarts to read models equal to a clean rebuild', async () => {
    const proc = spawn(process.execPath, [child], {
      env: {
        ...process.env,
        CHILD_MYSQL_URL: side.database.url,
        CHILD_MONGO_DB: side.mongoName,
        CHILD_REDIS_URL: REDIS_URL,
        CHILD_REDIS_PREFIX: side.deps.redisPrefix!,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      proc.on('exit', (_c, s) => resolve(s)),
    );
    // kill it once every projection is under way and none is done
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      proc.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          const positions = line.split(',').map(Number);
          if (positions.length !== projections.length) continue;
          const minimum = Math.min(...positions);
          if (
            minimum > workload.lastPosition / 4 ||
            Math.max(...positions) > workload.lastPosition / 2
          ) {
            proc.kill('SIGKILL');
            resolve();
          }
        }
      });
      proc.once('exit', () => resolve());
      proc.once('error', reject);
    });
    assert.equal(await exited, 'SIGKILL');
    const partial = await snapshot(side.deps);
    assert.ok(
      partial.mysql.message_history!.length < workload.messages.length ||
        partial.mongo.audit_log!.length < workload.lastPosition,
      'killed before the end',
    );

    const running = startProjectors(side.deps, { maxBatch: 7, maxWaitMs: 1 });
    try {
      assert.equal(await running.waitFor(workload.lastPosition, 30_000), true);
    } finally {
      await running.close();
    }
    const restarted = await snapshot(side.deps, '');
    await replayCommand(side.deps, { projection: 'all', swap: false, buildId: 'clean' });
    const clean = await snapshot(side.deps, '__bclean');
    assert.deepEqual(restarted.mysql, clean.mysql);
    assert.deepEqual(restarted.mongo, clean.mongo);
    assert.equal(clean.mysql.message_history!.length, workload.messages.length);
    assert.equal(clean.mongo.audit_log!.length, workload.lastPosition);
    for (const p of projections) {
      await p.discard(side.deps, {
        suffix: '__bclean',
        checkpoint: `${p.name}@${p.version}#clean`,
      });
    }
  });

  it('runs one active instance of each projection among several', async () => {
    const a = startProjectors(side.deps, { standbyRetryMs: 100 });
    const b = startProjectors(side.deps, { standbyRetryMs: 100 });
    try {
      const caughtUp = await Promise.all(
        projections.map((_, i) =>
          Promise.race([
            a.projections[i]!.waitFor(workload.lastPosition, 10_000),
            b.projections[i]!.waitFor(workload.lastPosition, 10_000),
          ]),
        ),
      );
      assert.ok(caughtUp.every(Boolean));
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < projections.length; i++) {
        const active = [a.projections[i]!.active, b.projections[i]!.active].filter(Boolean).length;
        assert.equal(active, 1, projections[i]!.name);
      }
      // the standby takes over when the active one stops
      await a.close();
      const deadline = Date.now() + 10_000;
      while (b.projections.some((p) => !p.active) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(
        b.projections.map((p) => p.active),
        projections.map(() => true),
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});
