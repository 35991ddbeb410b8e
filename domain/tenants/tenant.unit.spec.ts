import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  MAX_VERIFIED_NUMBERS,
  refuseDestination,
  tenantDecider,
  withStart,
  type TenantEvent,
} from './index.ts';

const id = 't1';
const started: TenantEvent = { type: 'tenant.started.v1', data: { tenantId: id, status: 'trial' } };
const verified = (mobile: string): TenantEvent => ({
  type: 'tenant.number-verified.v1',
  data: { tenantId: id, mobile },
});

describe('tenantDecider', () => {
  it('a tenant without a stream starts as the deployment says, recorded on its first change', () => {
    given(tenantDecider, [])
      .when({ type: 'ActivateTenant', data: { tenantId: id, startAs: 'trial' } })
      .then([started, { type: 'tenant.activated.v1', data: { tenantId: id } }]);
    given(tenantDecider, [])
      .when({ type: 'ActivateTenant', data: { tenantId: id, startAs: 'active' } })
      .then([{ type: 'tenant.started.v1', data: { tenantId: id, status: 'active' } }]);
  });

  it('suspends once, with its reason', () => {
    const suspended: TenantEvent = {
      type: 'tenant.suspended.v1',
      data: { tenantId: id, reason: 'pumping' },
    };
    given(tenantDecider, [started])
      .when({
        type: 'SuspendTenant',
        data: { tenantId: id, startAs: 'trial', reason: ' pumping ' },
      })
      .then([suspended]);
    given(tenantDecider, [started, suspended])
      .when({ type: 'SuspendTenant', data: { tenantId: id, startAs: 'trial' } })
      .thenNothing();
  });

  it('refuses impossible limits naming the field', () => {
    given(tenantDecider, [started])
      .when({
        type: 'SetTenantLimits',
        data: { tenantId: id, startAs: 'trial', limits: { countries: ['+86'] } },
      })
      .thenThrows('VALIDATION_FAILED', { field: 'countries' });
    given(tenantDecider, [started])
      .when({
        type: 'SetTenantLimits',
        data: { tenantId: id, startAs: 'trial', limits: { maxPerDay: 0 } },
      })
      .thenThrows('VALIDATION_FAILED', { field: 'maxPerDay' });
  });

  it(`verifies at most ${MAX_VERIFIED_NUMBERS} numbers, each once`, () => {
    const full = [started, ...['1', '2', '3', '4', '5'].map((n) => verified(`+861380000000${n}`))];
    const send = (mobile: string) => ({
      type: 'SendNumberCode' as const,
      data: {
        tenantId: id,
        startAs: 'trial' as const,
        mobile,
        codeHash: 'h',
        expiresAt: '2030-01-01T00:00:00.000Z',
        messageId: 'm',
      },
    });
    given(tenantDecider, full).when(send('+8613800000009')).thenThrows('VERIFIED_NUMBERS_FULL');
    given(tenantDecider, [started, verified('+8613800000001')])
      .when(send('+8613800000001'))
      .thenThrows('NUMBER_ALREADY_VERIFIED');
  });

  it('a right code verifies; a wrong one costs an attempt; an expired one is refused', () => {
    const sent: TenantEvent = {
      type: 'tenant.number-code-sent.v1',
      data: {
        tenantId: id,
        mobile: '+8613800000001',
        codeHash: 'right',
        expiresAt: '2030-01-01T00:00:00.000Z',
        messageId: 'm',
      },
    };
    const check = (codeHash: string, now = '2029-01-01T00:00:00.000Z') => ({
      type: 'CheckNumberCode' as const,
      data: { tenantId: id, startAs: 'trial' as const, mobile: '+8613800000001', codeHash, now },
    });
    given(tenantDecider, [started, sent])
      .when(check('right'))
      .then([verified('+8613800000001')]);
    given(tenantDecider, [started, sent])
      .when(check('wrong'))
      .then([
        {
          type: 'tenant.number-check-failed.v1',
          data: { tenantId: id, mobile: '+8613800000001', attemptsLeft: 4 },
        },
      ]);
    given(tenantDecider, [started, sent])
      .when(check('right', '2031-01-01T00:00:00.000Z'))
      .thenThrows('VERIFICATION_EXPIRED');
  });
});

describe('refuseDestination', () => {
  const trial = withStart(
    aggregate(tenantDecider, [started, verified('+8613800000001')]),
    id,
    'trial',
  );
  const active = { ...trial, status: 'active' as const };

  it('suspended first, then countries, then trial numbers', () => {
    assert.equal(
      refuseDestination({ ...trial, status: 'suspended' }, '+8613800000001', '86', ['86'])?.code,
      'TENANT_SUSPENDED',
    );
    assert.equal(
      refuseDestination(trial, '+12025550123', '1', ['86'])?.code,
      'DESTINATION_NOT_ALLOWED',
    );
    assert.equal(
      refuseDestination(trial, '+8613800000002', '86', ['86'])?.code,
      'TRIAL_NUMBER_NOT_VERIFIED',
    );
    assert.equal(refuseDestination(trial, '+8613800000001', '86', ['86']), undefined);
    assert.equal(refuseDestination(active, '+8613800000002', '86', ['86']), undefined);
    assert.equal(
      refuseDestination(active, '+12025550123', undefined, ['86'])?.code,
      'DESTINATION_NOT_ALLOWED',
    );
  });
});
