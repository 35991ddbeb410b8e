// The projection runner's batching: a batch per window opened by its first
// event, or once full, applied one at a time and in order; what comes while a
// batch applies goes together in the next one; the rest on completion; and no
// timer at all while nothing waits (rxjs bufferTime ticked every window, idle
// or not).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subject, lastValueFrom } from 'rxjs';
import { appliedInBatches } from './runner.ts';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** A source, the batches applied, and the output's end (resolves on complete, rejects on error). */
function harness(ms: number, max: number, fail?: (batch: number[]) => boolean) {
  const input = new Subject<number>();
  const batches: number[][] = [];
  const output = input.pipe(
    appliedInBatches(ms, max, async (batch) => {
      batches.push(batch);
      await Promise.resolve();
      if (fail?.(batch)) throw new Error('apply failed');
    }),
  );
  return { input, batches, output };
}

describe('appliedInBatches', () => {
  it('keeps no timer while idle, and one only while a window is open', async () => {
    const { input, batches, output } = harness(20, 100);
    const before = timers();
    const subscription = output.subscribe();
    await sleep(60);
    assert.equal(timers(), before, 'idle: no timer');
    input.next(1);
    input.next(2);
    assert.equal(timers(), before + 1, 'a window is open');
    await sleep(60);
    assert.deepEqual(batches, [[1, 2]]);
    assert.equal(timers(), before, 'idle again: no timer');
    subscription.unsubscribe();
  });

  it('applies a full batch at once, in order, and the rest on completion', async () => {
    const before = timers();
    const { input, batches, output } = harness(60_000, 3);
    const done = lastValueFrom(output, { defaultValue: 'completed' });
    for (let i = 1; i <= 7; i++) input.next(i);
    input.complete();
    assert.equal(await done, 'completed');
    assert.deepEqual(batches, [[1, 2, 3], [4, 5, 6], [7]]);
    assert.equal(timers(), before, 'no window left open');
  });

  it('gathers what comes while a batch applies into the next batch, one batch at a time', async () => {
    const input = new Subject<number>();
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let applying = 0;
    let overlapped = false;
    const done = lastValueFrom(
      input.pipe(
        appliedInBatches(5, 1000, async (batch) => {
          if (applying++ > 0) overlapped = true;
          batches.push(batch);
          if (batches.length === 1) await held; // the first batch applies until released
          applying--;
        }),
      ),
      { defaultValue: 'completed' },
    );
    input.next(0);
    while (batches.length === 0) await sleep(5); // [0] is applying now
    for (let i = 1; i <= 30; i++) {
      input.next(i);
      if (i % 10 === 0) await sleep(20); // windows of 5 ms open and close meanwhile
    }
    release();
    await sleep(20);
    input.complete();
    await done;
    assert.equal(overlapped, false, 'never two batches at once');
    // one batch per window would have made three batches of those 30 events
    assert.deepEqual(batches, [[0], Array.from({ length: 30 }, (_, i) => i + 1)]);
  });

  it('never applies a batch before its window, unless it is full', async () => {
    const { input, batches, output } = harness(100, 1000);
    const subscription = output.subscribe();
    input.next(1);
    await sleep(30);
    assert.deepEqual(batches, [], 'the window is still open');
    await sleep(120);
    assert.deepEqual(batches, [[1]]);
    subscription.unsubscribe();
  });

  it('errors the output when an apply fails, and applies nothing after it', async () => {
    const { input, batches, output } = harness(1, 2, (batch) => batch.includes(3));
    const done = lastValueFrom(output, { defaultValue: 'completed' });
    for (let i = 1; i <= 6; i++) input.next(i);
    await assert.rejects(done, /apply failed/);
    input.complete();
    await sleep(20);
    assert.deepEqual(batches, [
      [1, 2],
      [3, 4],
    ]);
  });
});
