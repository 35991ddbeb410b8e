// planBatch: how a group-committed batch is checked against the stream
// versions known before the lock (absent: no stream) and against the appends
// before it in the same batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WrongExpectedVersionError,
  type ExpectedVersion,
} from '../../platform/eventStore/index.ts';
import { planBatch } from '../../platform/eventStore/mysql.ts';

const row = (n: number) => ({
  eventId: `e${n}`,
  type: 't',
  data: '{}',
  metadata: '{}',
  recordedAt: new Date(0),
});
const append = (streamId: string, expected: ExpectedVersion, rows = 1) => ({
  streamId,
  expected,
  rows: Array.from({ length: rows }, (_, i) => row(i)),
});

test('rows are numbered per stream from its known version, appends of one stream one after another', () => {
  const plan = planBatch(
    [append('a', 'no_stream', 2), append('b', 4), append('a', 1), append('b', 'any', 3)],
    new Map([['b', 4]]),
  );
  assert.deepEqual(
    plan.rows.map((r) => [r.streamId, r.version]),
    [
      ['a', 0],
      ['a', 1],
      ['b', 5],
      ['a', 2],
      ['b', 6],
      ['b', 7],
      ['b', 8],
    ],
  );
  // the offset of each append's last row in the batch: its position once the batch has one
  assert.deepEqual(plan.outcomes, [
    { nextExpectedVersion: 1, offset: 2 },
    { nextExpectedVersion: 5, offset: 3 },
    { nextExpectedVersion: 2, offset: 4 },
    { nextExpectedVersion: 8, offset: 7 },
  ]);
});

test('an append whose expectation fails is refused alone, with what it met, and writes no row', () => {
  const plan = planBatch(
    [
      append('a', 'no_stream'),
      append('a', 'no_stream'), // a exists now, at 0
      append('b', 3), // b is at 4
      append('c', 'stream_exists'), // c does not exist
      append('d', 0),
    ],
    new Map([
      ['b', 4],
      ['d', 0],
    ]),
  );
  const [first, second, third, fourth, fifth] = plan.outcomes;
  assert.deepEqual(first, { nextExpectedVersion: 0, offset: 1 });
  assert.ok(second instanceof WrongExpectedVersionError);
  assert.equal(second.actual, 0);
  assert.ok(third instanceof WrongExpectedVersionError);
  assert.equal(third.actual, 4);
  assert.ok(fourth instanceof WrongExpectedVersionError);
  assert.equal(fourth.actual, 'no_stream');
  assert.deepEqual(fifth, { nextExpectedVersion: 1, offset: 2 });
  assert.deepEqual(
    plan.rows.map((r) => [r.streamId, r.version]),
    [
      ['a', 0],
      ['d', 1],
    ],
  );
});
