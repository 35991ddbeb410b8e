// The per-account throughput cap is exact and shared: two dispatcher
// processes, one account capped at 50/s, 500 messages. The simulator's
// arrival times never show more than the cap allows in any window (one
// burst of the bucket size, then 50 per second), and every message is sent
// once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { startReceipts, startRelay, startTimers, type Running } from '../../processors/index.ts';
import { startHarness, withStatus, type Harness } from '../../testing/dispatchHarness.ts';

const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const CHILD = new URL('../../testing/dispatcherChild.ts', import.meta.url).pathname;
const CAP = 50;
const COUNT = 500;

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

/** Most arrivals in any window of windowMs (sorted times). */
function mostInWindow(times: number[], windowMs: number): number {
  let most = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= windowMs) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

describe('the throughput cap, shared by two dispatcher processes', () => {
  let h: Harness;
  const running: Running[] = [];
  const children: ChildProcess[] = [];
  before(async () => {
    h = await startHarness(
      'throttle',
      [{ id: 'capped', vendor: 'aliyun', maxPerSecond: CAP, behaviour: { id: 'capped' } }],
      { concurrency: 256 },
      // the vendor's clock is its own: a simulator on this process's event
      // loop would bunch arrivals whenever the test is busy
      { simulatorProcess: true },
    );
    running.push(await startRelay(h.deps), await startTimers(h.deps), await startReceipts(h.deps));
    children.push(await startChild(h), await startChild(h));
  });
  after(async () => {
    for (const child of children) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
    for (const r of running) await r.close();
    await h?.close();
  });

  it('never lets more through than the cap, and sends each message once', async () => {
    const ids = await h.accept(COUNT);
    await h.waitFinal(ids, 120_000);
    assert.equal(withStatus(h.states, ids, 'delivered').length, COUNT, 'every message delivered');
    const received = await h.received();
    for (const id of ids) assert.equal(received[id], 1, `message ${id} received once`);

    const seen = (await h.admin('GET', '/messages?accountId=capped')) as {
      messages: { sentAt: string }[];
    };
    const times = seen.messages.map((m) => Date.parse(m.sentAt)).sort((a, b) => a - b);
    assert.equal(times.length, COUNT);
    // in any window the vendor sees at most one burst of the bucket size (the
    // cap) plus the cap's rate over the window and the 250 ms a busy dispatcher
    // may use a slot late (processors/throttle.ts `lateMs`); in a full CI run
    // one second held 106, which 2 × cap alone does not allow. The times are
    // the simulator's arrival times, so the calls' transit also varies (SDK
    // signing, HTTP, a busy event loop): slots granted up to TRANSIT_MS before
    // a window may arrive inside it (a CI run saw 164 in 2 s against 162.5
    // without it). A cap not shared by the two processes would show ~2 × cap.
    const TRANSIT_MS = 100;
    for (const windowMs of [1_000, 2_000, 5_000]) {
      const inWindow = mostInWindow(times, windowMs);
      const allowed = CAP + (CAP * (windowMs + 250 + TRANSIT_MS)) / 1000;
      assert.ok(inWindow <= allowed, `${inWindow} in ${windowMs} ms (allowed ${allowed})`);
    }
    // and the cap is used, not undershot by much: 450 after the burst at 50/s ≥ ~9 s
    const spanS = (times[times.length - 1]! - times[0]!) / 1000;
    assert.ok(spanS >= (COUNT - CAP) / CAP - 1, `the run spanned ${spanS} s`);
  });
});
