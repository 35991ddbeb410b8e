// kill -9 of a dispatcher process in the middle of a 2,000-message run, then
// a restart: every message ends final and none was sent twice.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { startReceipts, startRelay, startTimers, type Running } from '../../processors/index.ts';
import { startHarness, withStatus, type Harness } from '../../testing/dispatchHarness.ts';

const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const CHILD = new URL('../../testing/dispatcherChild.ts', import.meta.url).pathname;

function startChild(h: Harness): Promise<ChildProcess> {
  const child = spawn(NODE, [CHILD], {
    env: { ...process.env, ...h.env, DISPATCH_OPTIONS: JSON.stringify(h.options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dispatcher child exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
  });
}

describe('a dispatcher killed with SIGKILL mid-run', () => {
  let h: Harness;
  const running: Running[] = [];
  let child: ChildProcess | undefined;
  before(async () => {
    h = await startHarness(
      'crash',
      [
        {
          id: 'crash-aliyun',
          vendor: 'aliyun',
          // no request hangs on purpose here: a timeout that a loaded machine cannot run past
          timeoutMs: 10_000,
          behaviour: { id: 'crash-aliyun', latencyMs: 30 },
        },
        {
          id: 'crash-tencent',
          vendor: 'tencent',
          timeoutMs: 10_000,
          behaviour: { id: 'crash-tencent' },
        },
      ],
      { concurrency: 64 },
    );
    running.push(await startRelay(h.deps), await startTimers(h.deps), await startReceipts(h.deps));
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    for (const r of running) await r.close();
    await h?.close();
  });

  it('finishes every message after a restart, none received twice', async () => {
    child = await startChild(h);
    const ids = await h.accept(2000);
    // wait until the run is well under way
    for (let i = 0; i < 600; i++) {
      const done = ids.filter((id) => {
        const s = h.states.get(id);
        return s?.exists && s.status !== 'accepted';
      }).length;
      if (done >= 300) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const killed = child;
    killed.kill('SIGKILL');
    await once(killed, 'exit');
    const atKill = ids.filter((id) => {
      const s = h.states.get(id);
      return s?.exists && s.status !== 'accepted';
    }).length;
    assert.ok(atKill < 2000, `killed mid-run (${atKill} of 2000 past accepted)`);
    child = await startChild(h);
    await h.waitFinal(ids, 150_000);
    assert.equal(withStatus(h.states, ids, 'delivered').length, 2000);
    const received = await h.received();
    const twice = ids.filter((id) => (received[id] ?? 0) > 1);
    assert.deepEqual(twice, [], 'no message reached the supplier twice');
    for (const id of ids) assert.equal(received[id], 1);
  });
});
