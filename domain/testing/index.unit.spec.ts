import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Decider, Event } from '../decider.ts';
import { aggregate } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { DeciderSpecificationError, given } from './index.ts';

type Added = Event<'added', { n: number; note?: string }>;
type Add = { type: 'Add'; data: { n: number; note?: string } };
const counter: Decider<Add, number, Added> = {
  initialState: () => 0,
  evolve: (s, e) => s + e.data.n,
  decide: (c, s) => {
    if (s + c.data.n > 10) throw new DomainError('TOO_MUCH', 'over 10', { total: s + c.data.n });
    return c.data.n === 0 ? [] : [{ type: 'added', data: { n: c.data.n, note: c.data.note } }];
  },
};

describe('given/when/then', () => {
  it('passes on the expected events and folds the given ones', () => {
    assert.equal(aggregate(counter, [{ type: 'added', data: { n: 2 } }]), 2);
    given(counter, [{ type: 'added', data: { n: 9 } }])
      .when({ type: 'Add', data: { n: 1, note: 'x' } })
      .then([{ type: 'added', data: { n: 1, note: 'x' } }]);
    given(counter)
      .when({ type: 'Add', data: { n: 0 } })
      .thenNothing();
  });

  it('fails on other events, including a key that is present but undefined', () => {
    assert.throws(
      () =>
        given(counter)
          .when({ type: 'Add', data: { n: 1, note: 'x' } })
          .then([{ type: 'added', data: { n: 2, note: 'x' } }]),
      DeciderSpecificationError,
    );
    assert.throws(
      () =>
        given(counter)
          .when({ type: 'Add', data: { n: 1 } })
          .then([{ type: 'added', data: { n: 1 } }]),
      DeciderSpecificationError,
    );
  });

  it('thenThrows checks the code and the given details', () => {
    const error = given(counter, [{ type: 'added', data: { n: 10 } }])
      .when({ type: 'Add', data: { n: 1 } })
      .thenThrows('TOO_MUCH', { total: 11 });
    assert.equal(error.message, 'over 10');
    const when = given(counter, [{ type: 'added', data: { n: 10 } }]).when({
      type: 'Add',
      data: { n: 1 },
    });
    assert.throws(() => when.thenThrows('OTHER'), DeciderSpecificationError);
    assert.throws(() => when.thenThrows('TOO_MUCH', { total: 12 }), DeciderSpecificationError);
    assert.throws(
      () =>
        given(counter)
          .when({ type: 'Add', data: { n: 1 } })
          .thenThrows('TOO_MUCH'),
      DeciderSpecificationError,
    );
  });
});
