import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelayMs } from './index.ts';

describe('callback retry schedule', () => {
  it('doubles from the base (±20 %) up to the max', () => {
    for (let i = 0; i < 50; i++) {
      const first = retryDelayMs(1, 1000, 60_000);
      assert.ok(first >= 800 && first <= 1200, String(first));
      const fourth = retryDelayMs(4, 1000, 60_000);
      assert.ok(fourth >= 6400 && fourth <= 9600, String(fourth));
      assert.ok(retryDelayMs(40, 1000, 60_000) <= 72_000);
    }
  });
});
