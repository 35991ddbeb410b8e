import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../errors.ts';
import {
  resolvePolicy,
  validatePolicy,
  type RatePolicy,
  type VerificationSettings,
} from './index.ts';

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DomainError, String(e));
    assert.equal(e.code, 'POLICY_INVALID');
    assert.ok(e.message.startsWith(String(e.details?.field)), e.message);
    return e.details?.field;
  }
  assert.fail('expected POLICY_INVALID');
}

const ok: VerificationSettings = { codeLength: 6, ttlSeconds: 300, maxAttempts: 5 };

describe('resolvePolicy', () => {
  it('gives verification templates the default limits and code settings', () => {
    assert.deepEqual(resolvePolicy('verification', {}), {
      policy: { mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 } },
      verification: { codeLength: 6, ttlSeconds: 300, maxAttempts: 5 },
    });
  });

  it('keeps given values over defaults, field by field', () => {
    assert.deepEqual(
      resolvePolicy('verification', {
        policy: { mobile: { maxPerHour: 3 }, tenant: { maxPerDay: 1000 } },
        verification: { codeLength: 4 },
      }),
      {
        policy: {
          mobile: { minIntervalSeconds: 60, maxPerHour: 3, maxPerDay: 10 },
          tenant: { maxPerDay: 1000 },
        },
        verification: { codeLength: 4, ttlSeconds: 300, maxAttempts: 5 },
      },
    );
  });

  it('never lets a default make a given limit impossible', () => {
    assert.deepEqual(
      resolvePolicy('verification', { policy: { mobile: { maxPerDay: 3 } } }).policy,
      {
        mobile: { minIntervalSeconds: 60, maxPerHour: 3, maxPerDay: 3 },
      },
    );
    assert.deepEqual(
      resolvePolicy('verification', { policy: { mobile: { maxPerHour: 20 } } }).policy,
      {
        mobile: { minIntervalSeconds: 60, maxPerHour: 20, maxPerDay: 20 },
      },
    );
  });

  it('gives notification and marketing templates nothing beyond what is given', () => {
    assert.deepEqual(resolvePolicy('notification', {}), { policy: {} });
    assert.deepEqual(resolvePolicy('marketing', { policy: { template: { maxPerDay: 50 } } }), {
      policy: { template: { maxPerDay: 50 } },
    });
  });

  it('drops undefined keys', () => {
    const { policy } = resolvePolicy('notification', {
      policy: { mobile: { maxPerDay: 4, maxPerHour: undefined } },
    });
    assert.deepEqual(Object.keys(policy.mobile ?? {}), ['maxPerDay']);
  });

  it('rejects verification settings on other kinds', () => {
    assert.equal(
      fieldOf(() => resolvePolicy('marketing', { verification: { codeLength: 6 } })),
      'verification',
    );
  });

  it('rejects the caller’s own impossible values even where defaults exist', () => {
    assert.equal(
      fieldOf(() => resolvePolicy('verification', { policy: { mobile: { maxPerHour: -1 } } })),
      'mobile.maxPerHour',
    );
    assert.equal(
      fieldOf(() => resolvePolicy('verification', { verification: { codeLength: 9 } })),
      'verification.codeLength',
    );
  });
});

describe('validatePolicy names the impossible field', () => {
  const cases: Array<[string, RatePolicy, VerificationSettings | undefined, string]> = [
    [
      'negative interval',
      { mobile: { minIntervalSeconds: -1 } },
      undefined,
      'mobile.minIntervalSeconds',
    ],
    ['negative hourly', { mobile: { maxPerHour: -5 } }, undefined, 'mobile.maxPerHour'],
    ['fractional daily', { mobile: { maxPerDay: 2.5 } }, undefined, 'mobile.maxPerDay'],
    [
      'string daily',
      { mobile: { maxPerDay: '3' as unknown as number } },
      undefined,
      'mobile.maxPerDay',
    ],
    ['zero hourly', { mobile: { maxPerHour: 0 } }, undefined, 'mobile.maxPerHour'],
    ['zero template daily', { template: { maxPerDay: 0 } }, undefined, 'template.maxPerDay'],
    ['negative tenant daily', { tenant: { maxPerDay: -1 } }, undefined, 'tenant.maxPerDay'],
    [
      'hourly above daily',
      { mobile: { maxPerHour: 11, maxPerDay: 10 } },
      undefined,
      'mobile.maxPerHour',
    ],
    [
      'interval above a day',
      { mobile: { minIntervalSeconds: 86_401 } },
      undefined,
      'mobile.minIntervalSeconds',
    ],
    [
      'unknown limit',
      { mobile: { maxPerMinute: 1 } } as RatePolicy,
      undefined,
      'mobile.maxPerMinute',
    ],
    ['unknown scope', { region: { maxPerDay: 1 } } as RatePolicy, undefined, 'region'],
    ['code too short', {}, { ...ok, codeLength: 3 }, 'verification.codeLength'],
    ['code too long', {}, { ...ok, codeLength: 9 }, 'verification.codeLength'],
    ['zero ttl', {}, { ...ok, ttlSeconds: 0 }, 'verification.ttlSeconds'],
    ['zero attempts', {}, { ...ok, maxAttempts: 0 }, 'verification.maxAttempts'],
    ['eleven attempts', {}, { ...ok, maxAttempts: 11 }, 'verification.maxAttempts'],
  ];
  for (const [name, policy, verification, field] of cases) {
    it(`${name} → ${field}`, () => {
      assert.equal(
        fieldOf(() => validatePolicy(policy, verification)),
        field,
      );
    });
  }

  it('accepts possible policies, including a zero interval and equal hourly and daily', () => {
    assert.doesNotThrow(() =>
      validatePolicy(
        {
          mobile: { minIntervalSeconds: 0, maxPerHour: 10, maxPerDay: 10 },
          tenant: { maxPerDay: 1 },
        },
        { codeLength: 4, ttlSeconds: 86_400, maxAttempts: 1 },
      ),
    );
    assert.doesNotThrow(() => validatePolicy({ mobile: { minIntervalSeconds: 86_400 } }));
  });
});
