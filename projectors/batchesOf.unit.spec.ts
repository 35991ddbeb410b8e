// The projection runner's batching: a batch per window opened by its first
// event, or once full, in order, the rest on completion; and no timer at all
// while nothing comes (rxjs bufferTime ticked every window, idle or not).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subject } from 'rxjs';
import { batchesOf } from './runner.ts';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('batchesOf', () => {
  it('keeps no timer while idle, and one only while a window is open', async () => {
    const input = new Subject<number>();
    const batches: number[][] = [];
    const before = timers();
    const subscription = input.pipe(batchesOf(20, 100)).subscribe((b) => batches.push(b));
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

  it('emits a full batch at once, in order, and the rest on completion', () => {
    const before = timers();
    const input = new Subject<number>();
    const batches: number[][] = [];
    let completed = false;
    input.pipe(batchesOf(60_000, 3)).subscribe({
      next: (b) => batches.push(b),
      complete: () => (completed = true),
    });
    for (let i = 1; i <= 7; i++) input.next(i);
    assert.deepEqual(batches, [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    input.complete();
    assert.deepEqual(batches, [[1, 2, 3], [4, 5, 6], [7]]);
    assert.ok(completed);
    assert.equal(timers(), before, 'no window left open');
  });
});
