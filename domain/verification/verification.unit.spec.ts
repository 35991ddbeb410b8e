import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  checkOutcomeErrors,
  checkVerification,
  digestMobile,
  verificationDecider as decider,
  verificationStream,
  type VerificationEvent,
  type VerificationIssued,
} from './index.ts';

const issued: VerificationIssued = {
  type: 'verification.issued.v1',
  data: {
    verificationId: 'v1',
    messageId: 'm1',
    templateCode: 'LOGIN_CODE',
    codeHash: 'hash-of-123456',
    expiresAt: '2025-01-31T08:05:00Z',
    maxAttempts: 3,
  },
};
const before = '2025-01-31T08:01:00Z';
const wrongOnce = (left: number): VerificationEvent => ({
  type: 'verification.check-failed.v1',
  data: { verificationId: 'v1', attemptsLeft: left },
});
const verified: VerificationEvent = {
  type: 'verification.verified.v1',
  data: { verificationId: 'v1' },
};

describe('Verification decider', () => {
  it('issues a code', () => {
    given(decider).when({ type: 'Issue', data: issued.data }).then([issued]);
  });

  it('a new issue replaces the previous code with fresh attempts', () => {
    const reissued: VerificationIssued = {
      type: 'verification.issued.v1',
      data: { ...issued.data, verificationId: 'v2', codeHash: 'hash-of-654321' },
    };
    const state = aggregate(decider, [issued, wrongOnce(2), wrongOnce(1), wrongOnce(0), reissued]);
    assert.equal(checkVerification(state, 'hash-of-123456', before).outcome, 'wrong');
    assert.equal(checkVerification(state, 'hash-of-654321', before).outcome, 'valid');
    assert.ok(state.exists && state.attemptsLeft === 3);
  });

  it('rejects an issue with a bad expiry or attempts', () => {
    given(decider)
      .when({ type: 'Issue', data: { ...issued.data, expiresAt: 'tomorrow' } })
      .thenThrows('VALIDATION_FAILED', { field: 'expiresAt' });
    given(decider)
      .when({ type: 'Issue', data: { ...issued.data, maxAttempts: 0 } })
      .thenThrows('VALIDATION_FAILED', { field: 'maxAttempts' });
  });

  it('a right code verifies', () => {
    given(decider, [issued])
      .when({ type: 'Check', data: { codeHash: 'hash-of-123456', now: before } })
      .then([verified]);
    assert.deepEqual(
      checkVerification(aggregate(decider, [issued]), 'hash-of-123456', new Date(before)),
      {
        events: [verified],
        outcome: 'valid',
        attemptsLeft: 3,
      },
    );
  });

  it('a wrong code records the attempt and says how many are left', () => {
    given(decider, [issued])
      .when({ type: 'Check', data: { codeHash: 'nope', now: before } })
      .then([wrongOnce(2)]);
    assert.deepEqual(
      checkVerification(aggregate(decider, [issued, wrongOnce(2)]), 'hash-of-12345', before),
      {
        events: [wrongOnce(1)],
        outcome: 'wrong',
        attemptsLeft: 1,
      },
    );
  });

  it('after the last wrong attempt, even the right code is exhausted', () => {
    const last = checkVerification(
      aggregate(decider, [issued, wrongOnce(2), wrongOnce(1)]),
      'x',
      before,
    );
    assert.deepEqual(last, { events: [wrongOnce(0)], outcome: 'wrong', attemptsLeft: 0 });
    const state = aggregate(decider, [issued, wrongOnce(2), wrongOnce(1), wrongOnce(0)]);
    assert.deepEqual(checkVerification(state, 'hash-of-123456', before), {
      events: [],
      outcome: 'exhausted',
      attemptsLeft: 0,
    });
    given(decider, [issued, wrongOnce(2), wrongOnce(1), wrongOnce(0)])
      .when({ type: 'Check', data: { codeHash: 'hash-of-123456', now: before } })
      .thenNothing();
  });

  it('at or past expiry the code is expired', () => {
    const state = aggregate(decider, [issued]);
    assert.equal(
      checkVerification(state, 'hash-of-123456', '2025-01-31T08:05:00Z').outcome,
      'expired',
    );
    assert.equal(
      checkVerification(state, 'hash-of-123456', '2025-01-31T09:00:00+08:00').outcome,
      'valid',
    );
    assert.deepEqual(
      checkVerification(state, 'hash-of-123456', new Date('2025-02-01T00:00:00Z')).events,
      [],
    );
  });

  it('a used code is used, and no code at all is none', () => {
    assert.equal(
      checkVerification(aggregate(decider, [issued, verified]), 'hash-of-123456', before).outcome,
      'used',
    );
    assert.deepEqual(checkVerification(decider.initialState(), 'h', before), {
      events: [],
      outcome: 'none',
      attemptsLeft: 0,
    });
  });

  it('rejects an unreadable clock', () => {
    given(decider, [issued])
      .when({ type: 'Check', data: { codeHash: 'h', now: 'later' } })
      .thenThrows('VALIDATION_FAILED', { field: 'now' });
  });

  it('hashes of different lengths never match', () => {
    assert.equal(
      checkVerification(aggregate(decider, [issued]), 'hash-of-1234567', before).outcome,
      'wrong',
    );
    assert.equal(checkVerification(aggregate(decider, [issued]), '', before).outcome, 'wrong');
  });

  it('maps refusals to catalogue codes and names streams without the number', () => {
    assert.equal(checkOutcomeErrors.wrong, 'VERIFICATION_CODE_WRONG');
    assert.equal(checkOutcomeErrors.exhausted, 'VERIFICATION_ATTEMPTS_EXHAUSTED');
    const digest = digestMobile('+8613800138000', 'pepper');
    assert.match(digest, /^[0-9a-f]{32}$/);
    assert.notEqual(digest, digestMobile('+8613800138001', 'pepper'));
    assert.notEqual(digest, digestMobile('+8613800138000', 'other'));
    assert.equal(verificationStream('LOGIN_CODE', digest), `verification-LOGIN_CODE-${digest}`);
  });
});
